"""Meta webhooks: Messenger and WhatsApp Cloud API events become contacts and touchpoints.

The signature is checked by the view; here each event is matched to a campaign (a ``ref``, an ad
id, a code in the text) and recorded once, keyed by its provider id.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from django.db import transaction

from api.campaigns.enums import TouchpointKind
from api.campaigns.selectors import (
    campaign_find_code_in_text,
    campaign_for_facebook_ids,
    campaign_resolve_code,
    touchpoint_exists,
)
from api.campaigns.services.touchpoints import touchpoint_record
from api.common.errors import ApplicationError
from api.contacts.enums import Channel
from api.contacts.services import contact_upsert
from integrations.meta import parse_messenger, parse_whatsapp

logger = logging.getLogger(__name__)


def _new_contact_fill(result: Any, *, identity: dict[str, Any], **profile: Any) -> None:
    # Profile values from a webhook only fill a new contact; they never overwrite what staff typed.
    values = {k: v for k, v in profile.items() if v}
    if result.created and values:
        contact_upsert(**identity, **values)


def _messenger_event_process(event: Any) -> str:
    if event.kind not in ("message", "referral", "postback") or not event.psid:
        return "ignored"
    provider_event_id = f"messenger:{event.event_id}"
    if touchpoint_exists(provider_event_id):
        return "duplicate"
    campaign = campaign_resolve_code(event.ref) if event.ref else None
    if campaign is None and event.ad_id:
        campaign = campaign_for_facebook_ids(ad_id=event.ad_id)
    has_referral = bool(event.ref or event.ad_id or event.source)
    if has_referral and event.is_ctm_ad:
        kind = TouchpointKind.AD_REFERRAL
    elif has_referral:
        kind = TouchpointKind.LINK_CLICK  # an m.me link (source SHORTLINK) or a QR code
    else:
        kind = TouchpointKind.INBOUND_MESSAGE
    result = contact_upsert(facebook_psid=event.psid)
    _new_contact_fill(result, identity={"facebook_psid": event.psid},
                      acquisition_channel=campaign.channel if campaign else Channel.MESSENGER)
    details = {"event": event.kind, "ref": event.ref, "ad_id": event.ad_id, "source": event.source,
               "ctm_ad": bool(event.is_ctm_ad), "text": (event.text or "")[:500] or None}
    touchpoint = touchpoint_record(
        contact_id=result.contact.pk, channel=Channel.MESSENGER, kind=kind, campaign_id=campaign.pk if campaign else None,
        campaign_code=None if campaign else event.ref, occurred_at=event.timestamp,
        provider_event_id=provider_event_id, details={k: v for k, v in details.items() if v is not None})
    return "recorded" if touchpoint else "duplicate"


def _whatsapp_event_process(event: Any) -> str:
    if event.kind != "message" or not event.phone_e164:
        return "ignored"  # delivery statuses belong to outbound messages (nurture)
    provider_event_id = f"whatsapp:{event.event_id}"
    if touchpoint_exists(provider_event_id):
        return "duplicate"
    referral = event.referral or {}
    campaign = None
    if referral.get("source_id"):
        campaign = campaign_for_facebook_ids(ad_id=str(referral["source_id"]))
    if campaign is None:
        campaign = campaign_find_code_in_text(event.text)
    if campaign is None and referral:
        campaign = campaign_find_code_in_text(f"{referral.get('headline', '')} {referral.get('body', '')}")
    result = contact_upsert(whatsapp=event.phone_e164)
    _new_contact_fill(result, identity={"whatsapp": event.phone_e164}, name=event.profile_name,
                      acquisition_channel=campaign.channel if campaign else Channel.WHATSAPP)
    kind = TouchpointKind.AD_REFERRAL if event.is_ctwa_ad else TouchpointKind.INBOUND_MESSAGE
    details: dict[str, Any] = {"text": (event.text or "")[:500] or None, "ctwa_ad": bool(event.is_ctwa_ad)}
    if referral:
        details["referral"] = {k: referral[k] for k in ("source_id", "source_type", "source_url", "ctwa_clid",
                                                        "headline") if k in referral}
    touchpoint = touchpoint_record(
        contact_id=result.contact.pk, channel=Channel.WHATSAPP, kind=kind, campaign_id=campaign.pk if campaign else None,
        occurred_at=event.timestamp, provider_event_id=provider_event_id,
        details={k: v for k, v in details.items() if v is not None})
    return "recorded" if touchpoint else "duplicate"


def meta_webhook_process(*, payload: Mapping[str, Any]) -> dict[str, int]:
    """Process a verified Meta webhook (Messenger ``page`` or ``whatsapp_business_account``).

    Each event is processed once: its provider id (``messenger:<mid>``, ``whatsapp:<wamid>``) is the
    touchpoint's unique ``provider_event_id``, so a redelivery counts as ``duplicate`` and writes
    nothing. An event refused by a business rule (e.g. an identity conflict) is logged and counted
    as ``failed`` inside its own savepoint, so one odd event does not make Meta redeliver the batch.
    The caller has checked the signature.
    """
    counts = {"recorded": 0, "duplicate": 0, "ignored": 0, "failed": 0}
    kind = payload.get("object")
    handlers: list[tuple[Any, Callable[[Any], str]]] = []
    if kind == "page":
        handlers = [(e, _messenger_event_process) for e in parse_messenger(payload)]
    elif kind == "whatsapp_business_account":
        handlers = [(e, _whatsapp_event_process) for e in parse_whatsapp(payload)]
    for event, handle in handlers:
        try:
            with transaction.atomic():
                counts[handle(event)] += 1
        except ApplicationError as exc:
            logger.warning("meta webhook: event %s refused: %s", event.event_id, exc.code)
            counts["failed"] += 1
    return counts
