"""The customer file in the Django admin (superusers only): contacts are added and edited through
``contact_create`` and ``contact_update``, so phones are stored in E.164 and every contact gets its
own referral code; consents, notes, tasks and import jobs are shown, their writes stay with the services."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe

from api.common.admin import ReadOnlyAdmin, ReadOnlyInline, ServiceAdmin, ServiceForm
from api.contacts.models import Contact, FollowUpTask, ImportJob, ImportRowError, Tag
from api.contacts.selectors import contact_identities
from api.contacts.services import contact_create, contact_update

# What a superuser may type on a contact: its identities and profile. Stage, owner, tags, consents,
# merges and erasure have their own services and screens.
CONTACT_FIELDS = ["name", "first_name", "last_name", "phone", "email", "whatsapp", "telegram_username", "instagram",
                  "city", "neighbourhood", "segment", "acquisition_channel", "self_reported_source", "referred_by"]
LATEST_NOTES = 10


class ContactForm(ServiceForm):
    """A contact's identities and profile, saved by ``contact_create`` (add) or ``contact_update``
    (change: only the fields that were changed)."""

    service_fields = {"referred_by_id": "referred_by"}

    class Meta:
        model = Contact
        fields = CONTACT_FIELDS

    def save_through_service(self, data: dict[str, Any]) -> Contact:
        values = {name: data[name] for name in CONTACT_FIELDS if name in data and name != "referred_by"}
        referrer = data.get("referred_by")
        if self.instance.pk is None:
            given: dict[str, Any] = {name: value or None for name, value in values.items()}
            return contact_create(actor=self.actor, referred_by_id=referrer.pk if referrer else None, **given)
        changed = {name: values[name] for name in self.changed_data if name in values}
        if "referred_by" in self.changed_data:
            changed["referred_by_id"] = referrer.pk if referrer else None
        if not changed:
            return self.instance
        return contact_update(contact_id=self.instance.pk, actor=self.actor, **changed)


@admin.register(Contact)
class ContactAdmin(ServiceAdmin):
    """Add and edit through the contacts services; the change page also shows the consents and the
    latest notes as text (not inlines: their formsets would have to come back with every post)."""

    form = ContactForm
    list_display = ["id", "name", "phone", "email", "city", "segment", "lifecycle_stage", "owner", "created_at"]
    list_filter = ["segment", "lifecycle_stage", "city", "acquisition_channel", "tags", "created_at"]
    search_fields = ["name", "first_name", "last_name", "phone", "whatsapp", "email", "telegram_username",
                     "self_reported_source"]
    raw_id_fields = ["referred_by"]
    list_select_related = ["owner"]
    date_hierarchy = "created_at"

    def get_fields(self, request: HttpRequest, obj: Contact | None = None) -> Any:
        if obj is None:
            return CONTACT_FIELDS
        return [*CONTACT_FIELDS, *self.get_readonly_fields(request, obj)]

    def get_readonly_fields(self, request: HttpRequest, obj: Contact | None = None) -> list[str]:
        if obj is None:
            return []
        return ["referral_code", "lifecycle_stage", "owner", "tag_names", "identity_lines", "consent_lines",
                "latest_notes",
                "opted_out_at", "erased_at", "merged_into", "merged_at", "created_at", "updated_at"]

    @admin.display(description="Tags")
    def tag_names(self, obj: Contact) -> str:
        return ", ".join(t.name for t in obj.tags.all()) or "-"

    @admin.display(description="Identities")
    def identity_lines(self, obj: Contact) -> str:
        rows = [(i["kind"], i["value"], "" if i["primary"] else "(from a merge or a former number)")
                for i in contact_identities(obj.pk)]
        return format_html_join(mark_safe("<br>"), "{}: {} {}", rows) or "-"

    @admin.display(description="Consents")
    def consent_lines(self, obj: Contact) -> str:
        rows = [(c.channel, "revoked" if c.revoked_at else "granted" if c.granted_at else "-",
                 "unreachable" if c.unreachable_at else "") for c in obj.consents.order_by("channel")]
        return format_html_join(mark_safe("<br>"), "{}: {} {}", rows) or "-"

    @admin.display(description="Latest notes")
    def latest_notes(self, obj: Contact) -> str:
        notes = obj.notes.select_related("author").order_by("-created_at")[:LATEST_NOTES]
        return format_html_join(mark_safe("<br>"), "{} ({}): {}",
                                ((n.created_at.date(), n.author or "-", n.text) for n in notes)) or "-"


@admin.register(Tag)
class TagAdmin(ReadOnlyAdmin):
    search_fields = ["name"]


@admin.register(FollowUpTask)
class FollowUpTaskAdmin(ReadOnlyAdmin):
    list_display = ["id", "contact", "owner", "kind", "due_at", "done_at"]
    list_filter = ["kind", "owner"]
    list_select_related = ["contact", "owner"]


class RowErrorInline(ReadOnlyInline):
    model = ImportRowError
    fields = ["row", "column", "message"]


@admin.register(ImportJob)
class ImportJobAdmin(ReadOnlyAdmin):
    list_display = ["id", "file_name", "status", "rows_done", "total_rows", "created_count", "error_count",
                    "created_at"]
    list_filter = ["status"]
    exclude = ["data"]
    inlines = [RowErrorInline]
