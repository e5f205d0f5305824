"""Reads of the orders app: lists for staff, the partner's views, the recall list of a batch,
payment instructions, the partner polling cursor and the contact timeline source."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from django.db import connection
from django.db.models import Case, Exists, IntegerField, OuterRef, Prefetch, QuerySet, Value, When
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from api.common.errors import ApplicationError, NotFoundError, field_error
from api.contacts.registry import TimelineEvent
from api.orders import conf
from api.orders.enums import ComplaintState, OrderEventDeliveryState, PaymentMethod
from api.orders.models import (
    Complaint,
    Feedback,
    GiftBox,
    GiftBoxItem,
    Order,
    OrderEventDelivery,
    OrderLine,
    OrderStatusHistory,
    Partner,
    Product,
    Refund,
    WebhookDelivery,
)
from api.orders.services.orders import TRANSITIONS

# The states of a case still being handled: the customer is waiting, and marketing to them is paused.
COMPLAINT_OPEN_STATES = (ComplaintState.OPEN, ComplaintState.IN_PROGRESS)


def order_list() -> QuerySet[Order]:
    return Order.objects.select_related("contact", "partner").prefetch_related("lines")


def order_get(*, order_id: int) -> Order:
    order = (Order.objects.select_related("contact", "partner", "recipient")
             .prefetch_related(Prefetch("lines", OrderLine.objects.select_related("product", "gift_box")),
                               "history", "payments", "refunds")
             .filter(pk=order_id).first())
    if order is None:
        raise NotFoundError(f"No order #{order_id}.")
    return order


def gift_box_list(*, active_only: bool = False) -> QuerySet[GiftBox]:
    qs = GiftBox.objects.prefetch_related(Prefetch("items", GiftBoxItem.objects.select_related("product")))
    return qs.filter(active=True) if active_only else qs


def partner_price(price_xaf: int, partner: Partner) -> int:
    """The catalog price after the partner's discount, rounded like ``order_create`` rounds the discount."""
    return price_xaf - price_xaf * partner.discount_percent // 100


def payment_instructions(order: Order) -> dict[str, Any]:
    """What to send the customer in one message: the number, the amount due and how to pay it."""
    due = max(0, order.total_xaf - order.paid_xaf)
    amount = f"{due:,}".replace(",", " ")
    lines = [f"{conf.MERCHANT_NAME} – commande {order.number}", f"Montant à payer : {amount} FCFA"]
    if due:
        om = f"Orange Money : envoyez {amount} FCFA au {conf.ORANGE_MONEY_MERCHANT_NUMBER} ({conf.MERCHANT_NAME})"
        momo = f"MTN MoMo : envoyez {amount} FCFA au {conf.MTN_MOMO_MERCHANT_NUMBER} ({conf.MERCHANT_NAME})"
        first = [om, momo] if order.payment_method != PaymentMethod.MTN_MOMO else [momo, om]
        lines += first + [f"Motif du paiement : {order.number}", "Merci de nous renvoyer l'identifiant de la transaction."]
    else:
        lines.append("Rien à payer : merci !")
    return {
        "order_number": order.number, "amount_due_xaf": due, "payment_method": order.payment_method,
        "orange_money_number": conf.ORANGE_MONEY_MERCHANT_NUMBER, "mtn_momo_number": conf.MTN_MOMO_MERCHANT_NUMBER,
        "text": "\n".join(lines),
    }


def batch_customers(*, batch: str) -> list[dict[str, Any]]:
    """Who received products of ``batch`` (the recipient of a gift, else the buyer), for a recall."""
    lines = (OrderLine.objects.filter(batch=batch).exclude(order__status="cancelled")
             .select_related("order__contact", "order__recipient", "product").order_by("order__created_at", "id"))
    people: dict[int, dict[str, Any]] = {}
    for line in lines:
        order = line.order
        person = order.recipient or order.contact
        entry = people.setdefault(person.pk, {"contact_id": person.pk, "name": person.display_name,
                                              "phone": person.phone or "", "orders": []})
        entry["orders"].append({
            "order_number": order.number, "ordered_at": order.created_at, "status": order.status,
            "product_sku": line.product.sku if line.product else "", "quantity": line.quantity,
            "best_before": line.best_before, "bought_by_contact_id": order.contact_id,
        })
    return list(people.values())


def complaint_list(*, state: str | None = None) -> QuerySet[Complaint]:
    """Open cases first, then those of unhappy customers (a rating at or under
    ``conf.UNHAPPY_RATING_THRESHOLD``, 2 by default), then the newest.

    An unhappy customer tells twelve people, a happy one three.
    """
    unhappy = Exists(Feedback.objects.filter(contact_id=OuterRef("contact_id"),
                                             rating__lte=conf.UNHAPPY_RATING_THRESHOLD))
    # Prefetched, not joined: with the join PostgreSQL walked the contacts' primary key to sort the
    # cases (40 ms on 100,000 contacts); a prefetch reads only the rows of the cases kept.
    qs = Complaint.objects.prefetch_related("contact", "order", "owner").annotate(
        unhappy=unhappy,
        is_open=Case(When(state__in=COMPLAINT_OPEN_STATES, then=Value(1)),
                     default=Value(0), output_field=IntegerField()),
    )
    if state:
        qs = qs.filter(state=state)
    return qs.order_by("-is_open", "-unhappy", "-created_at", "-id")


def contacts_with_open_complaint(contact_ids: Iterable[int]) -> set[int]:
    """Those of ``contact_ids`` who have a complaint case still open (open or in progress).

    Marketing to them is paused until staff resolve or close it (the nurture dispatcher asks this
    at send time, once per batch); service replies and staff alerts still go.
    """
    ids = {i for i in contact_ids if i}
    if not ids:
        return set()
    return set(Complaint.objects.filter(contact_id__in=ids, state__in=COMPLAINT_OPEN_STATES)
               .values_list("contact_id", flat=True).distinct())


def partner_order_get(*, partner: Partner, number: str) -> Order:
    """The partner's own order; another partner's order is a 404, as if it did not exist."""
    order = Order.objects.select_related("contact").filter(partner=partner, number=number).first()
    if order is None:
        raise NotFoundError(f"No order {number}.")
    return order


class OrderVersion(NamedTuple):
    """An order as of one change: enough to answer ``If-None-Match`` and to find a cached document."""

    id: int
    updated_at: datetime

    @property
    def stamp(self) -> int:
        return int(self.updated_at.timestamp() * 1_000_000)

    @property
    def etag(self) -> str:
        return f'"{self.id}-{self.stamp}"'


def order_etag(order: Order) -> str:
    """Changes whenever the order changes: every order service stamps ``updated_at``."""
    return OrderVersion(order.pk, order.updated_at).etag


def partner_order_version(*, partner_id: int, number: str) -> OrderVersion:
    """The current version of the partner's own order (one index lookup, no joins); another
    partner's order is a 404, as if it did not exist."""
    # Plain SQL: on the hottest read of the API, compiling the ORM query cost more than running it.
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, updated_at FROM {Order._meta.db_table} WHERE partner_id = %s AND number = %s",
                       [partner_id, number])
        row = cursor.fetchone()
    if row is None:
        raise NotFoundError(f"No order {number}.")
    return OrderVersion(row[0], _db_time(row[1]))


def _db_time(value: Any) -> datetime:
    """A ``DateTimeField`` value read with plain SQL: SQLite gives naive UTC text, PostgreSQL an aware time."""
    if isinstance(value, str):
        value = parse_datetime(value)
    return value if timezone.is_aware(value) else value.replace(tzinfo=UTC)


def partner_orders_by_id(*, partner_id: int, ids: list[int]) -> list[Order]:
    """The partner's orders with their customer and lines, ready to render, in no set order."""
    return list(Order.objects.filter(partner_id=partner_id, pk__in=ids).select_related("contact")
                .prefetch_related(Prefetch("lines", OrderLine.objects.select_related("gift_box"))))


# --- Partner polling ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PollPosition:
    """A place in the stream of a partner's order changes, ordered by ``(updated_at, id)``."""

    updated_at: datetime
    order_id: int

    def encode(self) -> str:
        raw = f"{self.updated_at.isoformat()}|{self.order_id}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, cursor: str) -> PollPosition:
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
            stamp, order_id = raw.rsplit("|", 1)
            when = parse_datetime(stamp)
            if when is None:
                raise ValueError(stamp)
            return cls(when, int(order_id))
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise ApplicationError("The cursor is not valid; start again from updated_since.", code="validation_error",
                                   errors=[field_error("cursor", "Not a cursor given by this API.", "invalid")]) from None


def partner_orders_changed(*, partner_id: int, after: PollPosition | None, limit: int,
                           now: datetime | None = None) -> tuple[list[OrderVersion], PollPosition | None, bool]:
    """The versions of the partner's orders changed after ``after``, oldest change first, at most ``limit``.

    The order ``(updated_at, id)`` is total, and the cursor carries both, so orders sharing one
    timestamp are neither skipped nor repeated across pages. Changes of the last
    ``PARTNER_POLL_SETTLE_SECONDS`` are held back: a transaction that stamped an earlier time may
    still be committing, and serving past it would skip it for good. Returns the versions, the
    position to poll from next (unchanged when nothing is new) and whether more are waiting. Only
    ids and times are read (from the ``(partner, updated_at, id)`` index): the documents themselves
    are cached per version (``api.orders.documents``).
    """
    now = now or timezone.now()
    settled = connection.ops.adapt_datetimefield_value(now - timedelta(seconds=conf.PARTNER_POLL_SETTLE_SECONDS))
    # Plain SQL for the same reason as ``partner_order_version``; it walks the (partner, updated_at, id) index.
    sql = f"SELECT id, updated_at FROM {Order._meta.db_table} WHERE partner_id = %s AND updated_at <= %s"
    params: list[Any] = [partner_id, settled]
    if after is not None:
        since = connection.ops.adapt_datetimefield_value(after.updated_at)
        # A row comparison, not ``a > x OR (a = x AND id > y)``: PostgreSQL starts the index scan at
        # the cursor instead of reading and filtering every earlier change of the partner.
        sql += " AND (updated_at, id) > (%s, %s)"
        params += [since, after.order_id]
    with connection.cursor() as cursor:
        cursor.execute(sql + " ORDER BY updated_at, id LIMIT %s", [*params, limit + 1])
        rows = [OrderVersion(order_id, _db_time(updated_at)) for order_id, updated_at in cursor.fetchall()]
    more = len(rows) > limit
    rows = rows[:limit]
    position = PollPosition(rows[-1].updated_at, rows[-1].id) if rows else after
    return rows, position, more


def webhook_delivery_list(*, partner_id: int) -> QuerySet[WebhookDelivery]:
    return WebhookDelivery.objects.filter(partner_id=partner_id).select_related("order")


# --- Contacts: timeline and privacy export -------------------------------------------------------


def orders_timeline(contact_id: int, before: datetime | None, limit: int) -> list[Any]:
    """Timeline source ``orders``: orders placed, status changes, refunds, gifts received, feedback and complaints."""
    def upto(qs: QuerySet, field: str) -> QuerySet:
        return qs.filter(**{f"{field}__lte": before}) if before is not None else qs

    events: list[TimelineEvent] = []
    for order in upto(Order.objects.filter(contact_id=contact_id), "created_at").order_by("-created_at", "-id")[:limit]:
        events.append(TimelineEvent(order.created_at, "order_placed",
                                    f"Order {order.number}: {order.total_xaf} XAF", "orders", f"o{order.pk:012d}",
                                    {"order_id": order.pk, "number": order.number, "total_xaf": order.total_xaf}))
    history = (OrderStatusHistory.objects.filter(order__contact_id=contact_id).exclude(from_status="")
               .select_related("order"))
    for row in upto(history, "at").order_by("-at", "-id")[:limit]:
        events.append(TimelineEvent(row.at, "order_status", f"Order {row.order.number}: {row.from_status} → "
                                    f"{row.to_status}", "orders", f"s{row.pk:012d}",
                                    {"order_id": row.order_id, "number": row.order.number, "from": row.from_status,
                                     "to": row.to_status}))
    # Each refund is a line of its own: only the first one moves the order to ``refunded``, so a second
    # partial refund would otherwise leave no trace in the person's history.
    refunds = Refund.objects.filter(order__contact_id=contact_id).select_related("order")
    for refund in upto(refunds, "created_at").order_by("-created_at", "-id")[:limit]:
        why = f" ({refund.reason[:80]})" if refund.reason else ""
        events.append(TimelineEvent(refund.created_at, "order_refund",
                                    f"Refund of {refund.amount_xaf} XAF on {refund.order.number}{why}", "orders",
                                    f"r{refund.pk:012d}", {"order_id": refund.order_id, "number": refund.order.number,
                                                          "refund_id": refund.pk, "amount_xaf": refund.amount_xaf,
                                                          "reason": refund.reason}))
    gifts = upto(Order.objects.filter(recipient_id=contact_id), "created_at").select_related("contact")
    for order in gifts.order_by("-created_at", "-id")[:limit]:
        events.append(TimelineEvent(order.created_at, "gift_received",
                                    f"Gift {order.number} from {order.contact.display_name}", "orders",
                                    f"g{order.pk:012d}", {"order_id": order.pk, "number": order.number,
                                                         "buyer_id": order.contact_id,
                                                         "buyer": order.contact.display_name}))
    for fb in upto(Feedback.objects.filter(contact_id=contact_id), "created_at").select_related("order").order_by(
            "-created_at", "-id")[:limit]:
        events.append(TimelineEvent(fb.created_at, "order_feedback", f"Rated {fb.order.number} {fb.rating}/5",
                                    "orders", f"f{fb.pk:012d}", {"order_id": fb.order_id, "number": fb.order.number,
                                                            "rating": fb.rating}))
    for c in upto(Complaint.objects.filter(contact_id=contact_id), "created_at").order_by("-created_at", "-id")[:limit]:
        events.append(TimelineEvent(c.created_at, "complaint", f"Complaint ({c.state}): {c.text[:80]}", "orders",
                                    f"c{c.pk:012d}", {"complaint_id": c.pk, "state": c.state, "text": c.text[:200]}))
    events.sort(key=lambda e: e.sort_key, reverse=True)
    return events[:limit]


def orders_export(contact_id: int) -> list[dict[str, Any]]:
    """The person's orders in the privacy export: what they bought, when, for how much, where."""
    out = []
    for order in Order.objects.filter(contact_id=contact_id).prefetch_related("lines").order_by("created_at"):
        out.append({
            "number": order.number, "created_at": order.created_at.isoformat(), "status": order.status,
            "total_xaf": order.total_xaf, "paid_xaf": order.paid_xaf, "refunded_xaf": order.refunded_xaf,
            "delivery_address": order.delivery_address, "neighbourhood": order.neighbourhood,
            "recipient_name": order.recipient_name,
            "lines": [{"product_id": line.product_id, "gift_box_id": line.gift_box_id, "quantity": line.quantity,
                       "line_total_xaf": line.line_total_xaf} for line in order.lines.all()],
        })
    return out


def gifts_received_export(contact_id: int) -> list[dict[str, Any]]:
    return [{"number": o.number, "created_at": o.created_at.isoformat(), "recipient_name": o.recipient_name,
             "delivery_address": o.delivery_address}
            for o in Order.objects.filter(recipient_id=contact_id).order_by("created_at")]


# --- Order events: health ---------------------------------------------------------------------

# A pending delivery this late (past its next attempt) means no worker or beat is delivering.
ORDER_EVENTS_LATE_AFTER = timedelta(minutes=5)


def order_event_deliveries_health(*, now: datetime | None = None) -> dict[str, Any]:
    """How order events are flowing, for ``/api/v1/health``: ``ok`` is false while a delivery has
    failed for good or a pending one is more than ``ORDER_EVENTS_LATE_AFTER`` late. Two counts."""
    now = now or timezone.now()
    failed = OrderEventDelivery.objects.filter(state=OrderEventDeliveryState.FAILED).count()
    late = OrderEventDelivery.objects.filter(state=OrderEventDeliveryState.PENDING,
                                             next_attempt_at__lt=now - ORDER_EVENTS_LATE_AFTER).count()
    return {"ok": failed == 0 and late == 0, "failed": failed, "late": late}



# --- the order form's catalogue and status steps (staff screens) ------------------------------------


def product_list(*, active_only: bool = False) -> QuerySet[Product]:
    """Products sold on their own (syrups, liqueurs…), newest first; only those on sale with ``active_only``."""
    qs = Product.objects.all()
    return qs.filter(active=True) if active_only else qs


def order_next_statuses(order: Order) -> tuple[str, ...]:
    """The statuses ``order_status_change`` accepts next from ``order``'s status (the orders app's
    status machine, ``services.orders.TRANSITIONS``); empty once the order is closed."""
    return tuple(TRANSITIONS.get(order.status, ()))
