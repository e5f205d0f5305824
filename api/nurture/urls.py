from django.db import transaction
from django.urls import path

from api.nurture import views

urlpatterns = [
    # Not one request transaction: the update row is stored even when processing fails, so the
    # failure is recorded and a redelivery by Telegram finds it (processing has its own transaction).
    path("webhooks/telegram", transaction.non_atomic_requests(views.TelegramWebhookView.as_view()),
         name="telegram-webhook"),
    # Meta's App Dashboard points here (Messenger and WhatsApp): the path must not change.
    path("webhooks/meta", views.MetaWebhookView.as_view(), name="meta-webhook"),
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
    path("nurture/whatsapp-templates", views.WhatsAppTemplateListView.as_view(), name="nurture-whatsapp-template-list"),
    path("nurture/whatsapp-templates/sync", views.WhatsAppTemplateSyncView.as_view(),
         name="nurture-whatsapp-template-sync"),
    path("nurture/outbound-messages", views.OutboundMessageListView.as_view(), name="nurture-outbound-list"),
    path("nurture/conversations", views.ConversationListView.as_view(), name="nurture-conversation-list"),
    path("nurture/conversations/<int:contact_id>", views.ConversationDetailView.as_view(),
         name="nurture-conversation-detail"),
    path("nurture/conversations/<int:contact_id>/messages", views.ConversationMessagesView.as_view(),
         name="nurture-conversation-messages"),
    path("nurture/conversations/<int:contact_id>/replies", views.ConversationReplyView.as_view(),
         name="nurture-conversation-reply"),
    path("nurture/conversations/<int:contact_id>/assign", views.ConversationAssignView.as_view(),
         name="nurture-conversation-assign"),
    path("nurture/conversations/<int:contact_id>/done", views.ConversationDoneView.as_view(),
         name="nurture-conversation-done"),
    path("nurture/conversations/<int:contact_id>/read", views.ConversationReadView.as_view(),
         name="nurture-conversation-read"),
    path("nurture/outbound-messages/<int:message_id>/retry", views.OutboundMessageRetryView.as_view(),
         name="nurture-outbound-retry"),
]
