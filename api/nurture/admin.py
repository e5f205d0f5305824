"""Sequences, enrollments, broadcasts and messages in the Django admin (superusers only), read-only:
they are written through the nurture services (``sequence_create``, ``enrollment_create``,
``broadcast_create``…) and the outbox, which check consent and send each message at most once."""

from django.contrib import admin

from api.common.admin import ReadOnlyAdmin, ReadOnlyInline
from api.nurture.models import (
    Broadcast,
    Enrollment,
    InboundMessage,
    OutboundMessage,
    Sequence,
    SequenceStep,
    TelegramUpdate,
)


class StepInline(ReadOnlyInline):
    model = SequenceStep


@admin.register(Sequence)
class SequenceAdmin(ReadOnlyAdmin):
    list_display = ["name", "purpose", "campaign_code", "is_active", "created_at"]
    inlines = [StepInline]


@admin.register(Enrollment)
class EnrollmentAdmin(ReadOnlyAdmin):
    list_display = ["sequence", "contact", "state", "trigger", "created_at"]
    list_filter = ["state", "trigger"]
    list_select_related = ["sequence", "contact"]


@admin.register(Broadcast)
class BroadcastAdmin(ReadOnlyAdmin):
    list_display = ["name", "send_at", "state", "total"]


@admin.register(OutboundMessage)
class OutboundMessageAdmin(ReadOnlyAdmin):
    list_display = ["id", "contact", "channel", "category", "state", "reason", "due_at", "sent_at", "attempts"]
    list_filter = ["state", "channel", "category"]
    list_select_related = ["contact"]
    search_fields = ["idempotency_key", "recipient"]


@admin.register(TelegramUpdate)
class TelegramUpdateAdmin(ReadOnlyAdmin):
    list_display = ["update_id", "kind", "chat_id", "received_at", "processed_at", "error"]


@admin.register(InboundMessage)
class InboundMessageAdmin(ReadOnlyAdmin):
    list_display = ["id", "contact", "channel", "kind", "action", "occurred_at", "received_at"]
    list_filter = ["channel", "kind", "action"]
    list_select_related = ["contact"]
    search_fields = ["provider_message_id", "sender"]
