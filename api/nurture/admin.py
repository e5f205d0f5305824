from django.contrib import admin

from api.nurture.models import Broadcast, Enrollment, OutboundMessage, Sequence, SequenceStep, TelegramUpdate


class StepInline(admin.TabularInline):
    model = SequenceStep
    extra = 0


@admin.register(Sequence)
class SequenceAdmin(admin.ModelAdmin):
    list_display = ["name", "purpose", "campaign_code", "is_active", "created_at"]
    inlines = [StepInline]


@admin.register(Enrollment)
class EnrollmentAdmin(admin.ModelAdmin):
    list_display = ["sequence", "contact", "state", "trigger", "created_at"]
    list_filter = ["state", "trigger"]
    raw_id_fields = ["contact"]


@admin.register(Broadcast)
class BroadcastAdmin(admin.ModelAdmin):
    list_display = ["name", "send_at", "state", "total"]


@admin.register(OutboundMessage)
class OutboundMessageAdmin(admin.ModelAdmin):
    list_display = ["id", "contact", "channel", "category", "state", "reason", "due_at", "sent_at", "attempts"]
    list_filter = ["state", "channel", "category"]
    search_fields = ["idempotency_key", "recipient"]
    raw_id_fields = ["contact", "enrollment", "broadcast", "step"]


@admin.register(TelegramUpdate)
class TelegramUpdateAdmin(admin.ModelAdmin):
    list_display = ["update_id", "kind", "chat_id", "received_at", "processed_at", "error"]
