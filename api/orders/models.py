"""Catalog, orders, payments, refunds, feedback, complaints, partners and their webhooks.

Money is an integer of XAF. Totals are computed by ``services.py``, never taken from a client.
``Order.updated_at`` is stamped by the services (not ``auto_now``) so that bulk writes and the
partner polling cursor ``(updated_at, id)`` agree.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from api.orders.enums import (
    ComplaintState,
    DeliveryState,
    OrderEventDeliveryState,
    OrderEventKind,
    OrderStatus,
    PaymentMethod,
    PaymentStatus,
    ProductKind,
    Tier,
)


class Product(models.Model):
    sku = models.CharField(max_length=40, unique=True)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=ProductKind.choices, default=ProductKind.SYRUP)
    volume_ml = models.PositiveIntegerField(default=0)
    tier = models.CharField(max_length=20, choices=Tier.choices, default=Tier.STANDARD)
    price_xaf = models.PositiveIntegerField()
    unit_cost_xaf = models.PositiveIntegerField(default=0, help_text="What one unit costs to make, for margins.")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.sku})"


class GiftBox(models.Model):
    """A coffret: a named bundle of products sold as one item, often to resellers."""

    sku = models.CharField(max_length=40, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    tier = models.CharField(max_length=20, choices=Tier.choices, default=Tier.PREMIUM)
    price_xaf = models.PositiveIntegerField()
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name


class GiftBoxItem(models.Model):
    gift_box = models.ForeignKey(GiftBox, on_delete=models.CASCADE, related_name="items")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField(default=1)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["gift_box", "product"], name="giftbox_item_unique_product")]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.product_id}"


class Partner(models.Model):
    """A reseller that orders gift boxes for its own customers through the partner API."""

    name = models.CharField(max_length=200, unique=True)
    contact_person = models.CharField(max_length=200, blank=True)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=30, blank=True)
    discount_percent = models.PositiveSmallIntegerField(default=0, help_text="0-90, applied to catalog prices.")
    webhook_url = models.URLField(max_length=500, blank=True)
    webhook_secret = models.CharField(max_length=100, blank=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name


class PartnerApiKey(models.Model):
    """An API key of a partner. Only the SHA-256 of the key is stored, with a visible prefix.

    The key is 256 bits of randomness, so a fast hash is enough (nobody can brute-force it)
    and a lookup by hash costs one indexed query.
    """

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=20, unique=True)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.partner_id})"


class OrderCounter(models.Model):
    """The last order number given in a year; locked with ``SELECT … FOR UPDATE`` to hand out the next."""

    year = models.PositiveIntegerField(primary_key=True)
    last = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.year}: {self.last}"


class Order(models.Model):
    number = models.CharField(max_length=20, unique=True)
    contact = models.ForeignKey("contacts.Contact", on_delete=models.PROTECT, related_name="orders")
    recipient = models.ForeignKey("contacts.Contact", null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="gifts_received", help_text="Who receives a gift, when not the buyer.")
    recipient_name = models.CharField(max_length=200, blank=True)
    recipient_phone = models.CharField(max_length=20, blank=True)
    gift_message = models.TextField(blank=True)
    # No index of its own: order_partner_updated_idx (partner, updated_at, id) serves partner lookups.
    partner = models.ForeignKey(Partner, null=True, blank=True, on_delete=models.PROTECT, related_name="orders",
                                db_index=False)
    partner_reference = models.CharField(max_length=100, blank=True)

    status = models.CharField(max_length=20, choices=OrderStatus.choices, default=OrderStatus.PENDING)
    payment_method = models.CharField(max_length=20, choices=PaymentMethod.choices, default=PaymentMethod.CASH)
    payment_status = models.CharField(max_length=20, choices=PaymentStatus.choices, default=PaymentStatus.UNPAID)

    subtotal_xaf = models.PositiveIntegerField(default=0)
    # All the discount: the partner's or the one staff gave, plus the coupon's (``coupon_discount_xaf``).
    discount_xaf = models.PositiveIntegerField(default=0)
    coupon_discount_xaf = models.PositiveIntegerField(default=0, help_text="The part of discount_xaf the coupon gave.")
    delivery_fee_xaf = models.PositiveIntegerField(default=0)
    total_xaf = models.PositiveIntegerField(default=0)
    paid_xaf = models.PositiveIntegerField(default=0)
    refunded_xaf = models.PositiveIntegerField(default=0)

    is_sample = models.BooleanField(default=False)
    sample_cost_xaf = models.PositiveIntegerField(default=0)

    delivery_address = models.CharField(max_length=300, blank=True)
    neighbourhood = models.CharField(max_length=100, blank=True)
    sales_channel = models.CharField(max_length=40, blank=True)
    campaign_code = models.CharField(max_length=60, blank=True)
    coupon_code = models.CharField(max_length=60, blank=True)
    self_reported_source = models.CharField(max_length=200, blank=True)
    note = models.TextField(blank=True)

    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["created_at", "id"], name="order_created_idx"),
            models.Index(fields=["partner", "updated_at", "id"], name="order_partner_updated_idx"),
            models.Index(fields=["status"], name="order_status_idx"),
        ]

    def __str__(self) -> str:
        return self.number


class OrderLine(models.Model):
    """A product or a gift box, with the price copied from the catalog when ordered."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(Product, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    gift_box = models.ForeignKey(GiftBox, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField()
    unit_price_xaf = models.PositiveIntegerField()
    unit_cost_xaf = models.PositiveIntegerField(default=0)
    line_total_xaf = models.PositiveIntegerField()
    batch = models.CharField(max_length=40, blank=True, db_index=True, help_text="Production batch served from.")
    best_before = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(product__isnull=False, gift_box__isnull=True) | Q(product__isnull=True, gift_box__isnull=False)),
                name="orderline_product_xor_gift_box",
            ),
            models.CheckConstraint(condition=Q(quantity__gte=1), name="orderline_quantity_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.product_id or self.gift_box_id}"


class OrderStatusHistory(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="history")
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20)
    at = models.DateTimeField(default=timezone.now)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                           related_name="+")
    by_partner = models.ForeignKey(Partner, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    note = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["at", "id"]
        verbose_name_plural = "order status history"

    def __str__(self) -> str:
        return f"{self.order_id}: {self.from_status} -> {self.to_status}"


class Payment(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="payments")
    amount_xaf = models.PositiveIntegerField()
    method = models.CharField(max_length=20, choices=PaymentMethod.choices)
    provider_reference = models.CharField(max_length=100, blank=True)
    paid_at = models.DateTimeField(default=timezone.now)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["paid_at", "id"]
        constraints = [
            # A mobile-money transaction id is recorded once, whatever order it was typed against.
            models.UniqueConstraint(fields=["method", "provider_reference"], condition=~Q(provider_reference=""),
                                    name="payment_unique_provider_reference"),
        ]

    def __str__(self) -> str:
        return f"{self.amount_xaf} XAF ({self.method})"


class Refund(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="refunds")
    amount_xaf = models.PositiveIntegerField()
    delivery_fee_kept = models.BooleanField(default=True)
    reason = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"-{self.amount_xaf} XAF on {self.order_id}"


class Feedback(models.Model):
    order = models.OneToOneField(Order, on_delete=models.CASCADE, related_name="feedback")
    contact = models.ForeignKey("contacts.Contact", on_delete=models.CASCADE, related_name="order_feedback")
    rating = models.PositiveSmallIntegerField()
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.CheckConstraint(condition=Q(rating__gte=1, rating__lte=5), name="feedback_rating_1_5")]

    def __str__(self) -> str:
        return f"{self.rating}/5 on {self.order_id}"


class Complaint(models.Model):
    """A case opened from a complaint on any channel, with an owner and a state."""

    contact = models.ForeignKey("contacts.Contact", on_delete=models.CASCADE, related_name="complaints")
    order = models.ForeignKey(Order, null=True, blank=True, on_delete=models.SET_NULL, related_name="complaints")
    channel = models.CharField(max_length=20, blank=True)
    text = models.TextField()
    state = models.CharField(max_length=20, choices=ComplaintState.choices, default=ComplaintState.OPEN)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    resolution = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Complaint #{self.pk} ({self.state})"


class IdempotencyKey(models.Model):
    """The first answer to a POST sent with an ``Idempotency-Key``, replayed for the same key and body."""

    key = models.CharField(max_length=200)
    scope = models.CharField(max_length=60, help_text="user:<id> or partner:<id>")
    request_hash = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField()
    response_body = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["scope", "key"], name="idempotency_unique_scope_key")]

    def __str__(self) -> str:
        return f"{self.scope}/{self.key}"


class WebhookDelivery(models.Model):
    """An outbox row: one event to POST to a partner, written in the transaction of the change."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="webhook_deliveries")
    order = models.ForeignKey(Order, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    event = models.CharField(max_length=60)
    payload = models.JSONField()
    state = models.CharField(max_length=20, choices=DeliveryState.choices, default=DeliveryState.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["state", "next_attempt_at"], name="webhook_due_idx"),
            models.Index(fields=["partner", "created_at"], name="webhook_partner_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event} -> {self.partner_id} ({self.state})"


class OrderEventRecord(models.Model):
    """An order event (``api.orders.events.OrderEvent``), written in the transaction of the change.

    ``order_id`` is a plain number, not a foreign key: the event is a fact about an order at a time
    and outlives nothing it points at (orders are never deleted, but the row must not be either).
    """

    kind = models.CharField(max_length=30, choices=OrderEventKind.choices)
    order_id = models.BigIntegerField(db_index=True)
    payload = models.JSONField(help_text="The OrderEvent's fields, as JSON.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} of order #{self.order_id}"


class OrderEventDelivery(models.Model):
    """One order event to hand to one listener, by the listener's stable key; claimed by workers."""

    event = models.ForeignKey(OrderEventRecord, on_delete=models.CASCADE, related_name="deliveries")
    listener = models.CharField(max_length=60, help_text="The key the listener registered with.")
    state = models.CharField(max_length=20, choices=OrderEventDeliveryState.choices,
                             default=OrderEventDeliveryState.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_error = models.CharField(max_length=300, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["event", "listener"], name="order_event_delivery_unique")]
        indexes = [models.Index(fields=["state", "next_attempt_at"], name="order_event_due_idx")]

    def __str__(self) -> str:
        return f"event #{self.event_id} -> {self.listener} ({self.state})"
