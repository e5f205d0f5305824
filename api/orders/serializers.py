"""Input and output serializers of the orders app: they translate, the services decide."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import EmailValidator, URLValidator
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.common.filters import MAX_ID
from api.orders.enums import ComplaintState, OrderStatus, PaymentMethod, ProductKind, Tier
from api.orders.models import (
    Complaint,
    GiftBox,
    Order,
    OrderLine,
    OrderStatusHistory,
    Partner,
    PartnerApiKey,
    Payment,
    Product,
    Refund,
    WebhookDelivery,
)
from api.orders.selectors import partner_price, payment_instructions

# Amounts fit PostgreSQL's integer columns; ids and quantities are bounded so that bad input is a 400.
MAX_XAF = 100_000_000
MAX_QUANTITY = 1000

# --- Catalog ------------------------------------------------------------------------------


class ProductInSerializer(serializers.Serializer):
    sku = serializers.CharField(max_length=40)
    name = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=ProductKind.choices, default=ProductKind.SYRUP)
    volume_ml = serializers.IntegerField(min_value=0, max_value=100_000, default=0)
    tier = serializers.ChoiceField(choices=Tier.choices, default=Tier.STANDARD)
    price_xaf = serializers.IntegerField(min_value=0, max_value=MAX_XAF)
    unit_cost_xaf = serializers.IntegerField(min_value=0, max_value=MAX_XAF, default=0)
    active = serializers.BooleanField(default=True)


class ProductSerializer(serializers.ModelSerializer):
    class Meta:
        model = Product
        fields = ["id", "sku", "name", "kind", "volume_ml", "tier", "price_xaf", "unit_cost_xaf", "active",
                  "created_at", "updated_at"]


class GiftBoxItemInSerializer(serializers.Serializer):
    product_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    quantity = serializers.IntegerField(min_value=1, max_value=MAX_QUANTITY, default=1)


class GiftBoxInSerializer(serializers.Serializer):
    sku = serializers.CharField(max_length=40)
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    tier = serializers.ChoiceField(choices=Tier.choices, default=Tier.PREMIUM)
    price_xaf = serializers.IntegerField(min_value=0, max_value=MAX_XAF)
    active = serializers.BooleanField(default=True)
    items = GiftBoxItemInSerializer(many=True)


class GiftBoxUpdateSerializer(serializers.Serializer):
    """Partial update without ``partial=True``, so that each of ``items`` stays fully validated."""

    sku = serializers.CharField(max_length=40, required=False)
    name = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    tier = serializers.ChoiceField(choices=Tier.choices, required=False)
    price_xaf = serializers.IntegerField(min_value=0, max_value=MAX_XAF, required=False)
    active = serializers.BooleanField(required=False)
    items = GiftBoxItemInSerializer(many=True, required=False, help_text="Replaces the content when given.")


class GiftBoxItemSerializer(serializers.Serializer):
    product_id = serializers.IntegerField()
    sku = serializers.CharField(source="product.sku")
    name = serializers.CharField(source="product.name")
    quantity = serializers.IntegerField()


class GiftBoxSerializer(serializers.ModelSerializer):
    items = GiftBoxItemSerializer(many=True, read_only=True)

    class Meta:
        model = GiftBox
        fields = ["id", "sku", "name", "description", "tier", "price_xaf", "active", "items", "created_at",
                  "updated_at"]


class PartnerGiftBoxSerializer(serializers.ModelSerializer):
    items = GiftBoxItemSerializer(many=True, read_only=True)
    partner_price_xaf = serializers.SerializerMethodField(help_text="Price after the partner's discount.")

    class Meta:
        model = GiftBox
        fields = ["id", "sku", "name", "description", "tier", "price_xaf", "partner_price_xaf", "items"]

    def get_partner_price_xaf(self, box: GiftBox) -> int:
        return partner_price(box.price_xaf, self.context["partner"])


# --- Orders --------------------------------------------------------------------------------


class OrderLineInSerializer(serializers.Serializer):
    product_id = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=MAX_ID)
    gift_box_id = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=MAX_ID)
    quantity = serializers.IntegerField(min_value=1, max_value=MAX_QUANTITY)
    batch = serializers.CharField(max_length=40, required=False, allow_blank=True, default="")
    best_before = serializers.DateField(required=False, allow_null=True, default=None)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if bool(attrs.get("product_id")) == bool(attrs.get("gift_box_id")):
            raise serializers.ValidationError("Give either product_id or gift_box_id.")
        return attrs


class CustomerInSerializer(serializers.Serializer):
    phone = serializers.CharField(max_length=30)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    email = serializers.EmailField(required=False, allow_blank=True)
    city = serializers.CharField(max_length=100, required=False, allow_blank=True)
    neighbourhood = serializers.CharField(max_length=100, required=False, allow_blank=True)


class RecipientInSerializer(serializers.Serializer):
    phone = serializers.CharField(max_length=30)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)


class OrderCreateSerializer(serializers.Serializer):
    contact_id = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID,
                                          help_text="The buyer; or give `customer`.")
    customer = CustomerInSerializer(required=False, help_text="The buyer by phone, found or created as a contact.")
    recipient = RecipientInSerializer(required=False, help_text="For a gift: who receives it.")
    gift_message = serializers.CharField(required=False, allow_blank=True, default="")
    lines = OrderLineInSerializer(many=True, allow_empty=False)
    payment_method = serializers.ChoiceField(choices=PaymentMethod.choices, default=PaymentMethod.CASH)
    discount_xaf = serializers.IntegerField(min_value=0, max_value=MAX_XAF, default=0)
    delivery_fee_xaf = serializers.IntegerField(min_value=0, max_value=MAX_XAF, default=0)
    delivery_address = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
    neighbourhood = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    sales_channel = serializers.CharField(max_length=40, required=False, allow_blank=True, default="")
    campaign_code = serializers.CharField(max_length=60, required=False, allow_blank=True, default="")
    coupon_code = serializers.CharField(
        max_length=60, required=False, allow_blank=True, default="",
        help_text="Any case. Its discount adds to `discount_xaf` within the goods total (not the delivery fee); "
        "an unknown or unusable code is a 400 `coupon_invalid` whose `coupon_code` error code says why: "
        "`unknown`, `expired`, `not_started`, `used_up`, `used_up_for_customer`, `below_minimum`, "
        "`wrong_segment`, `no_eligible_product`, `not_for_this_customer`; for an ambassador's referral code "
        "(the friend's discount on a first order; the ambassador becomes the buyer's referrer): "
        "`own_referral_code`, `already_referred`, `referral_loop`, `returning_customer`.")
    self_reported_source = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    is_sample = serializers.BooleanField(default=False, help_text="A free tasting sample: price zero.")
    note = serializers.CharField(required=False, allow_blank=True, default="")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs.get("contact_id") and not attrs.get("customer"):
            raise serializers.ValidationError({"contact_id": ["Give contact_id or customer."]})
        return attrs


class OrderLineSerializer(serializers.ModelSerializer):
    item_name = serializers.SerializerMethodField()

    class Meta:
        model = OrderLine
        fields = ["id", "product_id", "gift_box_id", "item_name", "quantity", "unit_price_xaf", "line_total_xaf",
                  "batch", "best_before"]

    def get_item_name(self, line: OrderLine) -> str:
        item = line.product or line.gift_box
        return item.name if item else ""


class StatusHistorySerializer(serializers.ModelSerializer):
    by = serializers.CharField(source="by.username", allow_null=True, default=None)

    class Meta:
        model = OrderStatusHistory
        fields = ["from_status", "to_status", "at", "by", "by_partner_id", "note"]


class PaymentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Payment
        fields = ["id", "amount_xaf", "method", "provider_reference", "paid_at", "created_at"]


class RefundSerializer(serializers.ModelSerializer):
    class Meta:
        model = Refund
        fields = ["id", "amount_xaf", "delivery_fee_kept", "reason", "created_at"]


class OrderListSerializer(serializers.ModelSerializer):
    contact_name = serializers.CharField(source="contact.display_name", read_only=True)

    class Meta:
        model = Order
        fields = ["id", "number", "contact_id", "contact_name", "recipient_id", "partner_id", "status",
                  "payment_status", "payment_method", "discount_xaf", "total_xaf", "paid_xaf", "refunded_xaf",
                  "is_sample",
                  "sales_channel", "campaign_code", "created_at", "updated_at"]


class OrderSerializer(OrderListSerializer):
    lines = OrderLineSerializer(many=True, read_only=True)
    history = StatusHistorySerializer(many=True, read_only=True)
    payments = PaymentSerializer(many=True, read_only=True)
    refunds = RefundSerializer(many=True, read_only=True)
    payment_instructions = serializers.SerializerMethodField(help_text="One message to send to the customer.")

    class Meta(OrderListSerializer.Meta):
        fields = [*OrderListSerializer.Meta.fields, "recipient_name", "recipient_phone", "gift_message",
                  "partner_reference", "subtotal_xaf", "coupon_discount_xaf", "delivery_fee_xaf", "sample_cost_xaf",
                  "delivery_address", "neighbourhood", "coupon_code", "self_reported_source", "note",
                  "delivered_at", "lines", "history", "payments", "refunds", "payment_instructions"]

    def get_payment_instructions(self, order: Order) -> str:
        return payment_instructions(order)["text"]


class StatusChangeSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=OrderStatus.choices)
    note = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class PaymentInSerializer(serializers.Serializer):
    amount_xaf = serializers.IntegerField(min_value=1, max_value=MAX_XAF)
    method = serializers.ChoiceField(choices=PaymentMethod.choices)
    provider_reference = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    paid_at = serializers.DateTimeField(required=False, allow_null=True, default=None)


class RefundInSerializer(serializers.Serializer):
    amount_xaf = serializers.IntegerField(min_value=1, max_value=MAX_XAF, required=False, allow_null=True, default=None,
                                          help_text="Leave out for a whole refund.")
    keep_delivery_fee = serializers.BooleanField(default=True, help_text="The guarantee keeps the moto delivery.")
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class FeedbackInSerializer(serializers.Serializer):
    rating = serializers.IntegerField(min_value=1, max_value=5)
    comment = serializers.CharField(required=False, allow_blank=True, default="")


class FeedbackSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    order_id = serializers.IntegerField()
    contact_id = serializers.IntegerField()
    rating = serializers.IntegerField()
    comment = serializers.CharField()
    created_at = serializers.DateTimeField()


class PaymentInstructionsSerializer(serializers.Serializer):
    order_number = serializers.CharField()
    amount_due_xaf = serializers.IntegerField()
    payment_method = serializers.CharField()
    orange_money_number = serializers.CharField()
    mtn_momo_number = serializers.CharField()
    text = serializers.CharField(help_text="The whole message, ready to paste in WhatsApp or an SMS.")


class BatchOrderSerializer(serializers.Serializer):
    order_number = serializers.CharField()
    ordered_at = serializers.DateTimeField()
    status = serializers.CharField()
    product_sku = serializers.CharField()
    quantity = serializers.IntegerField()
    best_before = serializers.DateField(allow_null=True)
    bought_by_contact_id = serializers.IntegerField()


class BatchCustomerSerializer(serializers.Serializer):
    contact_id = serializers.IntegerField()
    name = serializers.CharField()
    phone = serializers.CharField()
    orders = BatchOrderSerializer(many=True)


class BatchCustomersSerializer(serializers.Serializer):
    batch = serializers.CharField()
    customers = BatchCustomerSerializer(many=True)


# --- Complaints ----------------------------------------------------------------------------


class ComplaintInSerializer(serializers.Serializer):
    contact_id = serializers.IntegerField(required=False, allow_null=True, default=None, min_value=1, max_value=MAX_ID)
    order_id = serializers.IntegerField(required=False, allow_null=True, default=None, min_value=1, max_value=MAX_ID)
    channel = serializers.CharField(max_length=20, required=False, allow_blank=True, default="")
    text = serializers.CharField()
    owner_id = serializers.IntegerField(required=False, allow_null=True, default=None, min_value=1, max_value=MAX_ID)


class ComplaintUpdateSerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=ComplaintState.choices, required=False)
    owner_id = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=MAX_ID)
    resolution = serializers.CharField(required=False, allow_blank=True)


class ComplaintSerializer(serializers.ModelSerializer):
    contact_name = serializers.CharField(source="contact.display_name", read_only=True)
    order_number = serializers.CharField(source="order.number", read_only=True, default=None, allow_null=True)
    unhappy = serializers.BooleanField(read_only=True, default=False,
                                       help_text="The customer rated an order 2/5 or less.")

    class Meta:
        model = Complaint
        fields = ["id", "contact_id", "contact_name", "order_id", "order_number", "channel", "text", "state",
                  "owner_id", "resolution", "unhappy", "created_at", "updated_at", "resolved_at"]


# --- Partners ------------------------------------------------------------------------------


class _BlankOrFormatField(serializers.CharField):
    """A string that is empty or passes ``format_validator``.

    Documented as one schema whose default ``""`` is valid: ``anyOf`` of the format and the empty
    string. drf-spectacular would write a blank-allowing ``EmailField``/``URLField`` as a ``oneOf``
    that ``""`` matches twice (so a valid answer fails validation), with ``format`` beside the
    default ``""``; the validator therefore runs here instead of from ``validators``.
    """

    format_validator: Any = None

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("allow_blank", True)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data)
        if value:
            try:
                self.format_validator(value)
            except DjangoValidationError as exc:
                raise serializers.ValidationError(exc.messages) from None
        return value


@extend_schema_field({"type": "string", "maxLength": 254, "anyOf": [{"format": "email"}, {"maxLength": 0}],
                      "description": "An e-mail address, or empty when there is none."})
class PartnerEmailField(_BlankOrFormatField):
    """A partner's e-mail address or ``""``."""

    format_validator = EmailValidator()

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 254)
        super().__init__(**kwargs)


@extend_schema_field({"type": "string", "maxLength": 500, "anyOf": [{"format": "uri"}, {"maxLength": 0}],
                      "description": "An https URL that resolves to public addresses only, or empty for no "
                                     "webhooks."})
class PartnerWebhookUrlField(_BlankOrFormatField):
    """A partner's webhook URL or ``""``; the service checks where it leads."""

    format_validator = URLValidator()

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 500)
        super().__init__(**kwargs)


ONE_TIME_SIGNING_KEY_HELP = ("The webhook signing secret, shown this once (at creation and at rotation); "
                             "no list or detail answer carries it.")


class PartnerInSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    contact_person = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    email = PartnerEmailField(required=False, default="")
    phone = serializers.CharField(max_length=30, required=False, allow_blank=True, default="")
    discount_percent = serializers.IntegerField(min_value=0, max_value=90, default=0)
    webhook_url = PartnerWebhookUrlField(required=False, default="")
    webhook_secret = serializers.CharField(
        required=False, write_only=True, min_length=32, max_length=100, trim_whitespace=False,
        help_text="The partner's own signing secret (32-100 printable ASCII characters, no spaces), used as "
                  "given; leave it out to have one generated. Either way the answer shows it this once.")
    active = serializers.BooleanField(default=True)


class PartnerUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    contact_person = serializers.CharField(max_length=200, required=False, allow_blank=True)
    email = PartnerEmailField(required=False)
    phone = serializers.CharField(max_length=30, required=False, allow_blank=True)
    discount_percent = serializers.IntegerField(min_value=0, max_value=90, required=False)
    webhook_url = PartnerWebhookUrlField(required=False)
    active = serializers.BooleanField(required=False)
    rotate_secret = serializers.BooleanField(required=False, default=False,
                                             help_text="Generate a new webhook signing secret; the answer then "
                                                       "carries it in `webhook_secret`, this once. Same as POST "
                                                       "`/api/v1/partners/{id}/webhook-secret/rotate`.")


class PartnerSerializer(serializers.ModelSerializer):
    """A partner as lists and details show it: never its webhook secret."""

    email = PartnerEmailField(read_only=True)
    webhook_url = PartnerWebhookUrlField(read_only=True)

    class Meta:
        model = Partner
        fields = ["id", "name", "contact_person", "email", "phone", "discount_percent", "webhook_url",
                  "active", "created_at", "updated_at"]


class PartnerWithSecretSerializer(PartnerSerializer):
    """A partner just created or whose secret was just rotated: the one answer with the secret."""

    webhook_secret = serializers.CharField(read_only=True, help_text=ONE_TIME_SIGNING_KEY_HELP)

    class Meta(PartnerSerializer.Meta):
        fields = [*PartnerSerializer.Meta.fields, "webhook_secret"]


class PartnerUpdatedSerializer(PartnerSerializer):
    """A changed partner; carries the new secret only when the change rotated it."""

    webhook_secret = serializers.CharField(required=False, help_text="Only when `rotate_secret` was true: "
                                           + ONE_TIME_SIGNING_KEY_HELP)

    class Meta(PartnerSerializer.Meta):
        fields = [*PartnerSerializer.Meta.fields, "webhook_secret"]


class ApiKeyInSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")


class ApiKeySerializer(serializers.ModelSerializer):
    class Meta:
        model = PartnerApiKey
        fields = ["id", "partner_id", "name", "prefix", "created_at", "last_used_at", "revoked_at"]


class ApiKeyCreatedSerializer(ApiKeySerializer):
    key = serializers.CharField(help_text="Shown this once; only its hash is kept.")

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "key"]


class WebhookDeliverySerializer(serializers.ModelSerializer):
    order_number = serializers.CharField(source="order.number", default=None, read_only=True, allow_null=True)

    class Meta:
        model = WebhookDelivery
        fields = ["id", "event", "order_number", "payload", "state", "attempts", "next_attempt_at",
                  "last_attempt_at", "last_status_code", "last_error", "delivered_at", "created_at"]


class PartnerOrderLineInSerializer(serializers.Serializer):
    gift_box_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    quantity = serializers.IntegerField(min_value=1, max_value=MAX_QUANTITY)


class PartnerOrderInSerializer(serializers.Serializer):
    customer = CustomerInSerializer(help_text="Your customer, who buys the gift boxes (and receives them "
                                    "unless `recipient` is given).")
    recipient = RecipientInSerializer(required=False, help_text="For a gift from your customer to someone else: "
                                      "who receives it (delivered to `delivery_address`).")
    lines = PartnerOrderLineInSerializer(many=True, allow_empty=False)
    partner_reference = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    delivery_address = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
    neighbourhood = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    payment_method = serializers.ChoiceField(choices=PaymentMethod.choices, default=PaymentMethod.ORANGE_MONEY)
    gift_message = serializers.CharField(required=False, allow_blank=True, default="")
    coupon_code = serializers.CharField(
        max_length=60, required=False, allow_blank=True, default="",
        help_text="A coupon or an ambassador's referral code your customer gives you (any case). Its discount "
        "adds to yours within the goods total; a referral code is for the customer's first order and makes "
        "the ambassador their referrer. An unknown or unusable code is a 400 `coupon_invalid` whose "
        "`coupon_code` error code says why.")


class PartnerOrderLineSerializer(serializers.ModelSerializer):
    gift_box_name = serializers.CharField(source="gift_box.name", default="", read_only=True)

    class Meta:
        model = OrderLine
        fields = ["gift_box_id", "gift_box_name", "quantity", "unit_price_xaf", "line_total_xaf"]


def _api_time(value: datetime | None) -> str | None:
    """What DRF's ``DateTimeField`` renders: ISO 8601 in the current time zone, ``Z`` for UTC."""
    if value is None:
        return None
    text = timezone.localtime(value).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


class PartnerOrderSerializer(serializers.ModelSerializer):
    """Also the hot path of partner polling: ``to_representation`` builds the dict directly, which
    is several times cheaper than walking the declared fields (same output, checked by a test)."""

    customer_name = serializers.CharField(source="contact.display_name", read_only=True)
    customer_phone = serializers.CharField(source="contact.phone", read_only=True, default="")
    lines = PartnerOrderLineSerializer(many=True, read_only=True)

    class Meta:
        model = Order
        fields = ["number", "partner_reference", "status", "payment_status", "customer_name", "customer_phone",
                  "delivery_address", "neighbourhood", "subtotal_xaf", "discount_xaf", "delivery_fee_xaf",
                  "total_xaf", "paid_xaf", "refunded_xaf", "lines", "created_at", "updated_at"]

    def to_representation(self, order: Order) -> dict[str, Any]:
        return {
            "number": order.number, "partner_reference": order.partner_reference, "status": order.status,
            "payment_status": order.payment_status, "customer_name": order.contact.display_name,
            "customer_phone": order.contact.phone or "", "delivery_address": order.delivery_address,
            "neighbourhood": order.neighbourhood, "subtotal_xaf": order.subtotal_xaf,
            "discount_xaf": order.discount_xaf, "delivery_fee_xaf": order.delivery_fee_xaf,
            "total_xaf": order.total_xaf, "paid_xaf": order.paid_xaf, "refunded_xaf": order.refunded_xaf,
            "lines": [{"gift_box_id": line.gift_box_id, "gift_box_name": line.gift_box.name if line.gift_box else "",
                       "quantity": line.quantity, "unit_price_xaf": line.unit_price_xaf,
                       "line_total_xaf": line.line_total_xaf} for line in order.lines.all()],
            "created_at": _api_time(order.created_at), "updated_at": _api_time(order.updated_at),
        }

    def slow_representation(self, order: Order) -> dict[str, Any]:
        """The declared fields walked by DRF: what ``to_representation`` must equal (tests)."""
        return dict(super().to_representation(order))


class PartnerOrderPageSerializer(serializers.Serializer):
    results = PartnerOrderSerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True, help_text="Poll again with `cursor=` this value.")
    has_more = serializers.BooleanField(help_text="More changes are waiting: fetch the next page at once.")
