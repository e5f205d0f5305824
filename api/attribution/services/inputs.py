"""Every read attribution's services make of other apps' rows, through the ORM (any database).

The orders, campaigns and contacts apps own these rows; attribution reads them only here (and in
SQL in :mod:`.inputs_pg`), each function saying which columns it needs, so that a change in those
apps meets attribution in one place. The rows written back (credits, RFM scores, rewards) are
attribution's own.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from django.db.models import F, Q, QuerySet, Sum

from api.attribution import conf, engine
from api.attribution.models import AttributionCredit
from api.attribution.services.facts import (
    EXCLUDED_STATUSES,
    STATED_KIND,
    Facts,
    engine_settings,
    lookback_us,
    touch_channel,
)
from api.campaigns.models import Campaign, Coupon, Touchpoint
from api.contacts.enums import LifecycleStage
from api.contacts.models import Contact
from api.orders.enums import OrderStatus
from api.orders.models import Feedback, Order, OrderLine, Refund

_CHUNK = 5000  # ids per ``IN (...)`` list: well under SQLite's limit of bound parameters


# --- counted orders and the facts of attribution ----------------------------------------------------


def counted_orders() -> QuerySet[Order]:
    """Orders that attribution, LTV and RFM count (not cancelled, not samples).

    Columns: ``orders_order.status``, ``is_sample``.
    """
    return Order.objects.exclude(status__in=EXCLUDED_STATUSES).filter(is_sample=False)


def code_campaigns(codes: set[str]) -> dict[str, tuple[int, str]]:
    """``{CODE: (campaign_id, channel)}`` for campaign tracking codes and coupon codes.

    Columns: ``campaigns_campaign.code``, ``id``, ``channel``; ``campaigns_coupon.code``, ``campaign_id``.
    """
    codes = {c.strip().upper() for c in codes if c and c.strip()}
    if not codes:
        return {}
    found = {code: (pk, channel) for code, pk, channel in
             Campaign.objects.filter(code__in=codes).values_list("code", "pk", "channel")}
    for code, pk, channel in Coupon.objects.filter(code__in=codes - set(found)).values_list(
            "code", "campaign_id", "campaign__channel"):
        found[code] = (pk, channel)
    return found


def stated_sources(contact_ids: Sequence[int] | None, contact_range: tuple[int, int] | None = None
                   ) -> dict[int, str]:
    """A stated source recorded as a touchpoint (capture forms): the latest one that says something stands.

    For ``contact_ids``, or the contacts ``lo <= id <= hi`` of ``contact_range``, or everyone.
    Columns: ``campaigns_touchpoint.contact_id``, ``kind``, ``details``, ``channel``, ``occurred_at``,
    ``campaign_id``; ``campaigns_campaign.channel``.
    """
    qs = Touchpoint.objects.filter(kind=STATED_KIND)
    if contact_ids is not None:
        qs = qs.filter(contact_id__in=contact_ids)
    if contact_range is not None:
        qs = qs.filter(contact_id__gte=contact_range[0], contact_id__lte=contact_range[1])
    stated: dict[int, str] = {}
    for contact_id, details, campaign_channel, channel in (
            qs.order_by("occurred_at", "pk").values_list("contact_id", "details", "campaign__channel", "channel")):
        text = (details or {}).get("self_reported_source") or campaign_channel or channel
        stated[contact_id] = engine.normalize_source(str(text)) or stated.get(contact_id, "")
    return stated


def read_facts(contact_ids: Sequence[int] | None) -> Facts:
    """Every counted order of ``contact_ids`` (or of everyone) and its window of touches, through the ORM.

    The portable twin of :func:`api.attribution.services.inputs_pg.read_facts` (same shapes, same rows:
    ``tests/attribution/test_full_recompute.py`` compares them); the windows are filtered here.
    Columns: ``orders_order`` id, contact_id, created_at, total_xaf, delivery_fee_xaf, campaign_code,
    coupon_code, self_reported_source, status, is_sample; ``contacts_contact.self_reported_source``;
    ``orders_orderline`` order_id, unit_cost_xaf, quantity; ``orders_refund`` id, order_id, amount_xaf,
    delivery_fee_kept, created_at; ``campaigns_touchpoint`` id, contact_id, campaign_id, channel, kind,
    occurred_at; ``campaigns_campaign.channel``.
    """
    to_us = engine.to_us
    fields = ("pk", "contact_id", "created_at", "total_xaf", "delivery_fee_xaf", "campaign_code", "coupon_code",
              "self_reported_source", "contact__self_reported_source")
    counted = counted_orders() if contact_ids is None else counted_orders().filter(contact_id__in=contact_ids)
    rows = list(counted.order_by().values_list(*fields))
    order_ids = [r[0] for r in rows]
    costs: dict[int, int] = defaultdict(int)
    refunds: dict[int, list[tuple]] = defaultdict(list)
    for start in range(0, len(order_ids), _CHUNK):
        chunk = order_ids[start:start + _CHUNK]
        for order_id, cost in (OrderLine.objects.filter(order_id__in=chunk).values("order_id")
                               .annotate(cost=Sum(F("unit_cost_xaf") * F("quantity")))
                               .values_list("order_id", "cost").order_by()):
            costs[order_id] = int(cost or 0)
        for pk, order_id, amount, fee_kept, created_at in Refund.objects.filter(order_id__in=chunk).values_list(
                "pk", "order_id", "amount_xaf", "delivery_fee_kept", "created_at").order_by():
            refunds[order_id].append((to_us(created_at), pk, amount, fee_kept))
    orders = sorted(((pk, contact_id, to_us(created_at), total, fee, campaign_code, coupon_code, said,
                      contact_said, costs.get(pk, 0))
                     for pk, contact_id, created_at, total, fee, campaign_code, coupon_code, said, contact_said
                     in rows), key=lambda o: (o[1], o[2], o[0]))
    windows = _windows(orders, rows, contact_ids) if orders else {}
    return Facts(orders, windows, refunds, stated_sources(contact_ids))


def _windows(orders: list[tuple], rows: list[tuple], contact_ids: Sequence[int] | None) -> dict[int, list[tuple]]:
    """The tracked touches in each order's lookback window (see :mod:`.facts`), read per contact and
    filtered here."""
    lookback = engine_settings().lookback
    earliest = min(r[2] for r in rows) - lookback
    latest = max(r[2] for r in rows)
    touchpoints = Touchpoint.objects.filter(occurred_at__gte=earliest, occurred_at__lte=latest)
    if contact_ids is not None:
        touchpoints = touchpoints.filter(contact_id__in=contact_ids)
    touches: dict[int, list[tuple]] = defaultdict(list)
    for pk, contact_id, campaign_id, campaign_channel, channel, kind, occurred_at in (
            touchpoints.exclude(kind=STATED_KIND)
            .values_list("pk", "contact_id", "campaign_id", "campaign__channel", "channel", "kind", "occurred_at")
            .order_by()):
        touches[contact_id].append((engine.to_us(occurred_at), pk, touch_channel(campaign_channel, kind, channel),
                                    campaign_id))
    span = lookback_us()
    windows: dict[int, list[tuple]] = {}
    for contact_touches in touches.values():
        contact_touches.sort(key=lambda t: (t[0], t[1]))
    for order in orders:
        placed = order[2]
        window = [t for t in touches.get(order[1], ()) if placed - span <= t[0] <= placed]
        if window:
            windows[order[0]] = window
    return windows


# --- what a batch of contacts rewrites ---------------------------------------------------------------


def order_ids_of(contact_ids: Sequence[int]) -> list[int]:
    """Every order of ``contact_ids`` (counted or not: their old credits go). Columns: ``orders_order``
    id, contact_id."""
    return list(Order.objects.filter(contact_id__in=contact_ids).values_list("pk", flat=True).order_by())


def orders_moved_away(contact_ids: Sequence[int]) -> list[int]:
    """Orders a merge moved from ``contact_ids`` to their survivor: every order of the survivors
    (``merged_into``, which points at the final survivor) not under a contact of ``contact_ids``.

    Columns: ``contacts_contact`` id, merged_into_id; ``orders_order`` id, contact_id.
    """
    moved_to = Contact.objects.filter(pk__in=contact_ids, merged_into__isnull=False).values("merged_into_id")
    return list(Order.objects.filter(contact_id__in=moved_to).exclude(contact_id__in=contact_ids)
                .values_list("pk", flat=True).order_by())


def dirty_contacts(since: datetime | None) -> list[int]:
    """Contacts with an order, a refund or a touchpoint written after ``since`` (all with an order or a
    credit when None), in id order.

    Columns: ``orders_order`` contact_id, created_at, updated_at; ``orders_refund`` order_id, created_at;
    ``campaigns_touchpoint`` contact_id, created_at, updated_at.
    """
    if since is None:
        return sorted(set(Order.objects.values_list("contact_id", flat=True).distinct())
                      | set(AttributionCredit.objects.values_list("contact_id", flat=True).distinct()))
    ids: set[int] = set()
    ids.update(Order.objects.filter(Q(updated_at__gt=since) | Q(created_at__gt=since))
               .values_list("contact_id", flat=True).distinct())
    ids.update(Refund.objects.filter(created_at__gt=since).values_list("order__contact_id", flat=True).distinct())
    touched = set(Touchpoint.objects.filter(Q(updated_at__gt=since) | Q(created_at__gt=since))
                  .values_list("contact_id", flat=True).distinct())
    if touched:
        # Only contacts with an order need new credits; the others have nothing to attribute yet.
        touched_list = list(touched)
        for start in range(0, len(touched_list), _CHUNK):
            ids.update(Order.objects.filter(contact_id__in=touched_list[start:start + _CHUNK])
                       .values_list("contact_id", flat=True).distinct())
    return sorted(ids)


# --- RFM -------------------------------------------------------------------------------------------


def rfm_order_rows(since: datetime, until: datetime) -> Iterator[tuple[int, datetime, int, int, int]]:
    """``(contact_id, created_at, total_xaf, delivery_fee_xaf, refunded_xaf)`` of every counted order
    placed in ``[since, until]``, streamed. Columns: those of ``orders_order`` named, status, is_sample."""
    return (counted_orders().filter(created_at__gte=since, created_at__lte=until)
            .values_list("contact_id", "created_at", "total_xaf", "delivery_fee_xaf", "refunded_xaf")
            .iterator(chunk_size=_CHUNK))


# --- lifecycle and referrals -----------------------------------------------------------------------

# An order is delivered when its status says so or it has a delivery time (a delivered order later
# refunded keeps its ``delivered_at``).
_DELIVERED = Q(status=OrderStatus.DELIVERED) | Q(delivered_at__isnull=False)


def contact_stage(contact_id: int) -> tuple[str, bool] | None:
    """``(lifecycle_stage, lifecycle_stage_locked)`` of the contact, None if it does not exist.
    Columns: ``contacts_contact`` id, lifecycle_stage, lifecycle_stage_locked."""
    row = Contact.objects.filter(pk=contact_id).values_list("lifecycle_stage", "lifecycle_stage_locked").first()
    return (row[0], row[1]) if row else None


def referrer_of(contact_id: int) -> int | None:
    """Who referred the contact, if anyone. Columns: ``contacts_contact`` id, referred_by_id."""
    return Contact.objects.filter(pk=contact_id).values_list("referred_by_id", flat=True).first()


def delivered_order_count(contact_id: int) -> int:
    """The contact's delivered orders that are not samples and not cancelled.
    Columns: ``orders_order`` contact_id, is_sample, status, delivered_at."""
    return Order.objects.filter(contact_id=contact_id, is_sample=False).filter(_DELIVERED).exclude(
        status=OrderStatus.CANCELLED).count()


def shared_referral_link(contact_id: int) -> bool:
    """The contact shared their referral link: someone arrived with it. Columns: ``contacts_contact.referred_by_id``."""
    return Contact.objects.filter(referred_by_id=contact_id).exists()


def brought_a_buyer(contact_id: int) -> bool:
    """Someone the contact referred has a delivered order (not a sample).
    Columns: ``contacts_contact`` id, referred_by_id; ``orders_order`` contact_id, is_sample, status, delivered_at."""
    return Order.objects.filter(contact__referred_by_id=contact_id, is_sample=False).filter(_DELIVERED).exists()


def gave_good_feedback(contact_id: int) -> bool:
    """The contact rated an order at least ``AMBASSADOR_MIN_RATING``.
    Columns: ``orders_feedback`` contact_id, rating."""
    return Feedback.objects.filter(contact_id=contact_id, rating__gte=conf.AMBASSADOR_MIN_RATING).exists()


def silent_contacts(cutoff: datetime, limit: int) -> list[int]:
    """Up to ``limit`` live contacts, created before ``cutoff``, neither inactive already nor staff-locked,
    with no order, no touchpoint and no sign of life since ``cutoff``.

    Columns: ``contacts_contact`` id, created_at, lifecycle_stage, lifecycle_stage_locked, merged_into_id,
    erased_at, last_seen_at; ``orders_order`` contact_id, created_at; ``campaigns_touchpoint`` contact_id,
    occurred_at.
    """
    candidates = Contact.objects.filter(created_at__lt=cutoff, lifecycle_stage_locked=False,
                                        merged_into__isnull=True, erased_at__isnull=True).exclude(
        lifecycle_stage=LifecycleStage.INACTIVE)
    recent_orders = Order.objects.filter(created_at__gte=cutoff).values("contact_id")
    recent_replies = Touchpoint.objects.filter(occurred_at__gte=cutoff).values("contact_id")
    return list(candidates.exclude(pk__in=recent_orders).exclude(pk__in=recent_replies)
                .exclude(last_seen_at__gte=cutoff).values_list("pk", flat=True)[:limit])


def referral_order(order_id: int) -> dict[str, Any] | None:
    """What a referral reward needs of an order: ``contact_id``, ``referred_by_id`` (of its contact),
    ``delivered`` and ``is_sample``; None if it does not exist.
    Columns: ``orders_order`` id, contact_id, status, delivered_at, is_sample; ``contacts_contact.referred_by_id``."""
    order = Order.objects.filter(pk=order_id).values("contact_id", "contact__referred_by_id", "status",
                                                     "delivered_at", "is_sample").first()
    if order is None:
        return None
    return {"contact_id": order["contact_id"], "referred_by_id": order["contact__referred_by_id"],
            "delivered": order["status"] == OrderStatus.DELIVERED or order["delivered_at"] is not None,
            "is_sample": order["is_sample"]}


def first_delivered_order(contact_id: int) -> int | None:
    """The contact's first delivered order that is not a sample (by delivery time, then creation, then id).
    Columns: ``orders_order`` id, contact_id, is_sample, status, delivered_at, created_at."""
    return (Order.objects.filter(contact_id=contact_id, is_sample=False).filter(_DELIVERED)
            .order_by("delivered_at", "created_at", "pk").values_list("pk", flat=True).first())
