"""Orders: numbers, creation with lines and totals, the status machine, and the events they emit.

Every write runs in ``transaction.atomic()`` (a savepoint inside a request, which is one transaction
with ``ATOMIC_REQUESTS``) and validates before it writes. Side effects are explicit and written in
the same transaction: an order event (``api.orders.events``) for other apps, and a webhook outbox row
for the order's partner.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from api.common.businesstime import business_localtime
from api.common.errors import ConflictError, NotFoundError, field_error
from api.contacts.selectors import contact_find, contact_id_resolve, contact_is_live, contact_referrer_id
from api.contacts.services import contact_upsert, referral_code_apply
from api.orders import conf
from api.orders.coupons import (
    CouponDiscount,
    CouponLine,
    CouponRefused,
    CouponRequest,
    coupon_refusal_error,
    coupon_resolve,
)
from api.orders.enums import OrderEventKind, OrderStatus, PaymentMethod, PaymentStatus
from api.orders.events import OrderEvent, order_event_emit
from api.orders.models import GiftBox, Order, OrderCounter, OrderLine, OrderStatusHistory, Partner, Product
from api.orders.services._shared import invalid
from api.orders.services.webhooks import webhook_enqueue

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


def order_number_next(*, at: datetime | None = None) -> str:
    """Hand out the next ``CF-YYYY-NNNNNN`` of the business year of ``at``.

    Assumes a surrounding transaction: the year's counter row is locked with ``SELECT … FOR
    UPDATE`` until it commits, so concurrent orders get distinct, gap-free numbers (a rolled
    back order gives its number back). The row is created with ``INSERT … ON CONFLICT DO
    NOTHING`` so that the first orders of a year do not race on its creation.
    """
    year = business_localtime(at or timezone.now()).year
    OrderCounter.objects.bulk_create([OrderCounter(year=year, last=0)], ignore_conflicts=True)
    counter = OrderCounter.objects.select_for_update().get(year=year)
    counter.last += 1
    counter.save(update_fields=["last"])
    return f"{conf.ORDER_NUMBER_PREFIX}-{year}-{counter.last:06d}"


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
    """Check each line against the catalog and price it (zero for a sample)."""
    if not lines:
        raise invalid("lines", "An order has at least one line.", "required")
    product_ids = {line["product_id"] for line in lines if line.get("product_id")}
    box_ids = {line["gift_box_id"] for line in lines if line.get("gift_box_id")}
    products = Product.objects.in_bulk(product_ids)
    boxes = GiftBox.objects.prefetch_related("items__product").in_bulk(box_ids)
    priced = []
    for index, line in enumerate(lines):
        where = f"lines[{index}]"
        product_id, box_id = line.get("product_id"), line.get("gift_box_id")
        if bool(product_id) == bool(box_id):
            raise invalid(where, "Give either product_id or gift_box_id.", "invalid")
        quantity = int(line.get("quantity") or 0)
        if quantity < 1:
            raise invalid(f"{where}.quantity", "Ensure this value is greater than or equal to 1.", "min_value")
        if product_id:
            if gift_boxes_only:
                raise invalid(f"{where}.product_id", "Partners order gift boxes only.", "invalid")
            product = products.get(product_id)
            if product is None:
                raise invalid(f"{where}.product_id", f"No product #{product_id}.", "does_not_exist")
            if not product.active:
                raise invalid(f"{where}.product_id", f"{product.name} is not sold any more.", "inactive")
            priced.append(_PricedLine(product, None, quantity, 0 if is_sample else product.price_xaf,
                                      product.unit_cost_xaf, line.get("batch") or "", line.get("best_before")))
        else:
            box = boxes.get(box_id)
            if box is None:
                raise invalid(f"{where}.gift_box_id", f"No gift box #{box_id}.", "does_not_exist")
            if not box.active:
                raise invalid(f"{where}.gift_box_id", f"{box.name} is not sold any more.", "inactive")
            if line.get("batch") or line.get("best_before"):
                raise invalid(f"{where}.batch", "Batches are recorded on product lines.", "invalid")
            priced.append(_PricedLine(None, box, quantity, 0 if is_sample else box.price_xaf,
                                      _gift_box_unit_cost(box), "", None))
    return priced


def payment_status_of(total: int, paid: int, refunded: int) -> str:
    """Unpaid, partial, paid, or refunded as soon as any amount was given back (``refunded_xaf`` says how much)."""
    if refunded > 0:
        return PaymentStatus.REFUNDED
    if paid >= total:
        return PaymentStatus.PAID
    return PaymentStatus.PARTIAL if paid > 0 else PaymentStatus.UNPAID


def order_event_write(order: Order, kind: OrderEventKind, *, previous_status: str | None = None,
                      rating: int | None = None, **data: Any) -> None:
    """Write the ``kind`` event of ``order`` in the caller's transaction (``data``: JSON values)."""
    order_event_emit(OrderEvent(
        kind=kind, order_id=order.pk, order_number=order.number, contact_id=order.contact_id, status=order.status,
        previous_status=previous_status, occurred_at=timezone.now(), total_xaf=order.total_xaf,
        is_sample=order.is_sample, sample_cost_xaf=order.sample_cost_xaf, campaign_code=order.campaign_code,
        coupon_code=order.coupon_code, sales_channel=order.sales_channel, partner_id=order.partner_id,
        rating=rating, data=data,
    ))


def _buyer_id(*, contact_id: int | None, customer: dict[str, Any] | None, partner: Partner | None,
              sales_channel: str, self_reported_source: str) -> int:
    """The buyer: the live contact ``contact_id``, or ``customer`` upserted as a contact."""
    if contact_id is not None:
        if not contact_is_live(contact_id):
            raise invalid("contact_id", f"No contact #{contact_id}.", "does_not_exist")
        return contact_id
    if customer:
        return contact_upsert(
            phone=customer.get("phone"), email=customer.get("email") or None, name=customer.get("name") or None,
            city=customer.get("city") or None, neighbourhood=customer.get("neighbourhood") or None,
            self_reported_source=self_reported_source or None,
            acquisition_channel=(f"partner:{partner.pk}" if partner else sales_channel) or None,
        ).contact.pk
    raise invalid("contact_id", "Give contact_id or customer.", "required")


def _recipient_contact(*, buyer_id: int, name: str, phone: str) -> int:
    """The recipient of a gift as a contact: an existing one is left as it is, a new one is a
    ``suspect`` referred by the buyer."""
    try:
        return contact_upsert(phone=phone, create=False).contact.pk
    except NotFoundError:
        result = contact_upsert(phone=phone, name=name or None, referred_by_id=buyer_id,
                                acquisition_channel="gift")
        return result.contact.pk


def _gift_recipient(recipient: dict[str, Any] | None, *, buyer_id: int) -> tuple[int | None, str, str]:
    """``(recipient contact id, name, phone)`` of a gift; ``(None, "", "")`` when the buyer keeps it."""
    if not (recipient and recipient.get("phone")):
        return None, "", ""
    recipient_id = _recipient_contact(buyer_id=buyer_id, name=recipient.get("name") or "",
                                      phone=recipient["phone"])
    if recipient_id == buyer_id:
        return None, "", ""
    found = contact_find(recipient_id)
    return recipient_id, recipient.get("name") or (found.name if found else ""), (found.phone if found else "") or ""


@dataclass(frozen=True)
class _Amounts:
    subtotal_xaf: int
    discount_xaf: int
    delivery_fee_xaf: int
    coupon_discount_xaf: int = 0

    @property
    def total_xaf(self) -> int:
        return self.subtotal_xaf - self.discount_xaf + self.delivery_fee_xaf


def _amounts(priced: list[_PricedLine], *, is_sample: bool, partner: Partner | None, discount_xaf: int,
             delivery_fee_xaf: int) -> _Amounts:
    """Subtotal, discount and delivery fee, checked: a sample pays neither, a partner gets its discount."""
    subtotal = sum(p.unit_price_xaf * p.quantity for p in priced)
    if subtotal > MAX_ORDER_XAF:
        raise invalid("lines", f"An order is at most {MAX_ORDER_XAF} XAF; split it.", "max_value")
    if is_sample:
        discount_xaf = delivery_fee_xaf = 0
    elif partner is not None:
        discount_xaf = subtotal * partner.discount_percent // 100
    if discount_xaf < 0 or discount_xaf > subtotal:
        raise invalid("discount_xaf", f"The discount must be between 0 and the subtotal ({subtotal}).")
    if delivery_fee_xaf < 0:
        raise invalid("delivery_fee_xaf", "Must be zero or more.", "min_value")
    return _Amounts(subtotal, discount_xaf, delivery_fee_xaf)


def _with_coupon(amounts: _Amounts, coupon_discount_xaf: int) -> _Amounts:
    """``amounts`` with the coupon's discount added to the other one, the whole never above the goods
    total: the delivery fee is never discounted."""
    coupon_part = max(0, min(coupon_discount_xaf, amounts.subtotal_xaf - amounts.discount_xaf))
    return _Amounts(amounts.subtotal_xaf, amounts.discount_xaf + coupon_part, amounts.delivery_fee_xaf, coupon_part)


def _coupon_priced(coupon_code: str, *, buyer_id: int, priced: list[_PricedLine], is_sample: bool,
                   at: datetime) -> CouponDiscount:
    """The coupon typed on an order: its code as stored, its discount, the referrer when it is a personal
    referral code; a refused one is a 400.

    No code, no discount. A free sample keeps its code as typed (for attribution) without asking
    anyone: there is nothing to discount and it is no use of the coupon.
    """
    typed = (coupon_code or "").strip()
    if not typed or is_sample:
        return CouponDiscount(code=typed, discount_xaf=0)
    code = typed.upper()
    request = CouponRequest(
        code=code, contact_id=buyer_id, at=at,
        lines=tuple(CouponLine(p.product.pk if p.product else None, p.gift_box.pk if p.gift_box else None,
                               p.unit_price_xaf * p.quantity) for p in priced),
        goods_total_xaf=sum(p.unit_price_xaf * p.quantity for p in priced))
    try:
        found = coupon_resolve(request)
    except CouponRefused as refused:
        raise coupon_refusal_error(refused.reason, code) from None
    return found


def _coupon_referral_record(found: CouponDiscount, *, buyer_id: int, partner: Partner | None) -> None:
    """A referral code typed as the coupon makes its owner the buyer's referrer (``contacts``' rule:
    never oneself, never a loop). When another referrer got there first (a simultaneous bot start, say),
    the friend's discount is not theirs: the order is refused like any code of another referrer."""
    if found.referrer_id is None:
        return
    applied = referral_code_apply(contact_id=buyer_id, code=found.code,
                                  via="partner_order" if partner is not None else "order_coupon")
    if not applied and contact_id_resolve(contact_referrer_id(buyer_id) or 0) != found.referrer_id:
        raise coupon_refusal_error("already_referred", found.code)


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
    order holds gift boxes only and gets the partner's discount. ``coupon_code`` is priced by the
    app that owns the code (``api.orders.coupons``): its discount adds to the other one, within
    the goods total; an unknown or unusable code is a 400 ``coupon_invalid``. An ambassador's personal
    referral code is a coupon too: the friend's discount on a first order, and the ambassador becomes
    the buyer's referrer (``api.orders.coupons.referral_coupon_discount``). Emits ``created``.
    """
    with transaction.atomic():
        now = timezone.now()
        buyer_id = _buyer_id(contact_id=contact_id, customer=customer, partner=partner, sales_channel=sales_channel,
                             self_reported_source=self_reported_source)
        priced = _price_lines(lines, is_sample=is_sample, gift_boxes_only=partner is not None)
        amounts = _amounts(priced, is_sample=is_sample, partner=partner, discount_xaf=discount_xaf,
                           delivery_fee_xaf=delivery_fee_xaf)
        if payment_method not in PaymentMethod.values:
            raise invalid("payment_method", f"Choose one of {', '.join(PaymentMethod.values)}.", "invalid_choice")
        coupon = _coupon_priced(coupon_code, buyer_id=buyer_id, priced=priced, is_sample=is_sample, at=now)
        _coupon_referral_record(coupon, buyer_id=buyer_id, partner=partner)
        coupon_code = coupon.code
        amounts = _with_coupon(amounts, coupon.discount_xaf)
        recipient_id, recipient_name, recipient_phone = _gift_recipient(recipient, buyer_id=buyer_id)

        order = Order.objects.create(
            number=order_number_next(at=now), contact_id=buyer_id, recipient_id=recipient_id,
            recipient_name=recipient_name, recipient_phone=recipient_phone, gift_message=gift_message,
            partner=partner, partner_reference=partner_reference, status=OrderStatus.PENDING,
            payment_method=payment_method, payment_status=payment_status_of(amounts.total_xaf, 0, 0),
            subtotal_xaf=amounts.subtotal_xaf, discount_xaf=amounts.discount_xaf,
            coupon_discount_xaf=amounts.coupon_discount_xaf,
            delivery_fee_xaf=amounts.delivery_fee_xaf, total_xaf=amounts.total_xaf, is_sample=is_sample,
            sample_cost_xaf=sum(p.unit_cost_xaf * p.quantity for p in priced) if is_sample else 0,
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
        webhook_enqueue(order, "order.created", previous_status=None)
        order_event_write(order, OrderEventKind.CREATED)
        return order


def order_locked(order_id: int) -> Order:
    """The order ``order_id`` locked until the caller's transaction ends; a 404 when there is none."""
    order = Order.objects.select_for_update().filter(pk=order_id).first()
    if order is None:
        raise NotFoundError(f"No order #{order_id}.")
    return order


def order_transition(order: Order, to_status: str, *, actor: Any, partner: Partner | None, note: str,
                     at: datetime) -> str:
    """Move ``order`` (locked by the caller) to ``to_status``; history row, outbox row, event.

    Returns the previous status; a move the machine does not allow is a 409 naming the allowed ones.
    """
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
    webhook_enqueue(order, "order.status_changed", previous_status=previous)
    order_event_write(order, OrderEventKind.STATUS_CHANGED, previous_status=previous)
    return previous


def order_status_change(*, order_id: int, status: str, actor: Any = None, partner: Partner | None = None,
                        note: str = "") -> Order:
    """Move an order along the status machine; any other move is a 409 naming the allowed ones.

    Takes the order row lock, so two simultaneous moves are serialised and the second one is
    judged against the first one's result. ``refunded`` goes through ``order_refund``.
    """
    if status not in OrderStatus.values:
        raise invalid("status", f"Choose one of {', '.join(OrderStatus.values)}.", "invalid_choice")
    with transaction.atomic():
        order = order_locked(order_id)
        if status == OrderStatus.REFUNDED and order.status == OrderStatus.DELIVERED:
            raise ConflictError("Record a refund (POST …/refunds) to refund an order.", code="use_refund_endpoint",
                                extra={"current": order.status, "allowed": list(TRANSITIONS[order.status])})
        order_transition(order, status, actor=actor, partner=partner, note=note, at=timezone.now())
        return order
