"""Every read attribution's services make of other apps' rows, through the ORM (any database).

The orders, campaigns and contacts apps own these rows and publish what other apps may read of them
(``api.orders.facts``, ``api.campaigns.touches`` and ``.selectors``, ``api.contacts.selectors``);
attribution reads them only here (and in SQL in :mod:`.inputs_pg`), through those functions, so that
a change in those apps meets attribution in one place. The rows written back (credits, RFM scores, rewards) are
attribution's own.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Max, Min, QuerySet

from api.attribution import conf, engine
from api.attribution.models import AttributionCredit
from api.attribution.services.facts import Facts, engine_settings
from api.campaigns import selectors as campaigns
from api.campaigns import touches
from api.contacts import selectors as contacts
from api.orders import facts as orders
from api.orders.enums import OrderStatus

_CHUNK = 5000  # ids per ``IN (...)`` list: well under SQLite's limit of bound parameters


# --- counted orders and the facts of attribution ----------------------------------------------------


def counted_orders() -> QuerySet[Any]:
    """Orders that attribution, LTV and RFM count: the orders app's sales (not cancelled, not samples)."""
    return orders.orders_sold()


def code_campaigns(codes: set[str]) -> dict[str, tuple[int, str]]:
    """``{CODE: (campaign_id, channel)}`` for campaign tracking codes and coupon codes."""
    return campaigns.campaigns_by_code(codes=codes)


def stated_sources(contact_ids: Sequence[int] | None, contact_range: tuple[int, int] | None = None
                   ) -> dict[int, str]:
    """A stated source recorded as a touchpoint (capture forms): the latest one that says something stands.

    For ``contact_ids``, or the contacts ``lo <= id <= hi`` of ``contact_range``, or everyone.
    """
    stated: dict[int, str] = {}
    for contact_id, text in touches.stated_sources(contact_ids=contact_ids, contact_range=contact_range):
        stated[contact_id] = engine.normalize_source(text) or stated.get(contact_id, "")
    return stated


def _contact_sources(contact_ids: Sequence[int]) -> dict[int, str]:
    """``{contact_id: self_reported_source}`` of ``contact_ids``, from the contacts app's published relation."""
    found: dict[int, str] = {}
    with connection.cursor() as cursor:
        for start in range(0, len(contact_ids), _CHUNK):
            chunk = list(contact_ids[start:start + _CHUNK])
            marks = ", ".join(["%s"] * len(chunk))
            cursor.execute(f"SELECT c.contact_id, c.self_reported_source FROM {contacts.contact_facts_sql()} c "
                           f"WHERE c.contact_id IN ({marks})", chunk)
            found.update(cursor.fetchall())
    return found


def read_facts(contact_ids: Sequence[int] | None) -> Facts:
    """Every counted order of ``contact_ids`` (or of everyone) and its window of touches, through the ORM.

    The portable twin of :func:`api.attribution.services.inputs_pg.read_facts` (same shapes, same rows:
    ``tests/attribution/test_full_recompute.py`` compares them). The sales, refunds and windows are the
    orders' and campaigns' published reads (``sold_order_facts``, ``refund_facts``, ``touch_windows``).
    """
    to_us = engine.to_us
    ids = sorted(set(contact_ids)) if contact_ids is not None else sorted(orders.contacts_with_orders())
    sales: list[Any] = []
    for start in range(0, len(ids), _CHUNK):  # in contact order: the chunks stay sorted by contact
        sales.extend(orders.sold_order_facts(contact_ids=ids[start:start + _CHUNK]))
    said = _contact_sources(sorted({s.contact_id for s in sales}))
    order_rows = [(s.order_id, s.contact_id, to_us(s.placed_at), s.total_xaf, s.delivery_fee_xaf, s.campaign_code,
                   s.coupon_code, s.self_reported_source, said.get(s.contact_id), s.goods_cost_xaf) for s in sales]
    order_rows.sort(key=lambda o: (o[1], o[2], o[0]))
    refunds: dict[int, list[tuple]] = defaultdict(list)
    for refund in orders.refund_facts(order_ids=[o[0] for o in order_rows]):
        refunds[refund.order_id].append((to_us(refund.refunded_at), refund.refund_id, refund.amount_xaf,
                                         refund.delivery_fee_kept))
    windows: dict[int, list[tuple]] = dict(touches.touch_windows(
        orders=[(o[0], o[1], o[2]) for o in order_rows], lookback=engine_settings().lookback))
    return Facts(order_rows, windows, refunds, stated_sources(contact_ids))


# --- what a batch of contacts rewrites ---------------------------------------------------------------


def order_ids_of(contact_ids: Sequence[int]) -> list[int]:
    """Every order of ``contact_ids`` (counted or not: their old credits go)."""
    return orders.order_ids_of_contacts(contact_ids)


def orders_moved_away(contact_ids: Sequence[int]) -> list[int]:
    """Orders a merge moved from ``contact_ids`` to their survivor: every order of the survivors
    (``merged_into``, which points at the final survivor) not under a contact of ``contact_ids``."""
    moved_to = contacts.contacts_merged_into(contact_ids)
    if not moved_to:
        return []
    return orders.order_ids_of_contacts(moved_to, excluding_contact_ids=contact_ids)


def dirty_contacts(since: datetime | None) -> list[int]:
    """Contacts with an order, a refund or a touchpoint written after ``since`` (all with an order or a
    credit when None), in id order."""
    if since is None:
        return sorted(orders.contacts_with_orders()
                      | set(AttributionCredit.objects.values_list("contact_id", flat=True).distinct()))
    ids = orders.contacts_with_order_changes_since(since)
    touched = sorted(touches.touched_contact_ids_changed_since(since=since))
    if touched:
        # Only contacts with an order need new credits; the others have nothing to attribute yet.
        ids |= orders.contacts_with_orders_among(touched)
    return sorted(ids)


# --- RFM -------------------------------------------------------------------------------------------


def rfm_order_rows(since: datetime, until: datetime) -> Iterator[tuple[int, datetime, int, int, int]]:
    """``(contact_id, created_at, total_xaf, delivery_fee_xaf, refunded_xaf)`` of every counted order
    placed in ``[since, until]``, streamed."""
    return (counted_orders().filter(created_at__gte=since, created_at__lte=until)
            .values_list("contact_id", "created_at", "total_xaf", "delivery_fee_xaf", "refunded_xaf")
            .iterator(chunk_size=_CHUNK))


# --- lifecycle and referrals -----------------------------------------------------------------------


def contact_stage(contact_id: int) -> tuple[str, bool] | None:
    """``(lifecycle_stage, lifecycle_stage_locked)`` of the contact, None if it does not exist."""
    lifecycle = contacts.contact_lifecycle_get(contact_id)
    return None if lifecycle is None else (lifecycle.stage, lifecycle.locked)


def referrer_of(contact_id: int) -> int | None:
    """Who referred the contact, if anyone."""
    return contacts.contact_referrer_id(contact_id)


def delivered_order_count(contact_id: int) -> int:
    """The contact's delivered orders that are not samples and not cancelled."""
    return orders.delivered_order_count(contact_id=contact_id)


def delivery_times(contact_id: int) -> list[datetime]:
    """When each of the contact's delivered orders (those :func:`delivered_order_count` counts) reached them,
    earliest first; orders delivered before delivery times were recorded are left out."""
    times = (orders.orders_delivered().filter(contact_id=contact_id, delivered_at__isnull=False)
             .order_by("delivered_at").values_list("delivered_at", flat=True))
    return [t for t in times if t is not None]


def first_order_placed_since(contact_id: int, since: datetime) -> datetime | None:
    """When the contact first placed an order (any status) at or after ``since``; None if they did not."""
    return (orders.contacts_ordering_since(since).filter(contact_id=contact_id)
            .aggregate(first=Min("created_at"))["first"])


def shared_referral_link(contact_id: int) -> bool:
    """The contact shared their referral link: someone arrived with it."""
    return bool(contacts.contact_ids_referred_by(contact_id))


def brought_a_buyer(contact_id: int) -> bool:
    """Someone the contact referred has a delivered order (not a sample)."""
    return orders.contact_referred_a_buyer(referrer_id=contact_id)


def gave_good_feedback(contact_id: int) -> bool:
    """The contact rated an order at least ``AMBASSADOR_MIN_RATING``."""
    return orders.contact_rated_at_least(contact_id=contact_id, rating=conf.AMBASSADOR_MIN_RATING)


def first_referral_arrival(contact_id: int) -> datetime | None:
    """When the first person arrived with the contact's referral link (the card of the first live contact
    they referred was created); None when nobody did."""
    referred = contacts.contact_ids_referred_by(contact_id)
    if not referred:
        return None
    return contacts.contacts_live().filter(pk__in=referred).aggregate(first=Min("created_at"))["first"]


def first_referred_buyer_delivery(contact_id: int) -> datetime | None:
    """When an order of someone the contact referred first reached them (the fact of :func:`brought_a_buyer`);
    None when no such delivery, or only deliveries made before delivery times were recorded."""
    return orders.contact_referred_buyer_first_delivered_at(referrer_id=contact_id)


def first_good_feedback_at(contact_id: int) -> datetime | None:
    """When the contact first rated an order at least ``AMBASSADOR_MIN_RATING`` (the fact of
    :func:`gave_good_feedback`); None if they never did."""
    return orders.contact_first_rated_at_least_at(contact_id=contact_id, rating=conf.AMBASSADOR_MIN_RATING)


#: One touch as the lifecycle rules read it (campaigns' published shape).
TouchFact = touches.TouchFact


def contact_stage_for_update(contact_id: int) -> tuple[str, bool] | None:
    """``(lifecycle_stage, lifecycle_stage_locked)`` of a live contact, its row locked until the caller's
    transaction ends (so that two moves of one contact do not cross); None when it is merged away, erased
    or missing."""
    return (contacts.contacts_live().select_for_update().filter(pk=contact_id)
            .values_list("lifecycle_stage", "lifecycle_stage_locked").first())


def ordered_since(contact_id: int, since: datetime) -> bool:
    """The contact placed an order (any status) at or after ``since``."""
    return orders.contacts_ordering_since(since).filter(contact_id=contact_id).exists()


def engaged_contacts_at(*, stages: Sequence[str], kinds: Sequence[str], since: datetime,
                        recorded_since: datetime | None, after_id: int, limit: int) -> list[int]:
    """Up to ``limit`` live contacts above ``after_id``, in id order, at one of ``stages`` and not staff-locked,
    with a touch of ``kinds`` that occurred at or after ``since`` (and was written at or after
    ``recorded_since`` when given)."""
    engaged = touches.touched_contacts_since(since=since, kinds=kinds, recorded_since=recorded_since)
    # One query: on 100,000 contacts and 1,000,000 touches PostgreSQL answers it in 100-200 ms on a loaded
    # 2-core machine whether the touches are the last day's (a hash of them against the contacts at
    # those stages) or the whole window's (contacts walked in id order, each touch looked up by index).
    return list(contacts.contacts_live().filter(lifecycle_stage__in=list(stages), lifecycle_stage_locked=False,
                                                pk__gt=after_id, pk__in=engaged)
                .order_by("pk").values_list("pk", flat=True)[:limit])


def engagement_touches(contact_ids: Sequence[int], *, kinds: Sequence[str], since: datetime
                       ) -> dict[int, list[TouchFact]]:
    """``{contact_id: [TouchFact, ...]}``: the touches of ``kinds`` since ``since`` of ``contact_ids``, oldest first."""
    found: dict[int, list[TouchFact]] = defaultdict(list)
    for fact in touches.touch_facts(contact_ids=contact_ids, kinds=kinds, since=since):
        found[fact.contact_id].append(fact)
    return dict(found)


def silent_contacts(cutoff: datetime, limit: int) -> list[int]:
    """Up to ``limit`` live contacts, created before ``cutoff``, neither inactive already nor staff-locked,
    with no order, no touchpoint and no sign of life since ``cutoff``."""
    return list(contacts.contacts_inactive_candidates(cutoff=cutoff)
                .exclude(pk__in=orders.contacts_ordering_since(cutoff))
                .exclude(pk__in=touches.touched_contacts_since(since=cutoff))
                .values_list("pk", flat=True)[:limit])


def last_signs_of_life(contact_ids: Sequence[int]) -> dict[int, datetime]:
    """``{contact_id: when}``: the last time each of ``contact_ids`` (live ones) showed a sign of life as
    :func:`silent_contacts` reads it: their card created, seen (``last_seen_at``), an order placed (any
    status) or a touch of any kind."""
    last: dict[int, datetime] = {}

    def keep(rows: Iterator[tuple[int, datetime | None]]) -> None:
        for contact_id, when in rows:
            if when is not None and (contact_id not in last or when > last[contact_id]):
                last[contact_id] = when

    ids = sorted(set(contact_ids))
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start:start + _CHUNK]
        cards = list(contacts.contacts_live().filter(pk__in=chunk).values_list("pk", "created_at", "last_seen_at"))
        keep((pk, created) for pk, created, _seen in cards)
        keep((pk, seen) for pk, _created, seen in cards)
        if not cards:
            continue
        # Nothing before a card's creation can be its last sign of life (the creation is one).
        since = min(created for _pk, created, _seen in cards)
        keep(orders.contacts_ordering_since(since).filter(contact_id__in=chunk).order_by()
             .annotate(last=Max("created_at")).values_list("contact_id", "last").iterator())
        keep(touches.touched_contacts_since(since=since).filter(contact_id__in=chunk).order_by()
             .annotate(last=Max("occurred_at")).values_list("contact_id", "last").iterator())
    return last


def referral_order(order_id: int) -> dict[str, Any] | None:
    """What a referral reward needs of an order: ``contact_id``, ``referred_by_id`` (of its contact),
    ``delivered`` and ``is_sample``; None if it does not exist."""
    order = orders.order_delivery_facts(order_id=order_id)
    if order is None:
        return None
    return {"contact_id": order.contact_id, "referred_by_id": order.referred_by_id,
            "delivered": order.status == OrderStatus.DELIVERED or order.delivered_at is not None,
            "is_sample": order.is_sample}


def first_delivered_order(contact_id: int) -> int | None:
    """The contact's first delivered order that is not a sample (by delivery time, then creation, then id)."""
    return orders.first_delivered_order_id(contact_id=contact_id)
