"""Thin views of the orders app: staff back office under /api/v1/ and the partner API under
/api/v1/partner/ (``Authorization: Api-Key <key>``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from api.common.errors import ApplicationError, NotFoundError, field_error
from api.common.filters import query_bool, query_choice, query_datetime, query_int
from api.common.pagination import StrictPageNumberPagination
from api.common.serializers import ErrorSerializer
from api.orders import conf, documents, selectors, services
from api.orders.auth import ApiKeyAuthentication, IsPartner, PartnerKeyThrottle, request_partner
from api.orders.enums import ComplaintState
from api.orders.filters import OrderFilter
from api.orders.models import (
    Complaint,
    GiftBox,
    Order,
    Partner,
    PartnerApiKey,
    Product,
    WebhookDelivery,
)
from api.orders.selectors import PollPosition
from api.orders.serializers import (
    ApiKeyCreatedSerializer,
    ApiKeyInSerializer,
    ApiKeySerializer,
    BatchCustomersSerializer,
    ComplaintInSerializer,
    ComplaintSerializer,
    ComplaintUpdateSerializer,
    FeedbackInSerializer,
    FeedbackSerializer,
    GiftBoxInSerializer,
    GiftBoxSerializer,
    GiftBoxUpdateSerializer,
    OrderCreateSerializer,
    OrderListSerializer,
    OrderSerializer,
    PartnerGiftBoxSerializer,
    PartnerInSerializer,
    PartnerOrderInSerializer,
    PartnerOrderPageSerializer,
    PartnerOrderSerializer,
    PartnerSerializer,
    PartnerUpdatedSerializer,
    PartnerUpdateSerializer,
    PartnerWithSecretSerializer,
    PaymentInSerializer,
    PaymentInstructionsSerializer,
    PaymentSerializer,
    ProductInSerializer,
    ProductSerializer,
    RefundInSerializer,
    RefundSerializer,
    StatusChangeSerializer,
    WebhookDeliverySerializer,
)

# --- Examples (documentation only) -----------------------------------------------------------

T = "2026-11-25T09:00:00+01:00"
PRODUCT = {"id": 3, "sku": "SIR-GING-50", "name": "Sirop de gingembre 50 cl", "kind": "syrup", "volume_ml": 500,
           "tier": "standard", "price_xaf": 3500, "unit_cost_xaf": 1200, "active": True, "created_at": T,
           "updated_at": T}
GIFT_BOX = {"id": 2, "sku": "COF-DECOUVERTE", "name": "Coffret Découverte", "description": "Trois sirops",
            "tier": "premium", "price_xaf": 15000, "active": True,
            "items": [{"product_id": 3, "sku": "SIR-GING-50", "name": "Sirop de gingembre 50 cl", "quantity": 2}],
            "created_at": T, "updated_at": T}
ORDER_IN = {"customer": {"phone": "+237690112233", "name": "Mireille Ngo"},
            "lines": [{"product_id": 3, "quantity": 2, "batch": "B2026-11-A", "best_before": "2027-05-31"}],
            "payment_method": "orange_money", "delivery_fee_xaf": 1000, "delivery_address": "Rue 1.234, Bonapriso",
            "neighbourhood": "Bonapriso", "sales_channel": "whatsapp", "campaign_code": "NOEL26",
            "self_reported_source": "Facebook"}
ORDER_LIST_ITEM = {"id": 41, "number": "CF-2026-000123", "contact_id": 7, "contact_name": "Mireille Ngo",
                   "recipient_id": None, "partner_id": None, "status": "pending", "payment_status": "unpaid",
                   "payment_method": "orange_money", "discount_xaf": 0, "total_xaf": 8000, "paid_xaf": 0,
                   "refunded_xaf": 0, "is_sample": False, "sales_channel": "whatsapp", "campaign_code": "NOEL26", "created_at": T,
                   "updated_at": T}
INSTRUCTIONS = ("Confiotes – commande CF-2026-000123\nMontant à payer : 8 000 FCFA\nOrange Money : envoyez 8 000 FCFA "
                "au +237 690 00 00 01 (Confiotes)\nMTN MoMo : envoyez 8 000 FCFA au +237 670 00 00 01 (Confiotes)\n"
                "Motif du paiement : CF-2026-000123\nMerci de nous renvoyer l'identifiant de la transaction.")
ORDER = {**ORDER_LIST_ITEM, "recipient_name": "", "recipient_phone": "", "gift_message": "", "partner_reference": "",
         "subtotal_xaf": 7000, "coupon_discount_xaf": 0, "delivery_fee_xaf": 1000, "sample_cost_xaf": 0,
         "delivery_address": "Rue 1.234, Bonapriso", "neighbourhood": "Bonapriso", "coupon_code": "",
         "self_reported_source": "Facebook", "note": "", "delivered_at": None,
         "lines": [{"id": 90, "product_id": 3, "gift_box_id": None, "item_name": "Sirop de gingembre 50 cl",
                    "quantity": 2, "unit_price_xaf": 3500, "line_total_xaf": 7000, "batch": "B2026-11-A",
                    "best_before": "2027-05-31"}],
         "history": [{"from_status": "", "to_status": "pending", "at": T, "by": "aicha", "by_partner_id": None,
                      "note": "created"}],
         "payments": [], "refunds": [], "payment_instructions": INSTRUCTIONS}
PAYMENT = {"id": 5, "amount_xaf": 8000, "method": "orange_money", "provider_reference": "MP261125.0900.A12345",
           "paid_at": T, "created_at": T}
PARTNER = {"id": 4, "name": "Épicerie Fine Akwa", "contact_person": "Serge Kamga", "email": "serge@example.cm",
           "phone": "+237699000111", "discount_percent": 15, "webhook_url": "https://akwa.example.cm/hooks/confiotes",
           "active": True, "created_at": T, "updated_at": T}
PARTNER_WITH_SECRET = {**PARTNER, "webhook_secret": "Jq3v0-8mZ0bW7yQp2cRkT1sLx9aN4eUh6fGiVdOo5Ys"}
API_KEY = {"id": 9, "partner_id": 4, "name": "boutique", "prefix": "cfk_1a2b3c4d", "created_at": T,
           "last_used_at": None, "revoked_at": None}
DELIVERY = {"id": 77, "event": "order.status_changed", "order_number": "CF-2026-000123",
            "payload": {"event_id": "1f0c…", "event": "order.status_changed", "occurred_at": T,
                        "data": {"number": "CF-2026-000123", "status": "confirmed", "previous_status": "pending"}},
            "state": "pending", "attempts": 2, "next_attempt_at": T, "last_attempt_at": T, "last_status_code": 503,
            "last_error": "HTTP 503: busy", "delivered_at": None, "created_at": T}
PARTNER_ORDER = {"number": "CF-2026-000124", "partner_reference": "AKWA-5531", "status": "confirmed",
                 "payment_status": "unpaid", "customer_name": "Brice Etoa", "customer_phone": "+237677445566",
                 "delivery_address": "Akwa, rue Joss", "neighbourhood": "Akwa", "subtotal_xaf": 30000,
                 "discount_xaf": 4500, "delivery_fee_xaf": 0, "total_xaf": 25500, "paid_xaf": 0, "refunded_xaf": 0,
                 "lines": [{"gift_box_id": 2, "gift_box_name": "Coffret Découverte", "quantity": 2,
                            "unit_price_xaf": 15000, "line_total_xaf": 30000}],
                 "created_at": T, "updated_at": T}
COMPLAINT = {"id": 12, "contact_id": 7, "contact_name": "Mireille Ngo", "order_id": 41,
             "order_number": "CF-2026-000123", "channel": "whatsapp", "text": "Le sirop est arrivé tiède et ouvert.",
             "state": "open", "owner_id": 2, "resolution": "", "unhappy": True, "created_at": T, "updated_at": T,
             "resolved_at": None}


def req(value: Any, name: str = "Request") -> OpenApiExample:
    return OpenApiExample(name, value=value, request_only=True)


def res(value: Any, name: str = "Response", status_codes: list[str] | None = None) -> OpenApiExample:
    return OpenApiExample(name, value=value, response_only=True, status_codes=status_codes or ["200", "201"])


E = ErrorSerializer
IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key", OpenApiTypes.STR, OpenApiParameter.HEADER, required=False,
    description="Retry-safe creation: the same key with the same body returns the first answer (kept 24 h or "
                "more); the same key with another body is a 422.")


class ComplaintPagination(StrictPageNumberPagination):
    """Complaints are sorted by urgency, not by a unique column, so they page by number."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


def _idempotent(request: Request, scope: str, create: Callable[[], Response]) -> Response:
    """Honour ``Idempotency-Key``: replay the stored answer, refuse another body, store a new answer."""
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key:
        return create()
    if len(key) > 200:
        raise ApplicationError("Idempotency-Key: at most 200 characters.", code="validation_error",
                               errors=[field_error("Idempotency-Key", "At most 200 characters.", "max_length")])
    request_hash = services.idempotency_request_hash(request.data)
    stored = services.idempotency_replay(scope=scope, key=key, request_hash=request_hash)
    if stored is not None:
        return Response(stored.response_body, status=stored.response_status, headers={"Idempotent-Replayed": "true"})
    response = create()
    services.idempotency_store(scope=scope, key=key, request_hash=request_hash, status=response.status_code,
                               body=response.data)
    return response


def _int_param(request: Request, name: str, default: int, maximum: int) -> int:
    return query_int(request.query_params, name, default=default, minimum=1, maximum=maximum)


# --- Catalog -----------------------------------------------------------------------------------


class ProductListCreateView(GenericAPIView):
    queryset = Product.objects.all()
    serializer_class = ProductSerializer

    @extend_schema(summary="List products", responses=ProductSerializer(many=True),
                   parameters=[OpenApiParameter("active", OpenApiTypes.BOOL, description="Only (in)active ones.")],
                   examples=[res(PRODUCT)], tags=["catalog"])
    def get(self, request: Request) -> Response:
        qs = self.get_queryset()
        active = query_bool(request.query_params, "active")
        if active is not None:
            qs = qs.filter(active=active)
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(ProductSerializer(page, many=True).data)

    @extend_schema(summary="Add a product", request=ProductInSerializer,
                   responses={201: ProductSerializer, 409: E},
                   examples=[req({k: PRODUCT[k] for k in ("sku", "name", "kind", "volume_ml", "tier", "price_xaf",
                                                          "unit_cost_xaf")}), res(PRODUCT)], tags=["catalog"])
    def post(self, request: Request) -> Response:
        data = ProductInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        product = services.product_create(**data.validated_data)
        return Response(ProductSerializer(product).data, status=status.HTTP_201_CREATED)


class ProductDetailView(GenericAPIView):
    queryset = Product.objects.all()
    serializer_class = ProductSerializer

    @extend_schema(summary="Get a product", responses=ProductSerializer, examples=[res(PRODUCT)], tags=["catalog"])
    def get(self, request: Request, pk: int) -> Response:
        return Response(ProductSerializer(self.get_object()).data)

    @extend_schema(summary="Change a product (price, cost, active…)", request=ProductInSerializer(partial=True),
                   responses={200: ProductSerializer, 409: E},
                   examples=[req({"price_xaf": 3800, "active": False}), res(PRODUCT)], tags=["catalog"])
    def patch(self, request: Request, pk: int) -> Response:
        data = ProductInSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        fields = {k: v for k, v in data.validated_data.items() if k in request.data}
        return Response(ProductSerializer(services.product_update(product_id=pk, **fields)).data)


class GiftBoxListCreateView(GenericAPIView):
    queryset = GiftBox.objects.all()
    serializer_class = GiftBoxSerializer

    @extend_schema(summary="List gift boxes", responses=GiftBoxSerializer(many=True), examples=[res(GIFT_BOX)],
                   tags=["catalog"])
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(selectors.gift_box_list())
        return self.get_paginated_response(GiftBoxSerializer(page, many=True).data)

    @extend_schema(summary="Add a gift box (coffret)", request=GiftBoxInSerializer,
                   responses={201: GiftBoxSerializer, 409: E},
                   examples=[req({"sku": "COF-DECOUVERTE", "name": "Coffret Découverte", "tier": "premium",
                                  "price_xaf": 15000, "items": [{"product_id": 3, "quantity": 2}]}), res(GIFT_BOX)],
                   tags=["catalog"])
    def post(self, request: Request) -> Response:
        data = GiftBoxInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        box = services.gift_box_create(**data.validated_data)
        return Response(GiftBoxSerializer(selectors.gift_box_list().get(pk=box.pk)).data, status=201)


class GiftBoxDetailView(GenericAPIView):
    queryset = GiftBox.objects.all()
    serializer_class = GiftBoxSerializer

    @extend_schema(summary="Get a gift box", responses=GiftBoxSerializer, examples=[res(GIFT_BOX)], tags=["catalog"])
    def get(self, request: Request, pk: int) -> Response:
        return Response(GiftBoxSerializer(self.get_object()).data)

    @extend_schema(summary="Change a gift box", request=GiftBoxUpdateSerializer, responses=GiftBoxSerializer,
                   examples=[req({"price_xaf": 16000}), res(GIFT_BOX)], tags=["catalog"])
    def patch(self, request: Request, pk: int) -> Response:
        data = GiftBoxUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        box = services.gift_box_update(gift_box_id=pk, **data.validated_data)
        return Response(GiftBoxSerializer(selectors.gift_box_list().get(pk=box.pk)).data)


# --- Orders ------------------------------------------------------------------------------------


class OrderListCreateView(GenericAPIView):
    queryset = Order.objects.all()
    serializer_class = OrderListSerializer
    filterset_class = OrderFilter

    @extend_schema(summary="List orders, newest first", responses=OrderListSerializer(many=True),
                   examples=[res(ORDER_LIST_ITEM)], tags=["orders"])
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.filter_queryset(selectors.order_list()))
        return self.get_paginated_response(OrderListSerializer(page, many=True).data)

    @extend_schema(
        summary="Create an order (totals and number computed by the server)",
        description="The buyer is `contact_id` or `customer` (found or created by phone). `recipient` makes it a "
        "gift: the recipient becomes a contact referred by the buyer. `is_sample` makes a free tasting sample. "
        "Send `Idempotency-Key` to retry safely.",
        request=OrderCreateSerializer, parameters=[IDEMPOTENCY_HEADER],
        responses={201: OrderSerializer, 409: E, 422: OpenApiResponse(E, description="Idempotency-Key reused with "
                                                                                     "another body.")},
        examples=[req(ORDER_IN), res(ORDER)], tags=["orders"])
    def post(self, request: Request) -> Response:
        def create() -> Response:
            data = OrderCreateSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            order = services.order_create(**data.validated_data, actor=request.user)
            return Response(OrderSerializer(selectors.order_get(order_id=order.pk)).data, status=201)

        return _idempotent(request, f"user:{request.user.pk}", create)


class OrderDetailView(GenericAPIView):
    queryset = Order.objects.all()
    serializer_class = OrderSerializer

    @extend_schema(summary="Get an order with lines, history, payments and refunds", responses=OrderSerializer,
                   examples=[res(ORDER)], tags=["orders"])
    def get(self, request: Request, pk: int) -> Response:
        return Response(OrderSerializer(selectors.order_get(order_id=pk)).data)


class OrderStatusView(GenericAPIView):
    queryset = Order.objects.all()
    serializer_class = StatusChangeSerializer

    @extend_schema(
        summary="Move an order to another status",
        description="pending → confirmed → preparing → ready → out_for_delivery → delivered; cancelled from the "
        "first three. Anything else is a 409 naming the allowed statuses (`allowed`). Refund through `/refunds`.",
        request=StatusChangeSerializer, responses={200: OrderSerializer, 409: E},
        examples=[req({"status": "confirmed", "note": "Payée par OM"}), res(ORDER)], tags=["orders"])
    def post(self, request: Request, pk: int) -> Response:
        data = StatusChangeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.order_status_change(order_id=pk, actor=request.user, **data.validated_data)
        return Response(OrderSerializer(selectors.order_get(order_id=pk)).data)


class OrderPaymentsView(GenericAPIView):
    queryset = Order.objects.all()
    serializer_class = PaymentSerializer
    pagination_class = None

    @extend_schema(summary="List the payments of an order", responses=PaymentSerializer(many=True),
                   examples=[res([PAYMENT])], tags=["orders"])
    def get(self, request: Request, pk: int) -> Response:
        return Response(PaymentSerializer(selectors.order_get(order_id=pk).payments.all(), many=True).data)

    @extend_schema(summary="Record a payment (cash or mobile money)",
                   description="The payment status follows: unpaid, partial, paid. A provider reference is "
                   "recorded once (409 the second time); more than the amount due is refused.",
                   request=PaymentInSerializer, responses={201: PaymentSerializer, 409: E},
                   examples=[req({"amount_xaf": 8000, "method": "orange_money",
                                  "provider_reference": "MP261125.0900.A12345"}), res(PAYMENT)], tags=["orders"])
    def post(self, request: Request, pk: int) -> Response:
        data = PaymentInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        payment = services.payment_record(order_id=pk, actor=request.user, **data.validated_data)
        return Response(PaymentSerializer(payment).data, status=201)


class OrderRefundsView(GenericAPIView):
    queryset = Order.objects.all()
    serializer_class = RefundSerializer

    @extend_schema(summary="Refund a delivered order, wholly or partly",
                   description="Without `amount_xaf`, everything left is refunded except the moto delivery fee "
                   "(`keep_delivery_fee`, true by default, as the guarantee says). The order becomes `refunded`.",
                   request=RefundInSerializer, responses={201: RefundSerializer, 409: E},
                   examples=[req({"reason": "N'a pas aimé le goût", "keep_delivery_fee": True}),
                             res({"id": 3, "amount_xaf": 7000, "delivery_fee_kept": True,
                                  "reason": "N'a pas aimé le goût", "created_at": T})], tags=["orders"])
    def post(self, request: Request, pk: int) -> Response:
        data = RefundInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        refund = services.order_refund(order_id=pk, actor=request.user, **data.validated_data)
        return Response(RefundSerializer(refund).data, status=201)


class OrderFeedbackView(GenericAPIView):
    queryset = Order.objects.all()
    serializer_class = FeedbackSerializer

    @extend_schema(summary="Record the customer's rating of a delivered order", request=FeedbackInSerializer,
                   responses={201: FeedbackSerializer, 409: E},
                   examples=[req({"rating": 5, "comment": "Le bissap est divin !"}),
                             res({"id": 8, "order_id": 41, "contact_id": 7, "rating": 5,
                                  "comment": "Le bissap est divin !", "created_at": T})], tags=["orders"])
    def post(self, request: Request, pk: int) -> Response:
        data = FeedbackInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        feedback = services.feedback_record(order_id=pk, **data.validated_data)
        return Response(FeedbackSerializer(feedback).data, status=201)


class OrderPaymentInstructionsView(GenericAPIView):
    queryset = Order.objects.all()
    serializer_class = PaymentInstructionsSerializer

    @extend_schema(summary="Payment instructions to send in one message",
                   description="Order number, amount due and the Orange Money / MTN MoMo merchant numbers, as one "
                   "text ready to paste into WhatsApp or an SMS.", responses=PaymentInstructionsSerializer,
                   examples=[res({"order_number": "CF-2026-000123", "amount_due_xaf": 8000,
                                  "payment_method": "orange_money", "orange_money_number": "+237 690 00 00 01",
                                  "mtn_momo_number": "+237 670 00 00 01", "text": INSTRUCTIONS})], tags=["orders"])
    def get(self, request: Request, pk: int) -> Response:
        order = Order.objects.filter(pk=pk).first()
        if order is None:
            raise NotFoundError(f"No order #{pk}.")
        return Response(selectors.payment_instructions(order))


class BatchCustomersView(GenericAPIView):
    serializer_class = BatchCustomersSerializer

    @extend_schema(summary="Who received a production batch (for a recall)", responses=BatchCustomersSerializer,
                   examples=[res({"batch": "B2026-11-A", "customers": [
                       {"contact_id": 7, "name": "Mireille Ngo", "phone": "+237690112233", "orders": [
                           {"order_number": "CF-2026-000123", "ordered_at": T, "status": "delivered",
                            "product_sku": "SIR-GING-50", "quantity": 2, "best_before": "2027-05-31",
                            "bought_by_contact_id": 7}]}]})], tags=["orders"])
    def get(self, request: Request, batch: str) -> Response:
        return Response({"batch": batch, "customers": selectors.batch_customers(batch=batch)})


# --- Complaints --------------------------------------------------------------------------------


class ComplaintListCreateView(GenericAPIView):
    queryset = Complaint.objects.all()
    serializer_class = ComplaintSerializer
    pagination_class = ComplaintPagination

    @extend_schema(summary="List complaints: open cases of unhappy customers first",
                   parameters=[OpenApiParameter("state", OpenApiTypes.STR, enum=["open", "in_progress", "resolved",
                                                                                  "closed"])],
                   responses=ComplaintSerializer(many=True), examples=[res(COMPLAINT)], tags=["complaints"])
    def get(self, request: Request) -> Response:
        state = query_choice(request.query_params, "state", ComplaintState.choices)
        page = self.paginate_queryset(selectors.complaint_list(state=state))
        return self.get_paginated_response(ComplaintSerializer(page, many=True).data)

    @extend_schema(summary="Open a complaint case", request=ComplaintInSerializer, responses={201: ComplaintSerializer},
                   examples=[req({"order_id": 41, "channel": "whatsapp", "text": "Le sirop est arrivé tiède et ouvert.",
                                  "owner_id": 2}), res(COMPLAINT)], tags=["complaints"])
    def post(self, request: Request) -> Response:
        data = ComplaintInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        complaint = services.complaint_create(**data.validated_data)
        return Response(ComplaintSerializer(selectors.complaint_list().get(pk=complaint.pk)).data, status=201)


class ComplaintDetailView(GenericAPIView):
    queryset = Complaint.objects.all()
    serializer_class = ComplaintSerializer

    @extend_schema(summary="Get a complaint", responses=ComplaintSerializer, examples=[res(COMPLAINT)],
                   tags=["complaints"])
    def get(self, request: Request, pk: int) -> Response:
        complaint = selectors.complaint_list().filter(pk=pk).first()
        if complaint is None:
            raise NotFoundError(f"No complaint #{pk}.")
        return Response(ComplaintSerializer(complaint).data)

    @extend_schema(summary="Change the state, owner or resolution of a complaint", request=ComplaintUpdateSerializer,
                   responses=ComplaintSerializer,
                   examples=[req({"state": "resolved", "resolution": "Remboursé, nouveau flacon offert."}),
                             res({**COMPLAINT, "state": "resolved"})], tags=["complaints"])
    def patch(self, request: Request, pk: int) -> Response:
        data = ComplaintUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.complaint_update(complaint_id=pk, **data.validated_data)
        return Response(ComplaintSerializer(selectors.complaint_list().get(pk=pk)).data)


# --- Partners (staff side) ---------------------------------------------------------------------


class PartnerListCreateView(GenericAPIView):
    queryset = Partner.objects.all()
    serializer_class = PartnerSerializer

    @extend_schema(summary="List partners (resellers)", responses=PartnerSerializer(many=True),
                   examples=[res(PARTNER)], tags=["partners"])
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(PartnerSerializer(page, many=True).data)

    @extend_schema(summary="Add a partner", description="A webhook URL must be https and resolve to public "
                   "addresses only. The signing secret is the `webhook_secret` given, or a generated one; this "
                   "answer shows it, and no other answer will.", request=PartnerInSerializer,
                   responses={201: PartnerWithSecretSerializer, 409: E},
                   examples=[req({k: PARTNER[k] for k in ("name", "contact_person", "email", "phone",
                                                          "discount_percent", "webhook_url")}),
                             res(PARTNER_WITH_SECRET, status_codes=["201"])],
                   tags=["partners"])
    def post(self, request: Request) -> Response:
        """Create a partner and show its webhook secret, this once."""
        data = PartnerInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        partner = services.partner_create(**data.validated_data)
        return Response(PartnerWithSecretSerializer(partner).data, status=201)


class PartnerDetailView(GenericAPIView):
    queryset = Partner.objects.all()
    serializer_class = PartnerSerializer

    @extend_schema(summary="Get a partner", responses=PartnerSerializer, examples=[res(PARTNER)], tags=["partners"])
    def get(self, request: Request, pk: int) -> Response:
        return Response(PartnerSerializer(self.get_object()).data)

    @extend_schema(summary="Change a partner (discount, webhook URL, secret rotation)",
                   request=PartnerUpdateSerializer, responses=PartnerUpdatedSerializer,
                   examples=[req({"discount_percent": 20, "rotate_secret": True}),
                             res({**PARTNER_WITH_SECRET, "discount_percent": 20})], tags=["partners"])
    def patch(self, request: Request, pk: int) -> Response:
        """Change the given fields; the answer carries the webhook secret only if this change rotated it."""
        data = PartnerUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        rotate = fields.pop("rotate_secret", False)
        partner = services.partner_update(partner_id=pk, rotate_secret=rotate, **fields)
        output = PartnerWithSecretSerializer if rotate else PartnerSerializer
        return Response(output(partner).data)


class PartnerWebhookSecretRotateView(GenericAPIView):
    queryset = Partner.objects.all()
    serializer_class = PartnerWithSecretSerializer

    @extend_schema(summary="Rotate a partner's webhook secret (shown once)", request=None,
                   description="Generates a new signing secret and shows it in this answer only. Deliveries "
                   "not yet sent are signed with the new one.",
                   responses=PartnerWithSecretSerializer, examples=[res(PARTNER_WITH_SECRET)], tags=["partners"])
    def post(self, request: Request, pk: int) -> Response:
        """Generate a new webhook secret for the partner and show it, this once."""
        return Response(PartnerWithSecretSerializer(services.partner_webhook_secret_rotate(partner_id=pk)).data)


class PartnerApiKeysView(GenericAPIView):
    queryset = PartnerApiKey.objects.all()
    serializer_class = ApiKeySerializer

    @extend_schema(summary="List a partner's API keys (prefixes only)", responses=ApiKeySerializer(many=True),
                   examples=[res(API_KEY)], tags=["partners"])
    def get(self, request: Request, pk: int) -> Response:
        page = self.paginate_queryset(PartnerApiKey.objects.filter(partner_id=pk))
        return self.get_paginated_response(ApiKeySerializer(page, many=True).data)

    @extend_schema(summary="Create an API key (shown once)", request=ApiKeyInSerializer,
                   responses={201: ApiKeyCreatedSerializer},
                   examples=[req({"name": "boutique"}),
                             res({**API_KEY, "key": "cfk_1a2b3c4d_Zq8…"})], tags=["partners"])
    def post(self, request: Request, pk: int) -> Response:
        data = ApiKeyInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        key, raw = services.partner_api_key_create(partner_id=pk, actor=request.user, **data.validated_data)
        return Response({**ApiKeySerializer(key).data, "key": raw}, status=201)


class PartnerApiKeyRevokeView(GenericAPIView):
    queryset = PartnerApiKey.objects.all()
    serializer_class = ApiKeySerializer

    @extend_schema(summary="Revoke an API key", request=None, responses=ApiKeySerializer,
                   examples=[res({**API_KEY, "revoked_at": T})], tags=["partners"])
    def post(self, request: Request, pk: int, key_id: int) -> Response:
        return Response(ApiKeySerializer(services.partner_api_key_revoke(partner_id=pk, key_id=key_id)).data)


class PartnerDeliveriesView(GenericAPIView):
    queryset = Partner.objects.all()
    serializer_class = WebhookDeliverySerializer

    @extend_schema(summary="Webhook delivery log of a partner", responses=WebhookDeliverySerializer(many=True),
                   examples=[res(DELIVERY)], tags=["partners"])
    def get(self, request: Request, pk: int) -> Response:
        page = self.paginate_queryset(selectors.webhook_delivery_list(partner_id=pk))
        return self.get_paginated_response(WebhookDeliverySerializer(page, many=True).data)


class PartnerRedeliverView(GenericAPIView):
    queryset = Partner.objects.all()
    serializer_class = WebhookDeliverySerializer

    @extend_schema(summary="Send a webhook delivery again", request=None, responses={201: WebhookDeliverySerializer},
                   examples=[res({**DELIVERY, "id": 78, "attempts": 0})], tags=["partners"])
    def post(self, request: Request, pk: int, delivery_id: int) -> Response:
        delivery = services.webhook_delivery_redeliver(partner_id=pk, delivery_id=delivery_id)
        return Response(WebhookDeliverySerializer(delivery).data, status=201)


# --- Partner API -----------------------------------------------------------------------------


class PartnerAPIView(GenericAPIView):
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [IsPartner]
    throttle_classes = [PartnerKeyThrottle]


PARTNER_ERRORS = {429: E}


class PartnerGiftBoxesView(PartnerAPIView):
    queryset = GiftBox.objects.none()
    serializer_class = PartnerGiftBoxSerializer
    pagination_class = None

    @extend_schema(summary="Gift boxes you can order, with your price", responses={200: PartnerGiftBoxSerializer(
        many=True), **PARTNER_ERRORS}, examples=[res([{**{k: GIFT_BOX[k] for k in (
            "id", "sku", "name", "description", "tier", "price_xaf", "items")}, "partner_price_xaf": 12750}])],
        tags=["partner API"])
    def get(self, request: Request) -> Response:
        partner = request_partner(request)
        boxes = selectors.gift_box_list(active_only=True).order_by("name", "id")
        return Response(PartnerGiftBoxSerializer(boxes, many=True, context={"partner": partner}).data)


class PartnerOrdersView(PartnerAPIView):
    queryset = Order.objects.none()
    serializer_class = PartnerOrderSerializer
    pagination_class = None

    @extend_schema(
        summary="Your orders changed since a point, for incremental polling", operation_id="partner_orders_poll",
        description="Ordered by (`updated_at`, order) with a compound cursor: start with `updated_since` (ISO "
        "time), then pass `cursor=next_cursor` of the previous page. No change is missed or repeated, even when "
        "many orders change in the same instant; the last few seconds of changes are held back until they settle.",
        parameters=[OpenApiParameter("updated_since", OpenApiTypes.DATETIME),
                    OpenApiParameter("cursor", OpenApiTypes.STR, description="`next_cursor` of the previous page."),
                    OpenApiParameter("page_size", OpenApiTypes.INT, description="1-500, default 100.")],
        responses={200: PartnerOrderPageSerializer, **PARTNER_ERRORS},
        examples=[res({"results": [PARTNER_ORDER], "next_cursor": "MjAyNi0xMS0yNVQwODowMDowMCswMDowMHwxMjQ",
                       "has_more": False})], tags=["partner API"])
    def get(self, request: Request) -> HttpResponse:
        partner = request_partner(request)
        after = None
        if request.query_params.get("cursor"):
            after = PollPosition.decode(request.query_params["cursor"])
        elif request.query_params.get("updated_since"):
            since = query_datetime(request.query_params, "updated_since")
            after = PollPosition(since, 0) if since is not None else None
        limit = _int_param(request, "page_size", conf.PARTNER_POLL_PAGE_SIZE, conf.PARTNER_POLL_MAX_PAGE_SIZE)
        versions, position, more = selectors.partner_orders_changed(partner_id=partner.pk, after=after, limit=limit)
        found = documents.partner_order_documents(partner_id=partner.pk, versions=versions)
        return HttpResponse(documents.partner_order_page(documents=found, position=position, more=more),
                            content_type="application/json")

    @extend_schema(
        summary="Order gift boxes for one of your customers",
        description="Your discount applies. Send `Idempotency-Key` to retry safely.",
        request=PartnerOrderInSerializer, parameters=[IDEMPOTENCY_HEADER],
        responses={201: PartnerOrderSerializer, 422: E, **PARTNER_ERRORS},
        examples=[req({"customer": {"phone": "+237677445566", "name": "Brice Etoa"},
                       "lines": [{"gift_box_id": 2, "quantity": 2}], "partner_reference": "AKWA-5531",
                       "delivery_address": "Akwa, rue Joss", "neighbourhood": "Akwa"}),
                  res({**PARTNER_ORDER, "status": "pending"})], tags=["partner API"])
    def post(self, request: Request) -> Response:
        partner = request_partner(request)

        def create() -> Response:
            data = PartnerOrderInSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            values = dict(data.validated_data)
            order = services.order_create(partner=partner, sales_channel="partner", **values)
            order = selectors.partner_order_get(partner=partner, number=order.number)
            return Response(PartnerOrderSerializer(order).data, status=201)

        # The URL is non-atomic (polling is a read); a creation is still all or nothing.
        with transaction.atomic():
            return _idempotent(request, f"partner:{partner.pk}", create)


class PartnerOrderDetailView(PartnerAPIView):
    queryset = Order.objects.none()
    serializer_class = PartnerOrderSerializer

    @extend_schema(
        summary="One of your orders (ETag / If-None-Match → 304)", operation_id="partner_order_get",
        parameters=[OpenApiParameter("If-None-Match", OpenApiTypes.STR, OpenApiParameter.HEADER,
                                     description="The `ETag` of your copy: 304 when it is still current.")],
        responses={200: PartnerOrderSerializer, 304: OpenApiResponse(description="Not modified."), **PARTNER_ERRORS},
        examples=[res(PARTNER_ORDER)], tags=["partner API"])
    def get(self, request: Request, number: str) -> HttpResponse:
        partner_id = request_partner(request).pk
        version = selectors.partner_order_version(partner_id=partner_id, number=number)
        given = [tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")]
        if version.etag in given or "*" in given or f"W/{version.etag}" in given:
            return Response(status=304, headers={"ETag": version.etag})
        version, document = documents.partner_order_document(partner_id=partner_id, version=version)
        return HttpResponse(document, content_type="application/json", headers={"ETag": version.etag})


class PartnerOwnDeliveriesView(PartnerAPIView):
    queryset = WebhookDelivery.objects.none()
    serializer_class = WebhookDeliverySerializer

    @extend_schema(summary="Your webhook delivery log", responses={200: WebhookDeliverySerializer(many=True),
                                                                  **PARTNER_ERRORS},
                   examples=[res(DELIVERY)], tags=["partner API"])
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(selectors.webhook_delivery_list(partner_id=request_partner(request).pk))
        return self.get_paginated_response(WebhookDeliverySerializer(page, many=True).data)


class PartnerOwnRedeliverView(PartnerAPIView):
    queryset = WebhookDelivery.objects.none()
    serializer_class = WebhookDeliverySerializer

    @extend_schema(summary="Ask for a webhook delivery again", request=None,
                   responses={201: WebhookDeliverySerializer, **PARTNER_ERRORS},
                   examples=[res({**DELIVERY, "id": 78, "attempts": 0})], tags=["partner API"])
    def post(self, request: Request, delivery_id: int) -> Response:
        delivery = services.webhook_delivery_redeliver(partner_id=request_partner(request).pk,
                                                       delivery_id=delivery_id)
        return Response(WebhookDeliverySerializer(delivery).data, status=201)
