"""Money: payments received for an order, and refunds under the guarantee."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from api.common.errors import ConflictError, field_error
from api.orders.enums import OrderEventKind, OrderStatus, PaymentMethod, PaymentStatus
from api.orders.models import Payment, Refund
from api.orders.services._shared import invalid
from api.orders.services.orders import (
    TRANSITIONS,
    order_event_write,
    order_locked,
    order_transition,
    payment_status_of,
)


def payment_record(*, order_id: int, amount_xaf: int, method: str, provider_reference: str = "",
                   paid_at: datetime | None = None, actor: Any = None) -> Payment:
    """Record money received for an order and derive its payment status; emits ``paid`` when fully paid.

    A provider reference (mobile-money transaction id) is recorded once: a second time is a 409.
    More than the amount due is refused.
    """
    if amount_xaf is None or amount_xaf < 1:
        raise invalid("amount_xaf", "Ensure this value is greater than or equal to 1.", "min_value")
    if method not in PaymentMethod.values:
        raise invalid("method", f"Choose one of {', '.join(PaymentMethod.values)}.", "invalid_choice")
    with transaction.atomic():
        order = order_locked(order_id)
        if order.status in (OrderStatus.CANCELLED, OrderStatus.REFUNDED):
            raise ConflictError(f"Order {order.number} is {order.status}: no payment can be recorded.",
                                code="order_closed")
        due = order.total_xaf - order.paid_xaf
        if amount_xaf > due:
            raise invalid("amount_xaf", f"Only {due} XAF is due on {order.number}.", "max_value")
        if provider_reference and Payment.objects.filter(method=method, provider_reference=provider_reference).exists():
            raise ConflictError(f"The {method} transaction {provider_reference} was already recorded.",
                                code="duplicate_payment",
                                errors=[field_error("provider_reference", "Already recorded.", "unique")])
        try:
            with transaction.atomic():
                payment = Payment.objects.create(
                    order=order, amount_xaf=amount_xaf, method=method, provider_reference=provider_reference,
                    paid_at=paid_at or timezone.now(), recorded_by=actor if getattr(actor, "pk", None) else None)
        except IntegrityError:
            raise ConflictError(f"The {method} transaction {provider_reference} was already recorded.",
                                code="duplicate_payment") from None
        before = order.payment_status
        order.paid_xaf += amount_xaf
        order.payment_status = payment_status_of(order.total_xaf, order.paid_xaf, order.refunded_xaf)
        order.updated_at = timezone.now()
        order.save(update_fields=["paid_xaf", "payment_status", "updated_at"])
        if order.payment_status == PaymentStatus.PAID and before != PaymentStatus.PAID:
            order_event_write(order, OrderEventKind.PAID, amount_xaf=amount_xaf, method=method)
        return payment


def order_refund(*, order_id: int, amount_xaf: int | None = None, keep_delivery_fee: bool = True,
                 reason: str = "", actor: Any = None) -> Refund:
    """Refund a delivered order, wholly (``amount_xaf`` None) or partly; the order becomes ``refunded``.

    The guarantee keeps the moto delivery fee by default (``keep_delivery_fee``). Several partial
    refunds may follow one another up to the refundable amount. Emits ``refunded`` (and
    ``status_changed`` on the first one).
    """
    with transaction.atomic():
        order = order_locked(order_id)
        if order.status not in (OrderStatus.DELIVERED, OrderStatus.REFUNDED):
            raise ConflictError(
                f"Only a delivered order can be refunded; {order.number} is {order.status}.",
                code="invalid_transition",
                extra={"current": order.status, "allowed": list(TRANSITIONS.get(order.status, ()))},
            )
        refundable = order.total_xaf - (order.delivery_fee_xaf if keep_delivery_fee else 0) - order.refunded_xaf
        if refundable <= 0:
            raise ConflictError(f"Nothing is left to refund on {order.number}.", code="nothing_to_refund")
        amount = refundable if amount_xaf is None else amount_xaf
        if amount < 1 or amount > refundable:
            raise invalid("amount_xaf", f"Between 1 and {refundable} XAF can be refunded.", "max_value")
        now = timezone.now()
        refund = Refund.objects.create(order=order, amount_xaf=amount, delivery_fee_kept=keep_delivery_fee,
                                       reason=reason[:500], created_at=now,
                                       created_by=actor if getattr(actor, "pk", None) else None)
        order.refunded_xaf += amount
        order.payment_status = payment_status_of(order.total_xaf, order.paid_xaf, order.refunded_xaf)
        order.updated_at = now
        order.save(update_fields=["refunded_xaf", "payment_status", "updated_at"])
        if order.status == OrderStatus.DELIVERED:
            order_transition(order, OrderStatus.REFUNDED, actor=actor, partner=None,
                        note=f"refund of {amount} XAF" + (f": {reason}" if reason else ""), at=now)
        order_event_write(order, OrderEventKind.REFUNDED, amount_xaf=amount, refunded_xaf=order.refunded_xaf,
              delivery_fee_kept=keep_delivery_fee)
        return refund

