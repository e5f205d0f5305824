"""The facts other apps read of orders, defined once, in ``OrderStatus`` terms.

What counts as an order depends on the question, and each question has one name here:

* a **sale** (``orders_sold``): every order but a cancelled one or a free sample. Attribution,
  LTV and RFM count sales; a refund does not undo a sale, it is a negative fact of its own
  (``refunds_of_sold_orders``), so a refunded order is still a sale.
* a **kept** order (``orders_kept``): a sale the customer kept, i.e. not refunded either. The
  replenishment reminder counts these: a returned bottle is not being drunk.
* a **delivered** order (``orders_delivered``): a non-sample order that reached the customer
  (delivered now, or once: a refund after delivery keeps ``delivered_at``) and was not cancelled.
  Lifecycle stages and referral rewards count these.

Attribution's PostgreSQL fast path reads sales as SQL relations (``sold_orders_pg``,
``refunds_of_sold_orders_pg``): the text of a subquery with named columns, to be used as
``FROM (<sql>) o``, so that no other app names orders' tables or columns. Their portable twins
(``sold_order_facts``, ``refund_facts``) return the same rows through the ORM; a test checks that
both agree (tests/orders/test_facts.py).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from django.db.models import Count, F, Max, Min, Q, QuerySet, Sum

from api.orders.enums import OrderStatus
from api.orders.models import Feedback, Order, OrderLine, Refund

# The statuses a sale is never in; a kept order is in none of KEPT_EXCLUDED_STATUSES.
SALE_EXCLUDED_STATUSES: tuple[str, ...] = (OrderStatus.CANCELLED,)
KEPT_EXCLUDED_STATUSES: tuple[str, ...] = (OrderStatus.CANCELLED, OrderStatus.REFUNDED)


def orders_sold() -> QuerySet[Order]:
    """Sales: orders neither cancelled nor free samples (refunded ones included)."""
    return Order.objects.exclude(status__in=SALE_EXCLUDED_STATUSES).filter(is_sample=False)


def orders_kept() -> QuerySet[Order]:
    """Sales the customer kept: neither cancelled, refunded, nor free samples."""
    return Order.objects.exclude(status__in=KEPT_EXCLUDED_STATUSES).filter(is_sample=False)


def _delivered_q() -> Q:
    return Q(status=OrderStatus.DELIVERED) | Q(delivered_at__isnull=False)


def orders_delivered() -> QuerySet[Order]:
    """Non-sample orders that reached the customer (``delivered``, or delivered then refunded)."""
    return Order.objects.filter(is_sample=False).filter(_delivered_q()).exclude(status=OrderStatus.CANCELLED)


# --- per contact and per order: lifecycle, referrals, sweeps, replenishment -------------------------


def delivered_order_count(*, contact_id: int) -> int:
    """How many of ``contact_id``'s orders were delivered (``orders_delivered``)."""
    return orders_delivered().filter(contact_id=contact_id).count()


def contact_referred_a_buyer(*, referrer_id: int) -> bool:
    """Whether a contact referred by ``referrer_id`` has a non-sample order that reached them
    (``delivered``, or delivered then refunded)."""
    return _referred_buyers_orders(referrer_id).exists()


def contact_referred_buyer_first_delivered_at(*, referrer_id: int) -> datetime | None:
    """When the first order of :func:`contact_referred_a_buyer` reached its buyer (None: no such order, or
    only orders delivered before delivery times were recorded)."""
    return _referred_buyers_orders(referrer_id).aggregate(first=Min("delivered_at"))["first"]


def _referred_buyers_orders(referrer_id: int) -> QuerySet[Order]:
    return Order.objects.filter(contact__referred_by_id=referrer_id, is_sample=False).filter(_delivered_q())


def contact_rated_at_least(*, contact_id: int, rating: int) -> bool:
    """Whether ``contact_id`` rated one of their orders ``rating`` or more."""
    return Feedback.objects.filter(contact_id=contact_id, rating__gte=rating).exists()


def contact_first_rated_at_least_at(*, contact_id: int, rating: int) -> datetime | None:
    """When ``contact_id`` first rated one of their orders ``rating`` or more; None if never."""
    return Feedback.objects.filter(contact_id=contact_id, rating__gte=rating).aggregate(
        first=Min("created_at"))["first"]


class OrderDeliveryFacts(NamedTuple):
    contact_id: int
    referred_by_id: int | None
    status: str
    delivered_at: datetime | None
    is_sample: bool


def order_delivery_facts(*, order_id: int) -> OrderDeliveryFacts | None:
    """Who bought ``order_id`` (and who referred them), its status, delivery time and sample flag."""
    row = Order.objects.filter(pk=order_id).values_list("contact_id", "contact__referred_by_id", "status",
                                                        "delivered_at", "is_sample").first()
    return OrderDeliveryFacts(*row) if row else None


def first_delivered_order_id(*, contact_id: int) -> int | None:
    """The contact's first delivered non-sample order (by delivery time, then creation, then id)."""
    return (Order.objects.filter(contact_id=contact_id, is_sample=False).filter(_delivered_q())
            .order_by("delivered_at", "created_at", "pk").values_list("pk", flat=True).first())


def contacts_ordering_since(since: datetime) -> QuerySet[Order, Any]:
    """The ``contact_id`` of every order placed since ``since`` (any status): a subquery for
    ``.exclude(pk__in=...)`` (the inactivity sweep)."""
    return Order.objects.filter(created_at__gte=since).values("contact_id")


def kept_order_history() -> Iterator[tuple[int, int, datetime]]:
    """``(contact_id, order_id, placed_at)`` of kept orders, by contact then newest first (streamed)."""
    return (orders_kept().order_by("contact_id", "-created_at")
            .values_list("contact_id", "id", "created_at").iterator(chunk_size=2000))


def order_ids_of_contacts(contact_ids: Iterable[int] | QuerySet[Any], *,
                          excluding_contact_ids: Iterable[int] = ()) -> list[int]:
    """Ids of every order (any status) of ``contact_ids`` (ids or a ``values`` subquery), minus those
    of ``excluding_contact_ids``."""
    qs = Order.objects.filter(contact_id__in=contact_ids)
    excluded = list(excluding_contact_ids)
    if excluded:
        qs = qs.exclude(contact_id__in=excluded)
    return list(qs.values_list("pk", flat=True).order_by())


def contacts_with_orders() -> set[int]:
    """Every contact with an order (any status)."""
    return set(Order.objects.values_list("contact_id", flat=True).distinct().order_by())


def contacts_with_orders_among(contact_ids: Sequence[int]) -> set[int]:
    """Those of ``contact_ids`` with an order (any status), asked 5,000 at a time."""
    found: set[int] = set()
    for start in range(0, len(contact_ids), 5000):
        found.update(Order.objects.filter(contact_id__in=contact_ids[start:start + 5000])
                     .values_list("contact_id", flat=True).distinct().order_by())
    return found


def contacts_with_order_changes_since(since: datetime) -> set[int]:
    """Contacts with an order created or changed, or a refund recorded, after ``since``."""
    ids = set(Order.objects.filter(Q(updated_at__gt=since) | Q(created_at__gt=since))
              .values_list("contact_id", flat=True).distinct().order_by())
    ids.update(Refund.objects.filter(created_at__gt=since).values_list("order__contact_id", flat=True)
               .distinct().order_by())
    return ids


def orders_contact_span() -> tuple[int | None, int | None, int]:
    """``(lowest contact id, highest contact id, number of orders)`` over every order: how attribution
    slices its full run."""
    span = Order.objects.aggregate(low=Min("contact_id"), high=Max("contact_id"), count=Count("id"))
    return span["low"], span["high"], span["count"]


# --- sales as rows: the portable form ----------------------------------------------------------------


class SoldOrderFact(NamedTuple):
    """A sale as attribution reads it. Net revenue is ``total_xaf - delivery_fee_xaf``; the goods'
    cost is the sum of the lines' ``unit_cost_xaf * quantity`` (what margins start from)."""

    order_id: int
    contact_id: int
    placed_at: datetime
    total_xaf: int
    delivery_fee_xaf: int
    net_revenue_xaf: int
    goods_cost_xaf: int
    campaign_code: str
    coupon_code: str
    self_reported_source: str


class RefundFact(NamedTuple):
    refund_id: int
    order_id: int
    refunded_at: datetime
    amount_xaf: int
    delivery_fee_kept: bool


_CHUNK = 5000


def sold_order_facts(*, contact_ids: Sequence[int]) -> list[SoldOrderFact]:
    """The sales of ``contact_ids``, by contact, then time, then id (the order of ``sold_orders_pg``)."""
    rows = list(orders_sold().filter(contact_id__in=contact_ids).order_by().values_list(
        "pk", "contact_id", "created_at", "total_xaf", "delivery_fee_xaf", "campaign_code", "coupon_code",
        "self_reported_source"))
    costs: dict[int, int] = defaultdict(int)
    ids = [r[0] for r in rows]
    for start in range(0, len(ids), _CHUNK):
        for order_id, cost in (OrderLine.objects.filter(order_id__in=ids[start:start + _CHUNK]).values("order_id")
                               .annotate(cost=Sum(F("unit_cost_xaf") * F("quantity")))
                               .values_list("order_id", "cost").order_by()):
            costs[order_id] = int(cost or 0)
    facts = [SoldOrderFact(pk, contact_id, placed, total, fee, total - fee, costs.get(pk, 0), campaign, coupon, said)
             for pk, contact_id, placed, total, fee, campaign, coupon, said in rows]
    return sorted(facts, key=lambda f: (f.contact_id, f.placed_at, f.order_id))


def refund_facts(*, order_ids: Sequence[int]) -> list[RefundFact]:
    """The refunds of ``order_ids``, by order then id."""
    found: list[RefundFact] = []
    for start in range(0, len(order_ids), _CHUNK):
        found.extend(RefundFact(*row) for row in Refund.objects.filter(
            order_id__in=order_ids[start:start + _CHUNK]).values_list(
            "pk", "order_id", "created_at", "amount_xaf", "delivery_fee_kept").order_by())
    return sorted(found, key=lambda r: (r.order_id, r.refund_id))


# --- sales as SQL relations: the PostgreSQL form -----------------------------------------------------


def _sold_where(alias: str, contact_ids: Sequence[int] | None,
                contact_range: tuple[int, int] | None) -> tuple[str, list[Any]]:
    where = f"NOT {alias}.is_sample AND {alias}.status <> ALL(%s)"
    params: list[Any] = [list(SALE_EXCLUDED_STATUSES)]
    if contact_range is not None:
        where += f" AND {alias}.contact_id >= %s AND {alias}.contact_id <= %s"
        params.extend(contact_range)
    if contact_ids is not None:
        where += f" AND {alias}.contact_id = ANY(%s)"
        params.append(list(contact_ids))
    return where, params


def sold_orders_pg(*, contact_ids: Sequence[int] | None = None, contact_range: tuple[int, int] | None = None,
                   with_lines: bool = False) -> tuple[str, list[Any]]:
    """The sales (of ``contact_ids``, or of the contacts ``lo <= id <= hi`` of ``contact_range``, or all)
    as the SQL of a relation, with its parameters: use it as ``FROM (<sql>) o``.

    Columns: ``order_id, contact_id, placed_at, total_xaf, delivery_fee_xaf, net_revenue_xaf,
    campaign_code, coupon_code, self_reported_source`` and, with ``with_lines``, ``line_cost_xaf``:
    then there is one row per order line (an order without lines gives one row, cost 0) and the
    goods' cost of an order is the sum over its rows. The lines are joined, not summed: PostgreSQL
    plans a plain join a third faster than any per-order aggregate over a full run.
    """
    where, params = _sold_where("o", contact_ids, contact_range)
    orders, lines = Order._meta.db_table, OrderLine._meta.db_table
    columns = ("o.id AS order_id, o.contact_id, o.created_at AS placed_at, o.total_xaf, o.delivery_fee_xaf, "
               "o.total_xaf - o.delivery_fee_xaf AS net_revenue_xaf, o.campaign_code, o.coupon_code, "
               "o.self_reported_source")
    if with_lines:
        return (f"SELECT {columns}, COALESCE(l.unit_cost_xaf::bigint * l.quantity, 0) AS line_cost_xaf "
                f"FROM {orders} o LEFT JOIN {lines} l ON l.order_id = o.id WHERE {where}", params)
    return f"SELECT {columns} FROM {orders} o WHERE {where}", params


def refunds_of_sold_orders_pg(*, contact_ids: Sequence[int] | None = None,
                              contact_range: tuple[int, int] | None = None) -> tuple[str, list[Any]]:
    """The refunds of the sales of ``sold_orders_pg`` (same arguments) as the SQL of a relation:
    ``refund_id, order_id, refunded_at, amount_xaf, delivery_fee_kept``."""
    where, params = _sold_where("o", contact_ids, contact_range)
    return (f"SELECT r.id AS refund_id, r.order_id, r.created_at AS refunded_at, r.amount_xaf, r.delivery_fee_kept "
            f"FROM {Refund._meta.db_table} r JOIN {Order._meta.db_table} o ON o.id = r.order_id WHERE {where}",
            params)
