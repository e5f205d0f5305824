"""Costs of campaigns: manual costs staff type, and the ``samples`` cost of every sample order.

``ads`` costs come from the Facebook spend (``facebook_costs``); both synced kinds are the
provider's or the order's figure and are refused to staff edits (409 ``cost_synced``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal

from django.db import transaction

from api.campaigns import conf
from api.campaigns.enums import CampaignChannel, CampaignObjective, CampaignStatus, CostKind, CostSource
from api.campaigns.models import Campaign, CampaignCost
from api.campaigns.selectors import campaign_resolve_code, normalize_code
from api.campaigns.services._shared import UNSET, Unset, invalid
from api.campaigns.services.money import to_xaf
from api.common.businesstime import business_localtime
from api.common.errors import ConflictError
from api.orders.enums import OrderEventKind
from api.orders.events import OrderEvent

# The order events after which a sample order's cost may have appeared, changed or gone.
_SAMPLE_COST_EVENTS = (OrderEventKind.CREATED, OrderEventKind.STATUS_CHANGED, OrderEventKind.PAID)


def _amount_from(amount_xaf: int | None, amount: Decimal | str | None, currency: str) -> tuple[int, Decimal | None]:
    if amount_xaf is None and amount is None:
        raise invalid("amount_xaf", "Give amount_xaf, or amount and currency.", "required")
    if amount is not None:
        original = Decimal(str(amount))
        xaf = to_xaf(original, currency)
    else:
        original, xaf = None, int(amount_xaf or 0)
    if xaf < 0:
        raise invalid("amount_xaf", "A cost cannot be negative.", "min_value")
    return xaf, original


def cost_create(*, campaign: Campaign, day: date, kind: str, amount_xaf: int | None = None,
                amount: Decimal | str | None = None, currency: str = "XAF", note: str = "") -> CampaignCost:
    """Record a manual cost. Either ``amount_xaf``, or ``amount`` in ``currency`` converted with ``to_xaf``."""
    if kind not in CostKind.values:
        raise invalid("kind", f"{kind!r} is not one of {', '.join(CostKind.values)}.", "invalid_choice")
    xaf, original = _amount_from(amount_xaf, amount, currency)
    return CampaignCost.objects.create(campaign=campaign, day=day, kind=kind, source=CostSource.MANUAL,
                                       amount_xaf=xaf, original_amount=original,
                                       currency=(currency or "XAF").upper(), note=note or "")


def cost_update(*, cost: CampaignCost, day: date | Unset = UNSET, kind: str | Unset = UNSET,
                amount_xaf: int | None | Unset = UNSET, amount: Decimal | str | None | Unset = UNSET,
                currency: str | Unset = UNSET, note: str | Unset = UNSET,
                campaign: Campaign | Unset = UNSET) -> CampaignCost:
    """Change the given fields of a manual cost. A synced cost is the provider's figure: 409.

    A new ``amount_xaf``, or ``amount`` in ``currency`` (default: the cost's), is converted like on
    creation; ``currency`` alone changes nothing.
    """
    if cost.source != CostSource.MANUAL:
        raise ConflictError("Synced costs come from the provider and cannot be edited.", code="cost_synced")
    if kind is not UNSET and kind not in CostKind.values:
        raise invalid("kind", f"{kind!r} is not a cost kind.", "invalid_choice")
    if amount is not UNSET or amount_xaf is not UNSET:
        unit = (currency if currency is not UNSET else "") or cost.currency
        xaf, original = _amount_from(None if amount_xaf is UNSET else amount_xaf,
                                     None if amount is UNSET else amount, unit)
        cost.amount_xaf, cost.original_amount, cost.currency = xaf, original, unit.upper()
    if day is not UNSET:
        cost.day = day
    if kind is not UNSET:
        cost.kind = kind
    if note is not UNSET:
        cost.note = note
    if campaign is not UNSET:
        cost.campaign = campaign
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
    ``SAMPLES`` campaign; the day is ``occurred_at``'s business day. A later event with another
    cost updates the row; an order that is no longer a sample removes it. Idempotent (the row is
    locked while it is compared).
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
        day = business_localtime(occurred_at).date()
        if existing is None:
            return CampaignCost.objects.create(campaign=campaign, day=day, kind=CostKind.SAMPLES,
                                               source=CostSource.SYNCED, amount_xaf=int(sample_cost_xaf),
                                               external_key=key, note=f"Sample order #{order_id}")
        if (existing.campaign_id, existing.amount_xaf) != (campaign.pk, int(sample_cost_xaf)):
            existing.campaign, existing.amount_xaf = campaign, int(sample_cost_xaf)
            existing.save()
        return existing


def messaging_cost_set(*, campaign_code: str, day: date,
                       total: Callable[[], tuple[int, str]]) -> CampaignCost | None:
    """Set what a messaging provider charged on ``day`` for the messages of campaign ``campaign_code``.

    ``total()`` returns ``(amount_xaf, note)``: nurture sums WhatsApp's per-message prices of the
    billable messages of the campaign's sequences and broadcasts, recomputed from its rows each time,
    so a replayed status never counts twice. It is called with the campaign row locked, so two
    recomputes of one campaign run one after the other and the second sees the first's rows
    (PostgreSQL reads committed rows per statement). One ``other`` cost per campaign, day and code
    (synced, key ``whatsapp:<code>``; staff cannot edit it); a total of 0 removes it. An unknown code
    is ignored (None).
    """
    campaign = campaign_resolve_code(campaign_code)
    if campaign is None:
        return None
    key = f"whatsapp:{normalize_code(campaign_code)}"[:100]
    with transaction.atomic():
        Campaign.objects.select_for_update().filter(pk=campaign.pk).exists()
        amount_xaf, note = total()
        existing = CampaignCost.objects.select_for_update().filter(
            campaign=campaign, day=day, kind=CostKind.OTHER, source=CostSource.SYNCED, external_key=key).first()
        if amount_xaf <= 0:
            if existing is not None:
                existing.delete()
            return None
        if existing is None:
            return CampaignCost.objects.create(campaign=campaign, day=day, kind=CostKind.OTHER,
                                               source=CostSource.SYNCED, amount_xaf=int(amount_xaf),
                                               external_key=key, note=note[:300])
        if (existing.amount_xaf, existing.note) != (int(amount_xaf), note[:300]):
            existing.amount_xaf, existing.note = int(amount_xaf), note[:300]
            existing.save()
        return existing


def order_event_listener(event: OrderEvent) -> None:
    """Order listener (registered in ``ready()``): keeps the ``samples`` cost of sample orders.

    Idempotent (``sample_cost_record`` is), so a redelivered event changes nothing.
    """
    if event.kind not in _SAMPLE_COST_EVENTS:
        return
    sample_cost_record(order_id=event.order_id, is_sample=bool(event.is_sample),
                       sample_cost_xaf=int(event.sample_cost_xaf or 0), occurred_at=event.occurred_at,
                       campaign_code=event.campaign_code or "", coupon_code=event.coupon_code or "")
