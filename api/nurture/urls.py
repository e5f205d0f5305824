from django.db import transaction
from django.urls import path

from api.nurture import views

urlpatterns = [
    # Not one request transaction: the update row is stored even when processing fails, so the
    # failure is recorded and a redelivery by Telegram finds it (processing has its own transaction).
    path("webhooks/telegram", transaction.non_atomic_requests(views.TelegramWebhookView.as_view()),
         name="telegram-webhook"),
    path("nurture/sequences", views.SequenceListCreateView.as_view(), name="nurture-sequence-list"),
    path("nurture/sequences/<int:sequence_id>", views.SequenceDetailView.as_view(), name="nurture-sequence-detail"),
    path("nurture/sequences/<int:sequence_id>/steps", views.SequenceStepAddView.as_view(),
         name="nurture-sequence-step-add"),
    path("nurture/sequences/<int:sequence_id>/steps/<int:position>", views.SequenceStepView.as_view(),
         name="nurture-sequence-step"),
    path("nurture/sequences/<int:sequence_id>/enrollments", views.SequenceEnrollView.as_view(),
         name="nurture-sequence-enroll"),
    path("nurture/enrollments", views.EnrollmentListView.as_view(), name="nurture-enrollment-list"),
    path("nurture/enrollments/<int:enrollment_id>/stop", views.EnrollmentStopView.as_view(),
         name="nurture-enrollment-stop"),
    path("nurture/broadcasts", views.BroadcastListCreateView.as_view(), name="nurture-broadcast-list"),
    path("nurture/broadcasts/<int:broadcast_id>", views.BroadcastDetailView.as_view(), name="nurture-broadcast-detail"),
    path("nurture/broadcasts/<int:broadcast_id>/cancel", views.BroadcastCancelView.as_view(),
         name="nurture-broadcast-cancel"),
    path("nurture/outbound-messages", views.OutboundMessageListView.as_view(), name="nurture-outbound-list"),
    path("nurture/outbound-messages/<int:message_id>/retry", views.OutboundMessageRetryView.as_view(),
         name="nurture-outbound-retry"),
]
