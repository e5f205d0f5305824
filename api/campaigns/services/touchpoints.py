"""Touchpoints: every touch of a contact with the brand, the fast capture form of a stand, and link clicks."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from api.campaigns.enums import CampaignChannel, TouchpointKind
from api.campaigns.models import Campaign, LinkClick, Touchpoint
from api.campaigns.selectors import campaign_resolve_code, touchpoint_exists
from api.campaigns.services._shared import invalid
from api.common.errors import ApplicationError
from api.contacts.enums import Channel
from api.contacts.selectors import (
    contact_id_by_referral_code,
    contact_id_resolve,
    contact_referrer_id,
    referral_code_check,
)
from api.contacts.services import consent_grant, contact_upsert, referral_code_apply

_TOUCHPOINT_CHANNELS = {value for value, _ in Touchpoint._meta.get_field("channel").choices or []}
#: ``Touchpoint.channel`` of a click on a tracked link (not a messaging channel).
WEB_CHANNEL = "web"


def touchpoint_record(*, contact_id: int, channel: str, kind: str, campaign_id: int | None = None,
                      campaign_code: str | None = None, occurred_at: datetime | None = None,
                      provider_event_id: str | None = None,
                      details: Mapping[str, Any] | None = None) -> Touchpoint | None:
    """Record one touch of a contact and return it, or None when ``provider_event_id`` is already stored.

    - ``channel`` is a contacts ``Channel`` value, ``web`` or ``other``; ``kind`` a ``TouchpointKind``.
    - A touch of a merged contact is recorded on the survivor of its merge chain (``contact_id_resolve``);
      an unknown contact is a 400.
    - The campaign is ``campaign_id`` (must exist) or else the campaign named by ``campaign_code``
      (a tracking or coupon code); an unknown code is kept in ``details.unknown_code`` rather than
      refused, so a bot start with a mistyped code still records the touch.
    - Replay-safe: the insert runs in a savepoint and the unique ``provider_event_id`` makes a
      concurrent or replayed duplicate return None without changing anything.
    """
    if kind not in TouchpointKind.values:
        raise invalid("kind", f"{kind!r} is not one of {', '.join(TouchpointKind.values)}.", "invalid_choice")
    if channel not in _TOUCHPOINT_CHANNELS:
        raise invalid("channel", f"{channel!r} is not a touchpoint channel.", "invalid_choice")
    resolved = contact_id_resolve(contact_id)
    if resolved is None:
        raise invalid("contact_id", f"No contact #{contact_id}.", "does_not_exist")
    contact_id = resolved
    data = dict(details or {})
    campaign: Campaign | None = None
    if campaign_id is not None:
        campaign = Campaign.objects.filter(pk=campaign_id).first()
        if campaign is None:
            raise invalid("campaign_id", f"No campaign #{campaign_id}.", "does_not_exist")
    elif campaign_code:
        campaign = campaign_resolve_code(campaign_code)
        if campaign is None:
            data["unknown_code"] = str(campaign_code)[:64]
    if provider_event_id and touchpoint_exists(provider_event_id):
        return None
    touchpoint = Touchpoint(contact_id=contact_id, campaign=campaign, channel=channel, kind=kind,
                            occurred_at=occurred_at or timezone.now(), provider_event_id=provider_event_id or None,
                            details=data)
    try:
        with transaction.atomic():
            touchpoint.save()
    except IntegrityError:
        if provider_event_id and touchpoint_exists(provider_event_id):
            return None  # a concurrent delivery of the same event won
        raise
    return touchpoint


def touchpoints_record_bulk(*, items: Sequence[Mapping[str, Any]]) -> list[Touchpoint | None]:
    """Record several touches at once (``touchpoint_record`` arguments each), all or nothing.

    An error names the item (``items[3].kind``); a duplicate ``provider_event_id`` gives None.
    """
    results: list[Touchpoint | None] = []
    with transaction.atomic():
        for index, item in enumerate(items):
            try:
                results.append(touchpoint_record(**item))
            except ApplicationError as exc:
                for error in exc.errors:
                    error["field"] = f"items[{index}].{error['field']}" if error.get("field") else f"items[{index}]"
                exc.message = f"items[{index}]: {exc.message}"
                raise
    return results


@dataclass
class CaptureResult:
    """What a capture did: the contact (new or found by phone), its visit touchpoint, the consents granted."""

    contact: Any
    created: bool
    touchpoint: Touchpoint | None
    consents: list[str] = field(default_factory=list)
    referred_by_id: int | None = None


def capture_submit(*, name: str, phone: str, segment: str, kind: str = TouchpointKind.TASTING_VISIT,
                   campaign_code: str | None = None, answers: Sequence[Mapping[str, str]] = (),
                   self_reported_source: str | None = None,
                   consent_channels: Sequence[str] = (Channel.WHATSAPP,), city: str | None = None,
                   occurred_at: datetime | None = None, client_event_id: str | None = None,
                   referral_code: str | None = None, actor: Any = None) -> CaptureResult:
    """A tasting or fair capture in one step: upsert the contact by phone, grant consents, record the visit.

    ``answers`` are the two questions of the stand's form (``[{question, answer}]``, at most two),
    kept on the touchpoint. ``client_event_id`` (a UUID from the stand's tablet) makes a retried
    submission add no second touchpoint. ``referral_code``: the code of the ambassador who sent the
    visitor, who becomes their referrer (``contacts.services.referral_code_apply``); an unknown code, the
    visitor's own, one of a loop or a visitor already referred by someone else is a 400 naming
    ``referral_code`` with the reason, so that staff can correct it on the spot. All or nothing.
    """
    if kind not in (TouchpointKind.TASTING_VISIT, TouchpointKind.FAIR_VISIT):
        raise invalid("kind", "A capture is a tasting_visit or a fair_visit.", "invalid_choice")
    if len(answers) > 2:
        raise invalid("answers", "The capture form has two questions.", "max_length")
    campaign = None
    if campaign_code:
        campaign = campaign_resolve_code(campaign_code)
        if campaign is None:
            raise invalid("campaign_code", f"No campaign or coupon has the code {campaign_code}.", "does_not_exist")
    referral_code = (referral_code or "").strip()
    if referral_code:
        check = referral_code_check(contact_id=None, code=referral_code)
        if check.refusal is not None:
            raise invalid("referral_code", check.reason, check.refusal)
    with transaction.atomic():
        uses_whatsapp = Channel.WHATSAPP in consent_channels
        result = contact_upsert(phone=phone, whatsapp=phone if uses_whatsapp else None, name=name,
                                segment=segment, city=city or None, self_reported_source=self_reported_source or None,
                                actor=actor)
        if result.created:
            channel_name = campaign.channel if campaign else (
                CampaignChannel.TASTING if kind == TouchpointKind.TASTING_VISIT else CampaignChannel.FAIR)
            contact_upsert(phone=result.contact.phone, acquisition_channel=channel_name)
        where = kind.replace("_", " ") + (f" {campaign.code}" if campaign is not None else "")
        for channel in consent_channels:
            consent_grant(contact_id=result.contact.pk, channel=channel, how=f"capture form at {where}"[:200])
        details: dict[str, Any] = {"answers": [{"question": str(a.get("question", ""))[:200],
                                                "answer": str(a.get("answer", ""))[:500]} for a in answers]}
        if self_reported_source:
            details["self_reported_source"] = self_reported_source[:200]
        if actor is not None and getattr(actor, "pk", None):
            details["captured_by_id"] = actor.pk
        touchpoint = touchpoint_record(
            contact_id=result.contact.pk, channel=Channel.IN_PERSON, kind=kind,
            campaign_id=campaign.pk if campaign else None, occurred_at=occurred_at,
            provider_event_id=f"capture:{client_event_id}" if client_event_id else None, details=details)
        if referral_code:
            check = referral_code_check(contact_id=result.contact.pk, code=referral_code)
            if check.refusal is not None:
                raise invalid("referral_code", check.reason, check.refusal)  # rolls the whole capture back
            referral_code_apply(contact_id=result.contact.pk, code=referral_code, via="fair_capture", actor=actor)
        referred_by_id = contact_referrer_id(result.contact.pk)
    return CaptureResult(result.contact, result.created, touchpoint, list(consent_channels), referred_by_id)


def link_click_record(*, campaign: Campaign, target: str, ip: str = "", user_agent: str = "",
                      referer: str = "", contact_ref: str | None = None) -> LinkClick:
    """Count a click on ``/r/<code>``.

    The address is kept only as a keyed hash (key and day) to count distinct visitors, never in
    clear. ``contact_ref`` (a contact's referral code in ``?c=``) also records a ``link_click``
    touchpoint for that contact; an unknown referral code records only the click.
    """
    now = timezone.now()
    visitor = ""
    if ip:
        key = f"{settings.SECRET_KEY}:{now.date().isoformat()}".encode()
        visitor = hmac.new(key, ip.encode(), hashlib.sha256).hexdigest()
    click = LinkClick.objects.create(campaign=campaign, clicked_at=now, target=target[:20], visitor_hash=visitor,
                                     user_agent=(user_agent or "")[:300], referer=(referer or "")[:300])
    if contact_ref:
        contact_id = contact_id_by_referral_code(contact_ref)
        if contact_id is not None:
            touchpoint_record(contact_id=contact_id, channel=WEB_CHANNEL, kind=TouchpointKind.LINK_CLICK,
                              campaign_id=campaign.pk, occurred_at=now, details={"target": target})
    return click
