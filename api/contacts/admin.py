from django.contrib import admin

from api.contacts.models import Consent, Contact, ContactNote, FollowUpTask, ImportJob, ImportRowError, Tag


class ConsentInline(admin.TabularInline):
    model = Consent
    extra = 0


class NoteInline(admin.TabularInline):
    model = ContactNote
    extra = 0
    fields = ["text", "author", "created_at"]
    readonly_fields = ["created_at"]


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "phone", "email", "city", "segment", "lifecycle_stage", "owner", "created_at"]
    list_filter = ["segment", "lifecycle_stage", "city", "acquisition_channel", "tags", "created_at"]
    search_fields = ["name", "first_name", "last_name", "phone", "whatsapp", "email", "telegram_username",
                     "self_reported_source"]
    raw_id_fields = ["referred_by", "merged_into", "owner"]
    filter_horizontal = ["tags"]
    readonly_fields = ["referral_code", "erased_at", "merged_into", "merged_at", "created_at", "updated_at"]
    inlines = [ConsentInline, NoteInline]
    list_select_related = ["owner"]
    date_hierarchy = "created_at"


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    search_fields = ["name"]


@admin.register(FollowUpTask)
class FollowUpTaskAdmin(admin.ModelAdmin):
    list_display = ["id", "contact", "owner", "kind", "due_at", "done_at"]
    list_filter = ["kind", "owner"]
    raw_id_fields = ["contact"]


class RowErrorInline(admin.TabularInline):
    model = ImportRowError
    extra = 0
    readonly_fields = ["row", "column", "message"]


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = ["id", "file_name", "status", "rows_done", "total_rows", "created_count", "error_count",
                    "created_at"]
    list_filter = ["status"]
    exclude = ["data"]
    readonly_fields = ["rows_done", "total_rows", "created_count", "updated_count", "unchanged_count",
                       "error_count", "heartbeat_at", "started_at", "finished_at"]
    inlines = [RowErrorInline]
