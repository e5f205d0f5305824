from django.db import transaction
from django.urls import path, register_converter

from api.orders import views


class IdConverter:
    """A database id: digits that fit a 64-bit integer; anything longer is a 404, not an overflow."""

    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(IdConverter, "id")

urlpatterns = [
    path("products", views.ProductListCreateView.as_view(), name="product-list"),
    path("products/<id:pk>", views.ProductDetailView.as_view(), name="product-detail"),
    path("gift-boxes", views.GiftBoxListCreateView.as_view(), name="gift-box-list"),
    path("gift-boxes/<id:pk>", views.GiftBoxDetailView.as_view(), name="gift-box-detail"),
    path("orders", views.OrderListCreateView.as_view(), name="order-list"),
    path("orders/<id:pk>", views.OrderDetailView.as_view(), name="order-detail"),
    path("orders/<id:pk>/status", views.OrderStatusView.as_view(), name="order-status"),
    path("orders/<id:pk>/payments", views.OrderPaymentsView.as_view(), name="order-payments"),
    path("orders/<id:pk>/refunds", views.OrderRefundsView.as_view(), name="order-refunds"),
    path("orders/<id:pk>/feedback", views.OrderFeedbackView.as_view(), name="order-feedback"),
    path("orders/<id:pk>/payment-instructions", views.OrderPaymentInstructionsView.as_view(),
         name="order-payment-instructions"),
    path("batches/<str:batch>/customers", views.BatchCustomersView.as_view(), name="batch-customers"),
    path("complaints", views.ComplaintListCreateView.as_view(), name="complaint-list"),
    path("complaints/<id:pk>", views.ComplaintDetailView.as_view(), name="complaint-detail"),
    path("partners", views.PartnerListCreateView.as_view(), name="partner-list"),
    path("partners/<id:pk>", views.PartnerDetailView.as_view(), name="partner-detail"),
    path("partners/<id:pk>/webhook-secret/rotate", views.PartnerWebhookSecretRotateView.as_view(),
         name="partner-webhook-secret-rotate"),
    path("partners/<id:pk>/api-keys", views.PartnerApiKeysView.as_view(), name="partner-api-keys"),
    path("partners/<id:pk>/api-keys/<id:key_id>/revoke", views.PartnerApiKeyRevokeView.as_view(),
         name="partner-api-key-revoke"),
    path("partners/<id:pk>/webhook-deliveries", views.PartnerDeliveriesView.as_view(),
         name="partner-webhook-deliveries"),
    path("partners/<id:pk>/webhook-deliveries/<id:delivery_id>/redeliver", views.PartnerRedeliverView.as_view(),
         name="partner-webhook-redeliver"),
    # The partner API (Api-Key): a partner sees only its own data.
    path("partner/gift-boxes", views.PartnerGiftBoxesView.as_view(), name="partner-api-gift-boxes"),
    # The hottest endpoints, polled by resellers: no transaction to open and commit around a read
    # (ATOMIC_REQUESTS); the order creation on the same URL opens its own.
    path("partner/orders", transaction.non_atomic_requests(views.PartnerOrdersView.as_view()),
         name="partner-api-orders"),
    path("partner/orders/<str:number>", transaction.non_atomic_requests(views.PartnerOrderDetailView.as_view()),
         name="partner-api-order"),
    path("partner/webhook-deliveries", views.PartnerOwnDeliveriesView.as_view(), name="partner-api-deliveries"),
    path("partner/webhook-deliveries/<id:delivery_id>/redeliver", views.PartnerOwnRedeliverView.as_view(),
         name="partner-api-redeliver"),
]
