"""Writes of the orders app: catalog, orders, status machine, payments, refunds, feedback,
complaints, partners and their keys, idempotency keys and the webhook outbox.

Every service runs in ``transaction.atomic()`` (a savepoint inside a request, which is one
transaction with ``ATOMIC_REQUESTS``), validates before it writes and raises ``ApplicationError``
subclasses. Side effects are explicit: ``order_event_emit`` (after commit) for other apps, and a
``WebhookDelivery`` outbox row, written in the same transaction, for the order's partner.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from api.common.errors import ApplicationError, ConflictError, NotFoundError, field_error
from api.orders import conf
from api.orders.enums import ComplaintState, DeliveryState, OrderStatus, PaymentMethod, PaymentStatus
from api.orders.events import OrderEvent, order_event_emit
from api.orders.models import (
    Complaint,
    Feedback,
    GiftBox,
    GiftBoxItem,
    IdempotencyKey,
    Order,
    OrderCounter,
    OrderLine,
    OrderStatusHistory,
    Partner,
    PartnerApiKey,
    Payment,
    Product,
    Refund,
    WebhookDelivery,
)
from integrations.webhooks import UnsafeWebhookUrl, post_signed, validate_public_https_url

logger = logging.getLogger(__name__)

S = OrderStatus
# The status machine of the issue: cancel from the first three, refund only after delivery.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    S.PENDING: (S.CONFIRMED, S.CANCELLED),
    S.CONFIRMED: (S.PREPARING, S.CANCELLED),
    S.PREPARING: (S.READY, S.CANCELLED),
    S.READY: (S.OUT_FOR_DELIVERY,),
    S.OUT_FOR_DELIVERY: (S.DELIVERED,),
    S.DELIVERED: (S.REFUNDED,),
    S.REFUNDED: (),
    S.CANCELLED: (),
}
FEEDBACK_STATUSES = (S.DELIVERED, S.REFUNDED)
# Amounts live in 32-bit integer columns on PostgreSQL.
MAX_ORDER_XAF = 1_000_000_000


def _invalid(field: str | None, message: str, code: str = "invalid") -> ApplicationError:
    return ApplicationError(f"{field}: {message}" if field else message, code="validation_error",
                            errors=[field_error(field, message, code)])


# --- Catalog ------------------------------------------------------------------------------


def product_create(*, sku: str, name: str, price_xaf: int, kind: str = "syrup", volume_ml: int = 0,
                   tier: str = "standard", unit_cost_xaf: int = 0, active: bool = True) -> Product:
    """Add a product to the catalog. A taken SKU is a 409."""
    if Product.objects.filter(sku=sku).exists():
        raise ConflictError(f"A product with SKU {sku} exists.", code="duplicate_sku",
                            errors=[field_error("sku", "Already used.", "unique")])
    product = Product(sku=sku, name=name, kind=kind, volume_ml=volume_ml, tier=tier, price_xaf=price_xaf,
                      unit_cost_xaf=unit_cost_xaf, active=active)
    product.full_clean()
    product.save()
    return product


def _catalog_item_update(model: type[Product] | type[GiftBox], item_id: int, label: str,
                         fields: dict[str, Any]) -> Any:
    """Lock a product or gift box, refuse a SKU another item has, set ``fields`` and validate.

    Assumes an open transaction (the row lock lasts until it commits).
    """
    item = model.objects.select_for_update().filter(pk=item_id).first()
    if item is None:
        raise NotFoundError(f"No {label} #{item_id}.")
    if "sku" in fields and model.objects.filter(sku=fields["sku"]).exclude(pk=item_id).exists():
        raise ConflictError("SKU already used.", code="duplicate_sku",
                            errors=[field_error("sku", "Already used.", "unique")])
    for name, value in fields.items():
        setattr(item, name, value)
    item.full_clean()
    item.save()
    return item


def product_update(*, product_id: int, **fields: Any) -> Product:
    """Change catalog fields of a product; orders keep the prices they were made at."""
    with transaction.atomic():
        return _catalog_item_update(Product, product_id, "product", fields)


def _gift_box_items_set(gift_box: GiftBox, items: Sequence[dict[str, Any]]) -> None:
    if not items:
        raise _invalid("items", "A gift box holds at least one product.", "required")
    ids = [item["product_id"] for item in items]
    if len(set(ids)) != len(ids):
        raise _invalid("items", "Each product appears once; use the quantity.", "duplicate")
    known = set(Product.objects.filter(pk__in=ids).values_list("pk", flat=True))
    for index, item in enumerate(items):
        if item["product_id"] not in known:
            raise _invalid(f"items[{index}].product_id", f"No product #{item['product_id']}.", "does_not_exist")
    GiftBoxItem.objects.filter(gift_box=gift_box).delete()
    GiftBoxItem.objects.bulk_create(
        [GiftBoxItem(gift_box=gift_box, product_id=i["product_id"], quantity=i.get("quantity", 1)) for i in items]
    )


def gift_box_create(*, sku: str, name: str, price_xaf: int, items: Sequence[dict[str, Any]], tier: str = "premium",
                    description: str = "", active: bool = True) -> GiftBox:
    """Add a gift box (coffret) with its products."""
    with transaction.atomic():
        if GiftBox.objects.filter(sku=sku).exists():
            raise ConflictError(f"A gift box with SKU {sku} exists.", code="duplicate_sku",
                                errors=[field_error("sku", "Already used.", "unique")])
        box = GiftBox(sku=sku, name=name, price_xaf=price_xaf, tier=tier, description=description, active=active)
        box.full_clean()
        box.save()
        _gift_box_items_set(box, items)
        return box


def gift_box_update(*, gift_box_id: int, items: Sequence[dict[str, Any]] | None = None, **fields: Any) -> GiftBox:
    """Change a gift box; ``items`` replaces its content when given."""
    with transaction.atomic():
        box = _catalog_item_update(GiftBox, gift_box_id, "gift box", fields)
        if items is not None:
            _gift_box_items_set(box, items)
        return box


# --- Order numbers ------------------------------------------------------------------------


def order_number_next(*, at: datetime | None = None) -> str:
    """Hand out the next ``CF-YYYY-NNNNNN`` of the business year of ``at``.

    Assumes a surrounding transaction: the year's counter row is locked with ``SELECT … FOR
    UPDATE`` until it commits, so concurrent orders get distinct, gap-free numbers (a rolled
    back order gives its number back). The row is created with ``INSERT … ON CONFLICT DO
    NOTHING`` so that the first orders of a year do not race on its creation.
    """
    year = timezone.localtime(at or timezone.now(), ZoneInfo(settings.BUSINESS_TIME_ZONE)).year
    OrderCounter.objects.bulk_create([OrderCounter(year=year, last=0)], ignore_conflicts=True)
    counter = OrderCounter.objects.select_for_update().get(year=year)
    counter.last += 1
    counter.save(update_fields=["last"])
    return f"{conf.ORDER_NUMBER_PREFIX}-{year}-{counter.last:06d}"


# --- Orders ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _PricedLine:
    product: Product | None
    gift_box: GiftBox | None
    quantity: int
    unit_price_xaf: int
    unit_cost_xaf: int
    batch: str
    best_before: date | None


def _gift_box_unit_cost(box: GiftBox) -> int:
    return sum(item.product.unit_cost_xaf * item.quantity for item in box.items.all())


def _price_lines(lines: Sequence[dict[str, Any]], *, is_sample: bool, gift_boxes_only: bool) -> list[_PricedLine]:
    if not lines:
        raise _invalid("lines", "An order has at least one line.", "required")
    product_ids = {line["product_id"] for line in lines if line.get("product_id")}
    box_ids = {line["gift_box_id"] for line in lines if line.get("gift_box_id")}
    products = Product.objects.in_bulk(product_ids)
    boxes = GiftBox.objects.prefetch_related("items__product").in_bulk(box_ids)
    priced = []
    for index, line in enumerate(lines):
        where = f"lines[{index}]"
        product_id, box_id = line.get("product_id"), line.get("gift_box_id")
        if bool(product_id) == bool(box_id):
            raise _invalid(where, "Give either product_id or gift_box_id.", "invalid")
        quantity = int(line.get("quantity") or 0)
        if quantity < 1:
            raise _invalid(f"{where}.quantity", "Ensure this value is greater than or equal to 1.", "min_value")
        if product_id:
            if gift_boxes_only:
                raise _invalid(f"{where}.product_id", "Partners order gift boxes only.", "invalid")
            product = products.get(product_id)
            if product is None:
                raise _invalid(f"{where}.product_id", f"No product #{product_id}.", "does_not_exist")
            if not product.active:
                raise _invalid(f"{where}.product_id", f"{product.name} is not sold any more.", "inactive")
            priced.append(_PricedLine(product, None, quantity, 0 if is_sample else product.price_xaf,
                                      product.unit_cost_xaf, line.get("batch") or "", line.get("best_before")))
        else:
            box = boxes.get(box_id)
            if box is None:
                raise _invalid(f"{where}.gift_box_id", f"No gift box #{box_id}.", "does_not_exist")
            if not box.active:
                raise _invalid(f"{where}.gift_box_id", f"{box.name} is not sold any more.", "inactive")
            if line.get("batch") or line.get("best_before"):
                raise _invalid(f"{where}.batch", "Batches are recorded on product lines.", "invalid")
            priced.append(_PricedLine(None, box, quantity, 0 if is_sample else box.price_xaf,
                                      _gift_box_unit_cost(box), "", None))
    return priced


def _payment_status(total: int, paid: int, refunded: int) -> str:
    """Unpaid, partial, paid, or refunded as soon as any amount was given back (``refunded_xaf`` says how much)."""
    if refunded > 0:
        return PaymentStatus.REFUNDED
    if paid >= total:
        return PaymentStatus.PAID
    return PaymentStatus.PARTIAL if paid > 0 else PaymentStatus.UNPAID


def _emit(order: Order, kind: str, *, previous_status: str | None = None, rating: int | None = None,
          **data: Any) -> None:
    order_event_emit(OrderEvent(
        kind=kind, order_id=order.pk, order_number=order.number, contact_id=order.contact_id, status=order.status,
        previous_status=previous_status, occurred_at=timezone.now(), total_xaf=order.total_xaf,
        is_sample=order.is_sample, sample_cost_xaf=order.sample_cost_xaf, campaign_code=order.campaign_code,
        coupon_code=order.coupon_code, sales_channel=order.sales_channel, partner_id=order.partner_id,
        rating=rating, data=data,
    ))


def _recipient_contact(*, buyer_id: int, name: str, phone: str) -> int:
    """The recipient of a gift as a contact: an existing one is left as it is, a new one is a
    ``suspect`` referred by the buyer."""
    from api.contacts.services import contact_upsert

    try:
        return contact_upsert(phone=phone, create=False).contact.pk
    except NotFoundError:
        result = contact_upsert(phone=phone, name=name or None, referred_by_id=buyer_id,
                                acquisition_channel="gift")
        return result.contact.pk


def order_create(
    *,
    lines: Sequence[dict[str, Any]],
    contact_id: int | None = None,
    customer: dict[str, Any] | None = None,
    recipient: dict[str, Any] | None = None,
    gift_message: str = "",
    partner: Partner | None = None,
    partner_reference: str = "",
    payment_method: str = PaymentMethod.CASH,
    discount_xaf: int = 0,
    delivery_fee_xaf: int = 0,
    delivery_address: str = "",
    neighbourhood: str = "",
    sales_channel: str = "",
    campaign_code: str = "",
    coupon_code: str = "",
    self_reported_source: str = "",
    is_sample: bool = False,
    note: str = "",
    actor: Any = None,
) -> Order:
    """Create an order with its lines, number and first history row; totals are computed here.

    The buyer is ``contact_id`` or ``customer`` (``{phone, name, ...}``, upserted as a contact).
    ``recipient`` (``{name, phone}``) makes it a gift: the recipient becomes a contact at the
    ``suspect`` stage referred by the buyer. A sample is at price zero without delivery fee;
    its ``sample_cost_xaf`` (sum of unit costs) travels in the ``created`` event. A partner
    order holds gift boxes only and gets the partner's discount. Emits ``created``.
    """
    from api.contacts.models import Contact
    from api.contacts.services import contact_upsert

    with transaction.atomic():
        if contact_id is not None:
            if not Contact.objects.filter(pk=contact_id, merged_into__isnull=True, erased_at__isnull=True).exists():
                raise _invalid("contact_id", f"No contact #{contact_id}.", "does_not_exist")
        elif customer:
            contact_id = contact_upsert(
                phone=customer.get("phone"), email=customer.get("email") or None, name=customer.get("name") or None,
                city=customer.get("city") or None, neighbourhood=customer.get("neighbourhood") or None,
                self_reported_source=self_reported_source or None,
                acquisition_channel=(f"partner:{partner.pk}" if partner else sales_channel) or None,
            ).contact.pk
        else:
            raise _invalid("contact_id", "Give contact_id or customer.", "required")

        priced = _price_lines(lines, is_sample=is_sample, gift_boxes_only=partner is not None)
        subtotal = sum(p.unit_price_xaf * p.quantity for p in priced)
        if subtotal > MAX_ORDER_XAF:
            raise _invalid("lines", f"An order is at most {MAX_ORDER_XAF} XAF; split it.", "max_value")
        if is_sample:
            discount_xaf = delivery_fee_xaf = 0
        elif partner is not None:
            discount_xaf = subtotal * partner.discount_percent // 100
        if discount_xaf < 0 or discount_xaf > subtotal:
            raise _invalid("discount_xaf", f"The discount must be between 0 and the subtotal ({subtotal}).")
        if delivery_fee_xaf < 0:
            raise _invalid("delivery_fee_xaf", "Must be zero or more.", "min_value")
        if payment_method not in PaymentMethod.values:
            raise _invalid("payment_method", f"Choose one of {', '.join(PaymentMethod.values)}.", "invalid_choice")

        recipient_id = None
        recipient_name = recipient_phone = ""
        if recipient and recipient.get("phone"):
            recipient_id = _recipient_contact(buyer_id=contact_id, name=recipient.get("name") or "",
                                              phone=recipient["phone"])
            if recipient_id == contact_id:
                recipient_id = None
            else:
                found = Contact.objects.only("phone", "name").get(pk=recipient_id)
                recipient_name, recipient_phone = recipient.get("name") or found.name, found.phone or ""

        now = timezone.now()
        total = subtotal - discount_xaf + delivery_fee_xaf
        order = Order.objects.create(
            number=order_number_next(at=now), contact_id=contact_id, recipient_id=recipient_id,
            recipient_name=recipient_name, recipient_phone=recipient_phone, gift_message=gift_message,
            partner=partner, partner_reference=partner_reference, status=OrderStatus.PENDING,
            payment_method=payment_method, payment_status=_payment_status(total, 0, 0),
            subtotal_xaf=subtotal, discount_xaf=discount_xaf, delivery_fee_xaf=delivery_fee_xaf, total_xaf=total,
            is_sample=is_sample, sample_cost_xaf=sum(p.unit_cost_xaf * p.quantity for p in priced) if is_sample else 0,
            delivery_address=delivery_address, neighbourhood=neighbourhood, sales_channel=sales_channel,
            campaign_code=campaign_code, coupon_code=coupon_code, self_reported_source=self_reported_source,
            note=note, created_by=actor if getattr(actor, "is_authenticated", False) and actor.pk else None,
            created_at=now, updated_at=now,
        )
        OrderLine.objects.bulk_create([
            OrderLine(order=order, product=p.product, gift_box=p.gift_box, quantity=p.quantity,
                      unit_price_xaf=p.unit_price_xaf, unit_cost_xaf=p.unit_cost_xaf,
                      line_total_xaf=p.unit_price_xaf * p.quantity, batch=p.batch, best_before=p.best_before)
            for p in priced
        ])
        OrderStatusHistory.objects.create(order=order, from_status="", to_status=OrderStatus.PENDING, at=now,
                                          by=order.created_by, by_partner=partner, note="created")
        _webhook_enqueue(order, "order.created", previous_status=None)
        _emit(order, "created")
        return order


def _locked_order(order_id: int) -> Order:
    order = Order.objects.select_for_update().filter(pk=order_id).first()
    if order is None:
        raise NotFoundError(f"No order #{order_id}.")
    return order


def _transition(order: Order, to_status: str, *, actor: Any, partner: Partner | None, note: str,
                at: datetime) -> str:
    """Move ``order`` (locked by the caller) to ``to_status``; history row, outbox row, events."""
    allowed = TRANSITIONS.get(order.status, ())
    if to_status not in allowed:
        names = ", ".join(allowed) or "none (final status)"
        raise ConflictError(
            f"An order cannot go from {order.status} to {to_status}. Allowed from {order.status}: {names}.",
            code="invalid_transition", extra={"current": order.status, "allowed": list(allowed)},
            errors=[field_error("status", f"Allowed: {names}.", "invalid_transition")],
        )
    previous = order.status
    order.status = to_status
    order.updated_at = at
    fields = ["status", "updated_at"]
    if to_status == OrderStatus.DELIVERED:
        order.delivered_at = at
        fields.append("delivered_at")
    order.save(update_fields=fields)
    OrderStatusHistory.objects.create(order=order, from_status=previous, to_status=to_status, at=at,
                                      by=actor if getattr(actor, "pk", None) else None, by_partner=partner,
                                      note=note[:500])
    _webhook_enqueue(order, "order.status_changed", previous_status=previous)
    _emit(order, "status_changed", previous_status=previous)
    return previous


def order_status_change(*, order_id: int, status: str, actor: Any = None, partner: Partner | None = None,
                        note: str = "") -> Order:
    """Move an order along the status machine; any other move is a 409 naming the allowed ones.

    Takes the order row lock, so two simultaneous moves are serialised and the second one is
    judged against the first one's result. ``refunded`` goes through ``order_refund``.
    """
    if status not in OrderStatus.values:
        raise _invalid("status", f"Choose one of {', '.join(OrderStatus.values)}.", "invalid_choice")
    with transaction.atomic():
        order = _locked_order(order_id)
        if status == OrderStatus.REFUNDED and order.status == OrderStatus.DELIVERED:
            raise ConflictError("Record a refund (POST …/refunds) to refund an order.", code="use_refund_endpoint",
                                extra={"current": order.status, "allowed": list(TRANSITIONS[order.status])})
        _transition(order, status, actor=actor, partner=partner, note=note, at=timezone.now())
        return order


def payment_record(*, order_id: int, amount_xaf: int, method: str, provider_reference: str = "",
                   paid_at: datetime | None = None, actor: Any = None) -> Payment:
    """Record money received for an order and derive its payment status; emits ``paid`` when fully paid.

    A provider reference (mobile-money transaction id) is recorded once: a second time is a 409.
    More than the amount due is refused.
    """
    if amount_xaf is None or amount_xaf < 1:
        raise _invalid("amount_xaf", "Ensure this value is greater than or equal to 1.", "min_value")
    if method not in PaymentMethod.values:
        raise _invalid("method", f"Choose one of {', '.join(PaymentMethod.values)}.", "invalid_choice")
    with transaction.atomic():
        order = _locked_order(order_id)
        if order.status in (OrderStatus.CANCELLED, OrderStatus.REFUNDED):
            raise ConflictError(f"Order {order.number} is {order.status}: no payment can be recorded.",
                                code="order_closed")
        due = order.total_xaf - order.paid_xaf
        if amount_xaf > due:
            raise _invalid("amount_xaf", f"Only {due} XAF is due on {order.number}.", "max_value")
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
        order.payment_status = _payment_status(order.total_xaf, order.paid_xaf, order.refunded_xaf)
        order.updated_at = timezone.now()
        order.save(update_fields=["paid_xaf", "payment_status", "updated_at"])
        if order.payment_status == PaymentStatus.PAID and before != PaymentStatus.PAID:
            _emit(order, "paid", amount_xaf=amount_xaf, method=method)
        return payment


def order_refund(*, order_id: int, amount_xaf: int | None = None, keep_delivery_fee: bool = True,
                 reason: str = "", actor: Any = None) -> Refund:
    """Refund a delivered order, wholly (``amount_xaf`` None) or partly; the order becomes ``refunded``.

    The guarantee keeps the moto delivery fee by default (``keep_delivery_fee``). Several partial
    refunds may follow one another up to the refundable amount. Emits ``refunded`` (and
    ``status_changed`` on the first one).
    """
    with transaction.atomic():
        order = _locked_order(order_id)
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
            raise _invalid("amount_xaf", f"Between 1 and {refundable} XAF can be refunded.", "max_value")
        now = timezone.now()
        refund = Refund.objects.create(order=order, amount_xaf=amount, delivery_fee_kept=keep_delivery_fee,
                                       reason=reason[:500], created_at=now,
                                       created_by=actor if getattr(actor, "pk", None) else None)
        order.refunded_xaf += amount
        order.payment_status = _payment_status(order.total_xaf, order.paid_xaf, order.refunded_xaf)
        order.updated_at = now
        order.save(update_fields=["refunded_xaf", "payment_status", "updated_at"])
        if order.status == OrderStatus.DELIVERED:
            _transition(order, OrderStatus.REFUNDED, actor=actor, partner=None,
                        note=f"refund of {amount} XAF" + (f": {reason}" if reason else ""), at=now)
        _emit(order, "refunded", amount_xaf=amount, refunded_xaf=order.refunded_xaf,
              delivery_fee_kept=keep_delivery_fee)
        return refund


def feedback_record(*, order_id: int, rating: int, comment: str = "") -> Feedback:
    """Record the customer's rating (1-5) of a delivered order, once; emits ``feedback``."""
    if not 1 <= int(rating) <= 5:
        raise _invalid("rating", "A rating is between 1 and 5.", "invalid")
    with transaction.atomic():
        order = _locked_order(order_id)
        if order.status not in FEEDBACK_STATUSES:
            raise ConflictError(f"Feedback comes after delivery; {order.number} is {order.status}.",
                                code="not_delivered")
        if Feedback.objects.filter(order=order).exists():
            raise ConflictError(f"{order.number} already has feedback.", code="feedback_exists")
        feedback = Feedback.objects.create(order=order, contact_id=order.contact_id, rating=rating, comment=comment)
        _emit(order, "feedback", rating=rating, comment=comment[:500])
        return feedback


def complaint_create(*, text: str, contact_id: int | None = None, order_id: int | None = None, channel: str = "",
                     owner_id: int | None = None) -> Complaint:
    """Open a complaint case; with an order, the contact is the order's buyer."""
    from api.contacts.models import Contact

    with transaction.atomic():
        if order_id is not None:
            order = Order.objects.filter(pk=order_id).only("contact_id").first()
            if order is None:
                raise _invalid("order_id", f"No order #{order_id}.", "does_not_exist")
            contact_id = contact_id or order.contact_id
        if contact_id is None:
            raise _invalid("contact_id", "Give contact_id or order_id.", "required")
        if not Contact.objects.filter(pk=contact_id).exists():
            raise _invalid("contact_id", f"No contact #{contact_id}.", "does_not_exist")
        _check_owner(owner_id)
        complaint = Complaint.objects.create(contact_id=contact_id, order_id=order_id, channel=channel, text=text,
                                             owner_id=owner_id)
        return complaint


def _check_owner(owner_id: int | None) -> None:
    from django.contrib.auth import get_user_model

    if owner_id is not None and not get_user_model().objects.filter(pk=owner_id, is_staff=True).exists():
        raise _invalid("owner_id", f"No staff user #{owner_id}.", "does_not_exist")


def complaint_update(*, complaint_id: int, **fields: Any) -> Complaint:
    """Change the state, owner or resolution of a complaint case."""
    _check_owner(fields.get("owner_id"))
    with transaction.atomic():
        complaint = Complaint.objects.select_for_update().filter(pk=complaint_id).first()
        if complaint is None:
            raise NotFoundError(f"No complaint #{complaint_id}.")
        for name, value in fields.items():
            setattr(complaint, name, value)
        if complaint.state in (ComplaintState.RESOLVED, ComplaintState.CLOSED) and complaint.resolved_at is None:
            complaint.resolved_at = timezone.now()
        elif complaint.state in (ComplaintState.OPEN, ComplaintState.IN_PROGRESS):
            complaint.resolved_at = None
        complaint.save()
        return complaint


# --- Partners and their keys ------------------------------------------------------------------


def _check_webhook_url(url: str) -> None:
    if not url:
        return
    try:
        validate_public_https_url(url, allow_loopback=settings.PARTNER_WEBHOOKS_ALLOW_LOOPBACK)
    except UnsafeWebhookUrl as exc:
        raise _invalid("webhook_url", str(exc), "unsafe_url") from None


def partner_create(*, name: str, contact_person: str = "", email: str = "", phone: str = "",
                   discount_percent: int = 0, webhook_url: str = "", active: bool = True) -> Partner:
    """Add a reseller; a webhook URL must be public https (see ``integrations.webhooks``). A signing
    secret is generated."""
    if Partner.objects.filter(name=name).exists():
        raise ConflictError(f"A partner named {name} exists.", code="duplicate_partner",
                            errors=[field_error("name", "Already used.", "unique")])
    if not 0 <= discount_percent <= 90:
        raise _invalid("discount_percent", "Between 0 and 90.")
    _check_webhook_url(webhook_url)
    return Partner.objects.create(name=name, contact_person=contact_person, email=email, phone=phone,
                                  discount_percent=discount_percent, webhook_url=webhook_url, active=active,
                                  webhook_secret=secrets.token_urlsafe(32))


def partner_update(*, partner_id: int, rotate_secret: bool = False, **fields: Any) -> Partner:
    """Change a partner; a new webhook URL is checked like on creation."""
    with transaction.atomic():
        partner = Partner.objects.select_for_update().filter(pk=partner_id).first()
        if partner is None:
            raise NotFoundError(f"No partner #{partner_id}.")
        if "name" in fields and Partner.objects.filter(name=fields["name"]).exclude(pk=partner_id).exists():
            raise ConflictError(f"A partner named {fields['name']} exists.", code="duplicate_partner",
                                errors=[field_error("name", "Already used.", "unique")])
        if "webhook_url" in fields:
            _check_webhook_url(fields["webhook_url"])
        if "discount_percent" in fields and not 0 <= fields["discount_percent"] <= 90:
            raise _invalid("discount_percent", "Between 0 and 90.")
        for name, value in fields.items():
            setattr(partner, name, value)
        if rotate_secret:
            partner.webhook_secret = secrets.token_urlsafe(32)
        partner.save()
        partner_api_keys_forget(partner_id=partner.pk)  # cached keys carry the partner (active, discount)
        return partner


def api_key_hash(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def partner_api_key_create(*, partner_id: int, name: str = "", actor: Any = None) -> tuple[PartnerApiKey, str]:
    """Create an API key; returns the row and the key, which is shown this once and stored only hashed."""
    if not Partner.objects.filter(pk=partner_id).exists():
        raise NotFoundError(f"No partner #{partner_id}.")
    prefix = "cfk_" + secrets.token_hex(4)
    raw = f"{prefix}_{secrets.token_urlsafe(32)}"
    key = PartnerApiKey.objects.create(partner_id=partner_id, name=name, prefix=prefix, key_hash=api_key_hash(raw),
                                       created_by=actor if getattr(actor, "pk", None) else None)
    return key, raw


def partner_api_key_revoke(*, partner_id: int, key_id: int) -> PartnerApiKey:
    """Revoke a key at once; revoking twice keeps the first date."""
    key = PartnerApiKey.objects.filter(pk=key_id, partner_id=partner_id).first()
    if key is None:
        raise NotFoundError(f"No key #{key_id} for partner #{partner_id}.")
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
    partner_api_keys_forget(partner_id=partner_id)
    return key


# Writing last_used_at on every request would turn each partner read into a write; once a minute is enough.
_LAST_USED_RESOLUTION = timedelta(seconds=60)
# Resellers poll several times a second at peak: the key and its partner are kept in the shared
# cache instead of joined on every request. Revoking a key or changing a partner (services and
# admin) forgets the entries at once; the lifetime only bounds a change made behind their back.
_API_KEY_CACHE_SECONDS = 300


def _api_key_cache_key(key_hash: str) -> str:
    return f"partner-api-key:{key_hash}"


def partner_api_keys_forget(*, partner_id: int) -> None:
    """Drop the cached keys of a partner, now and again once the current transaction commits
    (a request authenticating in between could otherwise cache the state being replaced)."""
    names = [_api_key_cache_key(h) for h in PartnerApiKey.objects.filter(partner_id=partner_id)
             .values_list("key_hash", flat=True)]
    cache.delete_many(names)
    transaction.on_commit(lambda: cache.delete_many(names))


def partner_api_key_authenticate(*, raw_key: str) -> PartnerApiKey | None:
    """The active key whose hash matches ``raw_key``, with its partner, or None; stamps last use.

    A cache hit costs no query; a miss is one indexed lookup by hash. Unknown keys are not cached,
    so guessing cannot fill the cache.
    """
    digest = api_key_hash(raw_key)
    name = _api_key_cache_key(digest)
    key = cache.get(name)
    if key is None:
        key = (PartnerApiKey.objects.select_related("partner")
               .filter(key_hash=digest, revoked_at__isnull=True, partner__active=True).first())
        if key is None:
            return None
        cache.set(name, key, _API_KEY_CACHE_SECONDS)
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > _LAST_USED_RESOLUTION:
        PartnerApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
        cache.set(name, key, _API_KEY_CACHE_SECONDS)
    return key


# --- Idempotency keys -----------------------------------------------------------------------


def idempotency_request_hash(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


def idempotency_replay(*, scope: str, key: str, request_hash: str) -> IdempotencyKey | None:
    """The stored answer for ``(scope, key)`` if the body is the same; another body is a 422."""
    since = timezone.now() - timedelta(hours=conf.ORDERS_IDEMPOTENCY_TTL_HOURS)
    stored = IdempotencyKey.objects.filter(scope=scope, key=key, created_at__gte=since).first()
    if stored is None:
        return None
    if stored.request_hash != request_hash:
        raise ApplicationError(
            "This Idempotency-Key was used with another request body. Use a new key for a new request.",
            code="idempotency_key_reused", status_code=422,
            errors=[field_error("Idempotency-Key", "Used with another body.", "idempotency_key_reused")],
        )
    return stored


def idempotency_store(*, scope: str, key: str, request_hash: str, status: int, body: Any) -> None:
    """Keep the answer to replay it. A simultaneous request with the same key that committed first
    wins: this one is then a 409 and rolls back (the client retries and gets the replay)."""
    since = timezone.now() - timedelta(hours=conf.ORDERS_IDEMPOTENCY_TTL_HOURS)
    IdempotencyKey.objects.filter(scope=scope, key=key, created_at__lt=since).delete()
    try:
        with transaction.atomic():
            IdempotencyKey.objects.create(scope=scope, key=key, request_hash=request_hash, response_status=status,
                                          response_body=json.loads(json.dumps(body, default=str)))
    except IntegrityError:
        raise ConflictError("A request with this Idempotency-Key is being processed; retry in a moment.",
                            code="idempotency_key_in_use") from None


def idempotency_keys_purge(*, older_than_hours: int | None = None) -> int:
    """Delete keys past their retention (at least 24 h). Idempotent."""
    hours = max(24, older_than_hours or conf.ORDERS_IDEMPOTENCY_TTL_HOURS)
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=timezone.now() - timedelta(hours=hours)).delete()
    return deleted


# --- Webhook outbox -------------------------------------------------------------------------


def _order_webhook_data(order: Order) -> dict[str, Any]:
    return {
        "number": order.number, "status": order.status, "payment_status": order.payment_status,
        "total_xaf": order.total_xaf, "refunded_xaf": order.refunded_xaf,
        "partner_reference": order.partner_reference, "updated_at": order.updated_at.isoformat(),
    }


def _webhook_enqueue(order: Order, event: str, *, previous_status: str | None) -> WebhookDelivery | None:
    """Write the outbox row of a partner order's change, in the caller's transaction."""
    if order.partner_id is None:
        return None
    partner = order.partner
    if partner is None or not partner.webhook_url:
        return None
    payload = {"event_id": str(uuid.uuid4()), "event": event, "occurred_at": order.updated_at.isoformat(),
               "data": {**_order_webhook_data(order), "previous_status": previous_status}}
    delivery = WebhookDelivery.objects.create(partner=partner, order=order, event=event, payload=payload,
                                              next_attempt_at=timezone.now())
    transaction.on_commit(_kick_webhook_sender)
    return delivery


def _kick_webhook_sender() -> None:
    """Ask a worker to send the outbox now rather than at beat's next tick (up to 10 s later).

    Runs after commit, so the worker finds the row; the broker being down changes nothing but the
    delay, since beat's tick sends whatever is due anyway.
    """
    if not getattr(settings, "PARTNER_WEBHOOKS_KICK", True):
        return
    try:
        from workers.tasks.orders import send_partner_webhooks

        send_partner_webhooks.apply_async(expires=30)
    except Exception:
        logger.warning("could not kick the webhook sender", exc_info=True)


def _backoff(attempts: int) -> timedelta:
    base = conf.WEBHOOK_BACKOFF_BASE_SECONDS * 2 ** max(0, attempts - 1)
    seconds = min(base, conf.WEBHOOK_BACKOFF_MAX_SECONDS)
    return timedelta(seconds=seconds * random.uniform(0.9, 1.1))  # noqa: S311 - jitter, not security


def webhook_deliveries_claim(*, now: datetime | None = None, limit: int | None = None) -> list[int]:
    """Claim due deliveries: lock them (SKIP LOCKED on PostgreSQL, so workers never share a row),
    count the attempt and push ``next_attempt_at`` by a lease; commit. A worker that dies mid-send
    leaves the row to be claimed again when the lease ends."""
    now = now or timezone.now()
    with transaction.atomic():
        due = (WebhookDelivery.objects.filter(state=DeliveryState.PENDING, next_attempt_at__lte=now)
               .order_by("next_attempt_at", "id"))
        if connection.features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True)
        ids = list(due.values_list("id", flat=True)[: limit or conf.WEBHOOK_BATCH_SIZE])
        if ids:
            WebhookDelivery.objects.filter(pk__in=ids).update(
                attempts=F("attempts") + 1, last_attempt_at=now,
                next_attempt_at=now + timedelta(seconds=conf.WEBHOOK_LEASE_SECONDS))
    return ids


def webhook_delivery_attempt(*, delivery_id: int, now: datetime | None = None) -> WebhookDelivery:
    """POST one claimed delivery, signed, and record the outcome: succeeded, or the next attempt
    with exponential backoff, or failed once the next attempt would fall past 24 h (or the URL is
    unsafe). No lock is held during the HTTP call."""
    delivery = WebhookDelivery.objects.select_related("partner").get(pk=delivery_id)
    partner = delivery.partner
    body = json.dumps(delivery.payload, sort_keys=True, separators=(",", ":")).encode()
    if not partner.webhook_url:
        result_ok, status_code, error, retryable = False, None, "The partner has no webhook URL.", False
    else:
        result = post_signed(
            partner.webhook_url, body, partner.webhook_secret, timeout=conf.WEBHOOK_TIMEOUT_SECONDS,
            allow_loopback=settings.PARTNER_WEBHOOKS_ALLOW_LOOPBACK,
            headers={"X-Confiotes-Delivery": str(delivery.pk), "X-Confiotes-Event": delivery.event},
        )
        result_ok, status_code, error, retryable = result.ok, result.status_code, result.error, result.retryable
    now = now or timezone.now()
    fields: dict[str, Any] = {"last_status_code": status_code, "last_error": error[:500]}
    if result_ok:
        fields.update(state=DeliveryState.SUCCEEDED, delivered_at=now)
    else:
        next_at = now + _backoff(delivery.attempts)
        if not retryable or next_at > delivery.created_at + timedelta(hours=conf.WEBHOOK_MAX_AGE_HOURS):
            fields.update(state=DeliveryState.FAILED)
        else:
            fields.update(next_attempt_at=next_at)
    # Guarded: a redelivery or a second worker cannot resurrect a finished row.
    WebhookDelivery.objects.filter(pk=delivery.pk, state=DeliveryState.PENDING).update(**fields)
    delivery.refresh_from_db()
    return delivery


def webhook_deliveries_send_due(*, now: datetime | None = None, limit: int | None = None) -> int:
    """Claim and send the due deliveries; returns how many were attempted. Safe to run in parallel."""
    ids = webhook_deliveries_claim(now=now, limit=limit)
    for delivery_id in ids:
        try:
            webhook_delivery_attempt(delivery_id=delivery_id, now=now)
        except Exception:  # one broken row must not block the others; its lease brings it back
            logger.exception("webhook delivery %s failed", delivery_id)
    return len(ids)


def webhook_delivery_redeliver(*, partner_id: int, delivery_id: int) -> WebhookDelivery:
    """Send an earlier delivery again, as a new outbox row with the same payload (same ``event_id``,
    so a partner that deduplicates sees one event)."""
    original = WebhookDelivery.objects.filter(pk=delivery_id, partner_id=partner_id).first()
    if original is None:
        raise NotFoundError(f"No delivery #{delivery_id}.")
    return WebhookDelivery.objects.create(partner_id=partner_id, order_id=original.order_id, event=original.event,
                                          payload=original.payload, next_attempt_at=timezone.now())


# --- Contacts: privacy erase ---------------------------------------------------------------------


def orders_erase_contact(contact_id: int) -> None:
    """Orders keep their amounts; addresses, recipients' names and notes of the person go."""
    Order.objects.filter(contact_id=contact_id).update(delivery_address="", neighbourhood="", note="",
                                                       gift_message="", updated_at=timezone.now())
    Order.objects.filter(recipient_id=contact_id).update(recipient_name="", recipient_phone="", delivery_address="",
                                                         neighbourhood="", gift_message="", updated_at=timezone.now())
    Complaint.objects.filter(contact_id=contact_id).update(text="(erased)", resolution="")
    Feedback.objects.filter(contact_id=contact_id).update(comment="")
