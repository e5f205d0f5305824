"""Writes of the campaigns app: campaigns, coupons, costs, touchpoints, captures, clicks, Facebook syncs
and Meta webhooks.

Every function validates before writing and raises ``ApplicationError`` (or a subclass) with a
field path; writes that belong together run in one transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, TypeVar

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from api.campaigns import conf
from api.campaigns.enums import (
    CampaignChannel,
    CampaignObjective,
    CampaignStatus,
    CostKind,
    CostSource,
    TouchpointKind,
)
from api.campaigns.models import (
    Campaign,
    CampaignCost,
    Coupon,
    FacebookAdDay,
    FacebookCampaign,
    LinkClick,
    PageAudienceDay,
    SyncCursor,
    Touchpoint,
)
from api.campaigns.selectors import (
    CODE_RE,
    campaign_find_code_in_text,
    campaign_for_facebook_ids,
    campaign_resolve_code,
    normalize_code,
    touchpoint_exists,
)
from api.common.errors import ApplicationError, ConflictError, NotFoundError, field_error

logger = logging.getLogger(__name__)

T = TypeVar("T")
ADS_COST_KEY = "facebook_ads"
_TOUCHPOINT_CHANNELS = {value for value, _ in Touchpoint._meta.get_field("channel").choices or []}
_CAMPAIGN_FIELDS = ("name", "code", "channel", "objective", "status", "starts_on", "ends_on", "budget_xaf",
                    "facebook_campaign_ids", "facebook_ad_ids", "landing_url", "notes")


def _invalid(field_name: str | None, message: str, code: str = "invalid") -> ApplicationError:
    return ApplicationError(message, code="validation_error", errors=[field_error(field_name, message, code)])


# --- money ---------------------------------------------------------------------------------------


def to_xaf(amount: Decimal | str | int, currency: str) -> int:
    """Convert a provider amount to whole XAF with ``Decimal`` (never float), rounding half up.

    XAF passes through; EUR uses the fixed peg of 655.957; any other currency needs a rate in
    ``CURRENCY_RATES_XAF``: a missing rate is a 400 ``currency_rate_missing``, never a silent zero.
    """
    try:
        value = amount if isinstance(amount, Decimal) else Decimal(str(amount).strip())
    except InvalidOperation:
        raise _invalid("amount", f"{amount!r} is not a decimal amount.") from None
    if not value.is_finite():
        raise _invalid("amount", "The amount must be a finite number.")
    code = (currency or "").strip().upper()
    if code == "XAF":
        rate = Decimal(1)
    elif code == "EUR":
        rate = conf.EUR_XAF_PEG
    elif code in conf.CURRENCY_RATES_XAF:
        rate = conf.CURRENCY_RATES_XAF[code]
    else:
        raise ApplicationError(
            f"No exchange rate to XAF for {code or 'an empty currency'}: set CURRENCY_RATES_XAF "
            f"(e.g. \"USD=600.5\").", code="currency_rate_missing",
            errors=[field_error("currency", f"No rate configured for {code}.", "currency_rate_missing")])
    return int((value * rate).quantize(Decimal(1), rounding=ROUND_HALF_UP))


# --- campaigns and coupons --------------------------------------------------------------------------


def _check_code(value: str, field_name: str = "code") -> str:
    code = normalize_code(value)
    if not CODE_RE.match(code):
        raise _invalid(field_name, "A code has 3 to 32 letters, digits, '_' or '-'.")
    return code


def _check_campaign_values(values: dict[str, Any]) -> None:
    choices = {"channel": CampaignChannel.values, "objective": CampaignObjective.values,
               "status": CampaignStatus.values}
    for name, allowed in choices.items():
        if name in values and values[name] not in allowed:
            raise _invalid(name, f"{values[name]!r} is not one of {', '.join(allowed)}.", "invalid_choice")
    if values.get("starts_on") and values.get("ends_on") and values["ends_on"] < values["starts_on"]:
        raise _invalid("ends_on", "The campaign cannot end before it starts.")
    for name in ("facebook_campaign_ids", "facebook_ad_ids"):
        ids = values.get(name)
        if ids is not None:
            if not isinstance(ids, list) or not all(str(x).isdigit() for x in ids):
                raise _invalid(name, "A list of numeric Facebook ids.")
            values[name] = sorted({str(x) for x in ids})


def campaign_create(*, name: str, code: str, channel: str, objective: str = CampaignObjective.CAPTURE,
                    status: str = CampaignStatus.DRAFT, starts_on: date | None = None,
                    ends_on: date | None = None, budget_xaf: int | None = None,
                    facebook_campaign_ids: Sequence[str] = (), facebook_ad_ids: Sequence[str] = (),
                    landing_url: str = "", notes: str = "") -> Campaign:
    """Create a campaign. ``code`` is upper-cased and must be unique among campaign and coupon codes (409).

    Listed Facebook campaign ids are claimed at once (409 when another campaign claims one) and
    their already-synced spend becomes ``ads`` costs of this campaign.
    """
    values: dict[str, Any] = {
        "name": name, "code": _check_code(code), "channel": channel, "objective": objective, "status": status,
        "starts_on": starts_on, "ends_on": ends_on, "budget_xaf": budget_xaf,
        "facebook_campaign_ids": list(facebook_campaign_ids), "facebook_ad_ids": list(facebook_ad_ids),
        "landing_url": landing_url or "", "notes": notes or "",
    }
    _check_campaign_values(values)
    _check_code_free(values["code"])
    with transaction.atomic():
        campaign = Campaign(**values)
        campaign.full_clean(exclude=["code"])
        try:
            with transaction.atomic():
                campaign.save()
        except IntegrityError:
            raise _code_taken(values["code"]) from None
        _facebook_claims_apply(campaign, values["facebook_campaign_ids"])
    return campaign


def campaign_update(*, campaign: Campaign, **changes: Any) -> Campaign:
    """Change some fields of a campaign (same rules as ``campaign_create``); unknown fields are refused."""
    unknown = set(changes) - set(_CAMPAIGN_FIELDS)
    if unknown:
        raise _invalid(sorted(unknown)[0], "This field cannot be changed.")
    if "code" in changes:
        changes["code"] = _check_code(changes["code"])
        if changes["code"] != campaign.code:
            _check_code_free(changes["code"])
    merged = {**{f: getattr(campaign, f) for f in _CAMPAIGN_FIELDS}, **changes}
    _check_campaign_values(merged)
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
        for name in changes:
            setattr(campaign, name, merged[name])
        campaign.full_clean(exclude=["code"])
        try:
            with transaction.atomic():
                campaign.save()
        except IntegrityError:
            raise _code_taken(merged["code"]) from None
        if "facebook_campaign_ids" in changes:
            _facebook_claims_apply(campaign, merged["facebook_campaign_ids"])
    return campaign


def campaign_delete(*, campaign: Campaign) -> None:
    """Delete a campaign that has no synced cost and no touchpoint (409 otherwise: archive it instead)."""
    if campaign.touchpoints.exists() or campaign.costs.filter(source=CostSource.SYNCED).exists():
        raise ConflictError("This campaign has touchpoints or synced costs; set its status to ended instead.",
                            code="campaign_in_use")
    with transaction.atomic():
        FacebookCampaign.objects.filter(campaign=campaign).update(campaign=None)
        campaign.delete()


def _code_taken(code: str) -> ConflictError:
    return ConflictError(f"The code {code} is already used.", code="code_taken",
                         errors=[field_error("code", "Already used by a campaign or a coupon.", "unique")])


def _check_code_free(code: str) -> None:
    if Campaign.objects.filter(code=code).exists() or Coupon.objects.filter(code=code).exists():
        raise _code_taken(code)


def coupon_create(*, campaign: Campaign, code: str, description: str = "", active: bool = True) -> Coupon:
    """Create a coupon of ``campaign``; its code is unique among campaign and coupon codes (409)."""
    normalized = _check_code(code)
    _check_code_free(normalized)
    try:
        with transaction.atomic():
            return Coupon.objects.create(campaign=campaign, code=normalized, description=description or "",
                                         active=active)
    except IntegrityError:
        raise _code_taken(normalized) from None


def coupon_update(*, coupon: Coupon, description: str | None = None, active: bool | None = None) -> Coupon:
    """Change a coupon's description or switch it off (its code never changes: it is printed)."""
    if description is not None:
        coupon.description = description
    if active is not None:
        coupon.active = active
    coupon.save()
    return coupon


# --- costs ---------------------------------------------------------------------------------------------


def _amount_from(amount_xaf: int | None, amount: Decimal | str | None, currency: str) -> tuple[int, Decimal | None]:
    if amount_xaf is None and amount is None:
        raise _invalid("amount_xaf", "Give amount_xaf, or amount and currency.", "required")
    if amount is not None:
        original = Decimal(str(amount))
        xaf = to_xaf(original, currency)
    else:
        original, xaf = None, int(amount_xaf or 0)
    if xaf < 0:
        raise _invalid("amount_xaf", "A cost cannot be negative.", "min_value")
    return xaf, original


def cost_create(*, campaign: Campaign, day: date, kind: str, amount_xaf: int | None = None,
                amount: Decimal | str | None = None, currency: str = "XAF", note: str = "") -> CampaignCost:
    """Record a manual cost. Either ``amount_xaf``, or ``amount`` in ``currency`` converted with ``to_xaf``."""
    if kind not in CostKind.values:
        raise _invalid("kind", f"{kind!r} is not one of {', '.join(CostKind.values)}.", "invalid_choice")
    xaf, original = _amount_from(amount_xaf, amount, currency)
    return CampaignCost.objects.create(campaign=campaign, day=day, kind=kind, source=CostSource.MANUAL,
                                       amount_xaf=xaf, original_amount=original,
                                       currency=(currency or "XAF").upper(), note=note or "")


def cost_update(*, cost: CampaignCost, **changes: Any) -> CampaignCost:
    """Change a manual cost (day, kind, amount, note). A synced cost is the provider's figure: 409."""
    if cost.source != CostSource.MANUAL:
        raise ConflictError("Synced costs come from the provider and cannot be edited.", code="cost_synced")
    if "kind" in changes and changes["kind"] not in CostKind.values:
        raise _invalid("kind", f"{changes['kind']!r} is not a cost kind.", "invalid_choice")
    if "amount" in changes or "amount_xaf" in changes:
        currency = changes.get("currency") or cost.currency
        xaf, original = _amount_from(changes.get("amount_xaf"), changes.get("amount"), currency)
        cost.amount_xaf, cost.original_amount, cost.currency = xaf, original, currency.upper()
    for name in ("day", "kind", "note", "campaign"):
        if name in changes:
            setattr(cost, name, changes[name])
    cost.save()
    return cost


def cost_delete(*, cost: CampaignCost) -> None:
    """Delete a manual cost; synced costs are refused (409): the next sync would bring them back."""
    if cost.source != CostSource.MANUAL:
        raise ConflictError("Synced costs come from the provider and cannot be deleted.", code="cost_synced")
    cost.delete()


def _samples_campaign() -> Campaign:
    campaign, _ = Campaign.objects.get_or_create(
        code=normalize_code(conf.SAMPLES_FALLBACK_CAMPAIGN_CODE),
        defaults={"name": "Samples outside any campaign", "channel": CampaignChannel.TASTING,
                  "objective": CampaignObjective.CONVERT, "status": CampaignStatus.ACTIVE})
    return campaign


def sample_cost_record(*, order_id: int, is_sample: bool, sample_cost_xaf: int, occurred_at: datetime,
                       campaign_code: str = "", coupon_code: str = "") -> CampaignCost | None:
    """Record the cost of a sample order as a ``samples`` cost, once per order (key ``order:<id>``).

    The campaign is the order's campaign code, else its coupon's campaign, else the fallback
    ``SAMPLES`` campaign. A later event with another cost updates the row; an order that is no
    longer a sample removes it. Idempotent.
    """
    key = f"order:{order_id}"
    with transaction.atomic():
        existing = CampaignCost.objects.select_for_update().filter(
            kind=CostKind.SAMPLES, source=CostSource.SYNCED, external_key=key).first()
        if not is_sample or sample_cost_xaf <= 0:
            if existing is not None:
                existing.delete()
            return None
        campaign = (campaign_resolve_code(campaign_code) or campaign_resolve_code(coupon_code)
                    or _samples_campaign())
        day = timezone.localdate(occurred_at)
        if existing is None:
            return CampaignCost.objects.create(campaign=campaign, day=day, kind=CostKind.SAMPLES,
                                               source=CostSource.SYNCED, amount_xaf=int(sample_cost_xaf),
                                               external_key=key, note=f"Sample order #{order_id}")
        if (existing.campaign_id, existing.amount_xaf) != (campaign.pk, int(sample_cost_xaf)):
            existing.campaign, existing.amount_xaf = campaign, int(sample_cost_xaf)
            existing.save()
        return existing


def order_event_listener(event: Any) -> None:
    """Order listener (registered in ``ready()``): keeps the ``samples`` cost of sample orders."""
    if event.kind not in ("created", "status_changed", "paid"):
        return
    sample_cost_record(order_id=event.order_id, is_sample=bool(event.is_sample),
                       sample_cost_xaf=int(event.sample_cost_xaf or 0), occurred_at=event.occurred_at,
                       campaign_code=event.campaign_code or "", coupon_code=event.coupon_code or "")


# --- touchpoints -------------------------------------------------------------------------------------


def touchpoint_record(*, contact_id: int, channel: str, kind: str, campaign_id: int | None = None,
                      campaign_code: str | None = None, occurred_at: datetime | None = None,
                      provider_event_id: str | None = None,
                      details: Mapping[str, Any] | None = None) -> Touchpoint | None:
    """Record one touch of a contact and return it, or None when ``provider_event_id`` is already stored.

    - ``channel`` is a contacts ``Channel`` value, ``web`` or ``other``; ``kind`` a ``TouchpointKind``.
    - The campaign is ``campaign_id`` (must exist) or else the campaign named by ``campaign_code``
      (a tracking or coupon code); an unknown code is kept in ``details.unknown_code`` rather than
      refused, so a bot start with a mistyped code still records the touch.
    - Replay-safe: the insert runs in a savepoint and the unique ``provider_event_id`` makes a
      concurrent or replayed duplicate return None without changing anything.
    """
    if kind not in TouchpointKind.values:
        raise _invalid("kind", f"{kind!r} is not one of {', '.join(TouchpointKind.values)}.", "invalid_choice")
    if channel not in _TOUCHPOINT_CHANNELS:
        raise _invalid("channel", f"{channel!r} is not a touchpoint channel.", "invalid_choice")
    from api.contacts.models import Contact

    found = Contact.objects.filter(pk=contact_id).values_list("pk", "merged_into_id").first()
    if found is None:
        raise _invalid("contact_id", f"No contact #{contact_id}.", "does_not_exist")
    for _hop in range(5):  # a touch of a merged contact belongs to the contact it was merged into
        if found is None or found[1] is None:
            break
        found = Contact.objects.filter(pk=found[1]).values_list("pk", "merged_into_id").first()
    if found is not None:
        contact_id = found[0]
    data = dict(details or {})
    campaign: Campaign | None = None
    if campaign_id is not None:
        campaign = Campaign.objects.filter(pk=campaign_id).first()
        if campaign is None:
            raise _invalid("campaign_id", f"No campaign #{campaign_id}.", "does_not_exist")
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
    """Record several touches at once, all or nothing; an error names the item (``items[3].kind``)."""
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
    contact: Any
    created: bool
    touchpoint: Touchpoint | None
    consents: list[str] = field(default_factory=list)


def capture_submit(*, name: str, phone: str, segment: str, kind: str = TouchpointKind.TASTING_VISIT,
                   campaign_code: str | None = None, answers: Sequence[Mapping[str, str]] = (),
                   self_reported_source: str | None = None, consent_channels: Sequence[str] = ("whatsapp",),
                   city: str | None = None, occurred_at: datetime | None = None,
                   client_event_id: str | None = None, actor: Any = None) -> CaptureResult:
    """A tasting or fair capture in one step: upsert the contact by phone, grant consents, record the visit.

    ``answers`` are the two questions of the stand's form (``[{question, answer}]``, at most two),
    kept on the touchpoint. ``client_event_id`` (a UUID from the stand's tablet) makes a retried
    submission add no second touchpoint. All or nothing.
    """
    if kind not in (TouchpointKind.TASTING_VISIT, TouchpointKind.FAIR_VISIT):
        raise _invalid("kind", "A capture is a tasting_visit or a fair_visit.", "invalid_choice")
    if len(answers) > 2:
        raise _invalid("answers", "The capture form has two questions.", "max_length")
    campaign = None
    if campaign_code:
        campaign = campaign_resolve_code(campaign_code)
        if campaign is None:
            raise _invalid("campaign_code", f"No campaign or coupon has the code {campaign_code}.", "does_not_exist")
    from api.contacts.services import consent_grant, contact_upsert

    with transaction.atomic():
        uses_whatsapp = "whatsapp" in consent_channels
        result = contact_upsert(phone=phone, whatsapp=phone if uses_whatsapp else None, name=name,
                                segment=segment, city=city or None, self_reported_source=self_reported_source or None,
                                actor=actor)
        if result.created:
            channel_name = campaign.channel if campaign else ("tasting" if kind == TouchpointKind.TASTING_VISIT
                                                              else "fair")
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
            contact_id=result.contact.pk, channel="in_person", kind=kind,
            campaign_id=campaign.pk if campaign else None, occurred_at=occurred_at,
            provider_event_id=f"capture:{client_event_id}" if client_event_id else None, details=details)
    return CaptureResult(result.contact, result.created, touchpoint, list(consent_channels))


def link_click_record(*, campaign: Campaign, target: str, ip: str = "", user_agent: str = "",
                      referer: str = "", contact_ref: str | None = None) -> LinkClick:
    """Count a click on ``/r/<code>``. The address is kept only as a keyed hash (per day) to count
    distinct visitors. ``contact_ref`` (a contact's referral code in ``?c=``) also records a
    ``link_click`` touchpoint for that contact.
    """
    now = timezone.now()
    visitor = ""
    if ip:
        key = f"{settings.SECRET_KEY}:{now.date().isoformat()}".encode()
        visitor = hmac.new(key, ip.encode(), hashlib.sha256).hexdigest()
    click = LinkClick.objects.create(campaign=campaign, clicked_at=now, target=target[:20], visitor_hash=visitor,
                                     user_agent=(user_agent or "")[:300], referer=(referer or "")[:300])
    if contact_ref:
        from api.contacts.models import Contact

        contact_id = Contact.objects.filter(referral_code=contact_ref.strip().upper()).values_list(
            "pk", flat=True).first()
        if contact_id is not None:
            touchpoint_record(contact_id=contact_id, channel="web", kind=TouchpointKind.LINK_CLICK,
                              campaign_id=campaign.pk, occurred_at=now, details={"target": target})
    return click


# --- Facebook: mapping and costs ----------------------------------------------------------------------


def _facebook_claims_apply(campaign: Campaign, facebook_ids: Iterable[str]) -> None:
    """Make ``campaign`` claim exactly ``facebook_ids`` (409 if another campaign claims one), then
    recompute the ads costs of every campaign whose claims changed."""
    wanted = {str(x) for x in facebook_ids}
    taken = (FacebookCampaign.objects.filter(facebook_id__in=wanted, campaign__isnull=False)
             .exclude(campaign=campaign).select_related("campaign"))
    for fb in taken:
        owner = fb.campaign.code if fb.campaign is not None else "?"
        raise ConflictError(f"Facebook campaign {fb.facebook_id} is already mapped to {owner}.",
                            code="facebook_campaign_taken",
                            errors=[field_error("facebook_campaign_ids", "Already mapped.", "unique")])
    existing = set(FacebookCampaign.objects.filter(facebook_id__in=wanted).values_list("facebook_id", flat=True))
    FacebookCampaign.objects.bulk_create([FacebookCampaign(facebook_id=x) for x in sorted(wanted - existing)])
    FacebookCampaign.objects.filter(campaign=campaign).exclude(facebook_id__in=wanted).update(campaign=None)
    FacebookCampaign.objects.filter(facebook_id__in=wanted).update(campaign=campaign)
    if sorted(campaign.facebook_campaign_ids or []) != sorted(wanted):
        campaign.facebook_campaign_ids = sorted(wanted)
        campaign.save(update_fields=["facebook_campaign_ids", "updated_at"])
    ads_costs_recompute(campaign_ids={campaign.pk})


def facebook_campaign_map(*, facebook_id: str, campaign: Campaign | None) -> FacebookCampaign:
    """Map a Facebook campaign to ``campaign`` (or unmap it with None); its synced spend moves with it.

    Keeps ``Campaign.facebook_campaign_ids`` of both campaigns in step and recomputes their ``ads``
    costs from the stored daily spend, without calling Facebook.
    """
    with transaction.atomic():
        fb = FacebookCampaign.objects.select_for_update().filter(facebook_id=str(facebook_id)).first()
        if fb is None:
            raise NotFoundError(f"No Facebook campaign {facebook_id} has been synced.")
        previous = fb.campaign
        if previous is not None and campaign is not None and previous.pk == campaign.pk:
            return fb
        fb.campaign = campaign
        fb.save(update_fields=["campaign", "updated_at"])
        touched: set[int] = set()
        for owner, add in ((previous, False), (campaign, True)):
            if owner is None:
                continue
            ids = {str(x) for x in owner.facebook_campaign_ids or []}
            ids = ids | {fb.facebook_id} if add else ids - {fb.facebook_id}
            owner.facebook_campaign_ids = sorted(ids)
            owner.save(update_fields=["facebook_campaign_ids", "updated_at"])
            touched.add(owner.pk)
        ads_costs_recompute(campaign_ids=touched)
    return fb


def ads_costs_recompute(*, campaign_ids: set[int] | None = None, since: date | None = None,
                        until: date | None = None) -> dict[str, int]:
    """Make the synced ``ads`` costs equal the stored daily spend of the mapped Facebook campaigns.

    One row per (campaign, day), key ``facebook_ads``; only rows whose amount differs are written,
    so running it twice changes nothing. Limited to ``campaign_ids`` and ``since..until`` when given.
    """
    spend = FacebookAdDay.objects.filter(facebook_campaign__campaign__isnull=False)
    costs = CampaignCost.objects.filter(kind=CostKind.ADS, source=CostSource.SYNCED, external_key=ADS_COST_KEY)
    if campaign_ids is not None:
        spend = spend.filter(facebook_campaign__campaign_id__in=campaign_ids)
        costs = costs.filter(campaign_id__in=campaign_ids)
    if since is not None:
        spend, costs = spend.filter(day__gte=since), costs.filter(day__gte=since)
    if until is not None:
        spend, costs = spend.filter(day__lte=until), costs.filter(day__lte=until)
    wanted: dict[tuple[int, date], tuple[int, Decimal, str]] = {}
    for agg in (spend.values("facebook_campaign__campaign_id", "day", "currency").order_by()
                .annotate(xaf=Sum("spend_xaf"), original=Sum("spend"))):
        key = (agg["facebook_campaign__campaign_id"], agg["day"])
        xaf, original, _ = wanted.get(key, (0, Decimal(0), agg["currency"]))
        wanted[key] = (xaf + int(agg["xaf"] or 0), original + (agg["original"] or Decimal(0)), agg["currency"])
    existing: dict[tuple[int, date], CampaignCost] = {(c.campaign_id, c.day): c for c in costs}
    created: list[CampaignCost] = []
    updated: list[CampaignCost] = []
    deleted: list[int] = []
    for key, (xaf, original, currency) in wanted.items():
        row = existing.pop(key, None)
        if xaf <= 0:
            if row is not None:
                deleted.append(row.pk)
            continue
        if row is None:
            created.append(CampaignCost(campaign_id=key[0], day=key[1], kind=CostKind.ADS, source=CostSource.SYNCED,
                                        amount_xaf=xaf, original_amount=original, currency=currency,
                                        external_key=ADS_COST_KEY, note="Facebook Ads spend"))
        elif (row.amount_xaf, row.original_amount, row.currency) != (xaf, original, currency):
            row.amount_xaf, row.original_amount, row.currency = xaf, original, currency
            row.updated_at = timezone.now()
            updated.append(row)
    deleted += [row.pk for row in existing.values()]
    CampaignCost.objects.bulk_create(created, batch_size=1000)
    CampaignCost.objects.bulk_update(updated, ["amount_xaf", "original_amount", "currency", "updated_at"],
                                     batch_size=1000)
    CampaignCost.objects.filter(pk__in=deleted).delete()
    return {"created": len(created), "updated": len(updated), "deleted": len(deleted)}


# --- Facebook: syncs --------------------------------------------------------------------------------------


def _graph_client(*, token: str, sleep: Callable[[float], None] | None) -> Any:
    from integrations.meta import GraphClient

    return GraphClient(token, app_secret=settings.META_APP_SECRET or None, base_url=settings.META_GRAPH_BASE_URL,
                       sleep=sleep or time.sleep)


def _paced(call: Callable[[], T], sleep: Callable[[float], None]) -> T:
    """Run ``call``; wait out a short throttle (``FACEBOOK_INLINE_WAIT_MAX_SECONDS``) and try again.

    A longer wait, or too many throttles in a row, re-raises ``RateLimited`` so the task is retried
    later with the provider's ``retry_after``; nothing half-read has been written.
    """
    from integrations.errors import RateLimited

    for attempt in range(conf.FACEBOOK_INLINE_RETRIES + 1):
        try:
            return call()
        except RateLimited as exc:
            if exc.retry_after > conf.FACEBOOK_INLINE_WAIT_MAX_SECONDS or attempt == conf.FACEBOOK_INLINE_RETRIES:
                raise
            logger.info("facebook: throttled, waiting %.0fs before retrying", exc.retry_after)
            sleep(exc.retry_after)
    raise AssertionError("unreachable")  # pragma: no cover


def _cursor_failed(name: str, exc: Exception) -> None:
    # Integration errors never carry a credential (scrubbed by the clients); still keep it short.
    message = f"{exc.__class__.__name__}: {getattr(exc, 'message', str(exc))}"[:500]
    SyncCursor.objects.update_or_create(name=name, defaults={"last_error": message, "last_run_at": timezone.now()})


def _sync_since(cursor: SyncCursor | None, *, until: date, backfill_days: int, resync_days: int) -> date:
    if cursor is None or cursor.synced_until is None:
        return until - timedelta(days=backfill_days - 1)
    return min(cursor.synced_until + timedelta(days=1), until - timedelta(days=resync_days - 1))


def facebook_ads_sync(*, today: date | None = None, client: Any = None,
                      sleep: Callable[[float], None] | None = None) -> dict[str, Any]:
    """Read every campaign of the ad account and its daily spend, and write costs. Idempotent.

    The first run backfills ``FACEBOOK_ADS_BACKFILL_DAYS`` (an async report run for long ranges);
    later runs read from the day after the cursor, and at least the last ``FACEBOOK_ADS_RESYNC_DAYS``
    because Meta restates recent figures. Every Facebook campaign gets a ``FacebookCampaign`` row
    and its days ``FacebookAdDay`` rows; spend of mapped campaigns becomes ``ads`` costs. Only
    changed rows are written, so a second sync with the same figures changes nothing.
    All reads happen before any write; the writes run in one transaction with the cursor row locked.
    Raises ``RateLimited`` (retry later), ``TransientError``, ``PermanentError`` or
    ``ApplicationError`` (missing currency rate); the cursor's ``last_error`` says which.
    """
    account, token = settings.META_AD_ACCOUNT_ID, settings.META_ACCESS_TOKEN
    if not account or not token:
        return {"status": "not_configured"}
    name = f"facebook_ads:{account}"
    today = today or timezone.localdate()
    cursor = SyncCursor.objects.filter(name=name).first()
    since = _sync_since(cursor, until=today, backfill_days=conf.FACEBOOK_ADS_BACKFILL_DAYS,
                        resync_days=conf.FACEBOOK_ADS_RESYNC_DAYS)
    wait = sleep or time.sleep
    try:
        client = client or _graph_client(token=token, sleep=sleep)
        fb_campaigns = _paced(lambda: client.list_campaigns(account), wait)
        rows = _paced(lambda: client.ad_insights_daily(account, since, today), wait)
        converted = [(row, to_xaf(row.spend, row.currency)) for row in rows]
        with transaction.atomic():
            cursor, _ = SyncCursor.objects.get_or_create(name=name)
            cursor = SyncCursor.objects.select_for_update().get(pk=cursor.pk)
            stats = _ads_rows_store(fb_campaigns, converted, since=since, until=today)
            cursor.synced_until = max(today, cursor.synced_until or today)
            cursor.last_run_at = cursor.last_success_at = timezone.now()
            cursor.last_error = ""
            cursor.stats = {**stats, "since": since.isoformat(), "until": today.isoformat(),
                            "http_calls": getattr(client, "request_count", None)}
            cursor.save()
    except Exception as exc:
        _cursor_failed(name, exc)
        raise
    return {"status": "ok", **cursor.stats}


def _ads_rows_store(fb_campaigns: Sequence[Any], rows: Sequence[tuple[Any, int]], *, since: date,
                    until: date) -> dict[str, int]:
    known = {fb.facebook_id: fb for fb in FacebookCampaign.objects.all()}
    names: dict[str, tuple[str, str]] = {c.id: (c.name, c.status) for c in fb_campaigns}
    for row, _ in rows:
        names.setdefault(row.campaign_id, (row.campaign_name, known[row.campaign_id].status
                                           if row.campaign_id in known else ""))
    new_fb, changed_fb = [], []
    for fb_id, (fb_name, fb_status) in names.items():
        fb = known.get(fb_id)
        if fb is None:
            new_fb.append(FacebookCampaign(facebook_id=fb_id, name=fb_name, status=fb_status))
        elif (fb.name, fb.status) != (fb_name, fb_status):
            fb.name, fb.status, fb.updated_at = fb_name, fb_status, timezone.now()
            changed_fb.append(fb)
    FacebookCampaign.objects.bulk_create(new_fb, batch_size=1000)
    FacebookCampaign.objects.bulk_update(changed_fb, ["name", "status", "updated_at"], batch_size=1000)
    fb_ids = dict(FacebookCampaign.objects.values_list("facebook_id", "pk"))

    existing = {(d.facebook_campaign_id, d.day): d
                for d in FacebookAdDay.objects.filter(day__gte=since, day__lte=until)}
    new_days, changed_days = [], []
    for row, xaf in rows:
        values = {"spend": row.spend, "currency": row.currency, "spend_xaf": xaf, "impressions": row.impressions,
                  "reach": row.reach, "clicks": row.clicks, "actions": dict(row.actions)}
        current = existing.get((fb_ids[row.campaign_id], row.day))
        if current is None:
            new_days.append(FacebookAdDay(facebook_campaign_id=fb_ids[row.campaign_id], day=row.day, **values))
        elif any(getattr(current, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(current, k, v)
            current.updated_at = timezone.now()
            changed_days.append(current)
    # The range just read is complete: a day Meta no longer reports (restated to nothing) goes away.
    seen = {(fb_ids[row.campaign_id], row.day) for row, _ in rows}
    gone = [d.pk for key, d in existing.items() if key not in seen]
    FacebookAdDay.objects.filter(pk__in=gone).delete()
    FacebookAdDay.objects.bulk_create(new_days, batch_size=1000)
    FacebookAdDay.objects.bulk_update(changed_days, ["spend", "currency", "spend_xaf", "impressions", "reach",
                                                     "clicks", "actions", "updated_at"], batch_size=1000)
    costs = ads_costs_recompute(since=since, until=until)
    return {"facebook_campaigns_created": len(new_fb), "facebook_campaigns_updated": len(changed_fb),
            "days_created": len(new_days), "days_updated": len(changed_days), "days_deleted": len(gone),
            "costs_created": costs["created"], "costs_updated": costs["updated"], "costs_deleted": costs["deleted"],
            "rows_read": len(rows)}


def facebook_page_sync(*, today: date | None = None, client: Any = None,
                       sleep: Callable[[float], None] | None = None) -> dict[str, Any]:
    """Store the Page's audience metrics (``FACEBOOK_PAGE_METRICS``), one row per metric and day. Idempotent.

    Reads up to yesterday (today is incomplete): the first run backfills ``FACEBOOK_PAGE_BACKFILL_DAYS``,
    later runs re-read the last ``FACEBOOK_PAGE_RESYNC_DAYS``. Only new or changed values are written.
    """
    page_id = settings.META_PAGE_ID
    token = settings.META_PAGE_ACCESS_TOKEN or settings.META_ACCESS_TOKEN
    if not page_id or not token:
        return {"status": "not_configured"}
    name = f"facebook_page:{page_id}"
    until = (today or timezone.localdate()) - timedelta(days=1)
    cursor = SyncCursor.objects.filter(name=name).first()
    since = _sync_since(cursor, until=until, backfill_days=conf.FACEBOOK_PAGE_BACKFILL_DAYS,
                        resync_days=conf.FACEBOOK_PAGE_RESYNC_DAYS)
    try:
        client = client or _graph_client(token=token, sleep=sleep)
        rows = _paced(lambda: client.page_insights(page_id, conf.FACEBOOK_PAGE_METRICS, since=since, until=until),
                      sleep or time.sleep)
        with transaction.atomic():
            cursor, _ = SyncCursor.objects.get_or_create(name=name)
            cursor = SyncCursor.objects.select_for_update().get(pk=cursor.pk)
            existing = {(p.metric, p.day): p for p in
                        PageAudienceDay.objects.filter(page_id=page_id, day__gte=since, day__lte=until)}
            new, changed = [], []
            for row in rows:
                current = existing.get((row.metric, row.day))
                if current is None:
                    new.append(PageAudienceDay(page_id=page_id, metric=row.metric, day=row.day, value=row.value))
                elif current.value != row.value:
                    current.value, current.updated_at = row.value, timezone.now()
                    changed.append(current)
            PageAudienceDay.objects.bulk_create(new, batch_size=1000)
            PageAudienceDay.objects.bulk_update(changed, ["value", "updated_at"], batch_size=1000)
            cursor.synced_until = max(until, cursor.synced_until or until)
            cursor.last_run_at = cursor.last_success_at = timezone.now()
            cursor.last_error = ""
            cursor.stats = {"since": since.isoformat(), "until": until.isoformat(), "created": len(new),
                            "updated": len(changed), "rows_read": len(rows)}
            cursor.save()
    except Exception as exc:
        _cursor_failed(name, exc)
        raise
    return {"status": "ok", **cursor.stats}


# --- Meta webhooks -----------------------------------------------------------------------------------------


def _new_contact_fill(result: Any, *, identity: dict[str, Any], **profile: Any) -> None:
    # Profile values from a webhook only fill a new contact; they never overwrite what staff typed.
    values = {k: v for k, v in profile.items() if v}
    if result.created and values:
        from api.contacts.services import contact_upsert

        contact_upsert(**identity, **values)


def _messenger_event_process(event: Any) -> str:
    if event.kind not in ("message", "referral", "postback") or not event.psid:
        return "ignored"
    provider_event_id = f"messenger:{event.event_id}"
    if touchpoint_exists(provider_event_id):
        return "duplicate"
    from api.contacts.services import contact_upsert

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
                      acquisition_channel=campaign.channel if campaign else "messenger")
    details = {"event": event.kind, "ref": event.ref, "ad_id": event.ad_id, "source": event.source,
               "ctm_ad": bool(event.is_ctm_ad), "text": (event.text or "")[:500] or None}
    touchpoint = touchpoint_record(
        contact_id=result.contact.pk, channel="messenger", kind=kind, campaign_id=campaign.pk if campaign else None,
        campaign_code=None if campaign else event.ref, occurred_at=event.timestamp,
        provider_event_id=provider_event_id, details={k: v for k, v in details.items() if v is not None})
    return "recorded" if touchpoint else "duplicate"


def _whatsapp_event_process(event: Any) -> str:
    if event.kind != "message" or not event.phone_e164:
        return "ignored"  # delivery statuses belong to outbound messages (nurture)
    provider_event_id = f"whatsapp:{event.event_id}"
    if touchpoint_exists(provider_event_id):
        return "duplicate"
    from api.contacts.services import contact_upsert

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
                      acquisition_channel=campaign.channel if campaign else "whatsapp")
    kind = TouchpointKind.AD_REFERRAL if event.is_ctwa_ad else TouchpointKind.INBOUND_MESSAGE
    details: dict[str, Any] = {"text": (event.text or "")[:500] or None, "ctwa_ad": bool(event.is_ctwa_ad)}
    if referral:
        details["referral"] = {k: referral[k] for k in ("source_id", "source_type", "source_url", "ctwa_clid",
                                                        "headline") if k in referral}
    touchpoint = touchpoint_record(
        contact_id=result.contact.pk, channel="whatsapp", kind=kind, campaign_id=campaign.pk if campaign else None,
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
    from integrations.meta import parse_messenger, parse_whatsapp

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
