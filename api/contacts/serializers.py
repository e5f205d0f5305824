"""Input and output serializers of the contacts API. They translate; services decide."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.common.businesstime import business_today
from api.common.filters import MAX_ID
from api.common.serializers import BusinessDateTimeField
from api.contacts.enums import Channel, LifecycleStage, Segment
from api.contacts.models import Consent, Contact, ContactIdentityKind, ContactNote, FollowUpTask, ImportJob
from api.contacts.selectors import contact_attribute_values, identities_with_primary

# --- fields -------------------------------------------------------------------------------------


@extend_schema_field({
    "type": "string",
    "pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?$",
    "example": "18:00:00",
    "description": "Wall-clock time in the business time zone, `HH:MM[:SS]`, without an offset.",
})
class LocalTimeField(serializers.TimeField):
    """A naive wall-clock time (``18:00:00``). Documented as a pattern, not ``format: time``: JSON
    Schema's (RFC 3339) ``time`` requires an offset, which a stored ``TimeField`` never has."""


class BirthDateField(serializers.DateField):
    """A day of birth: from 1900-01-01 up to today (business time zone)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("help_text", "Optional; between 1900-01-01 and today. On the day (Douala time) a "
                                       "birthday message goes out when the person consented to a channel.")
        super().__init__(**kwargs)
        self.validators.append(_validate_birth_date)


def _validate_birth_date(value: date) -> None:
    if not date(1900, 1, 1) <= value <= business_today():
        raise serializers.ValidationError("Must be between 1900-01-01 and today.", code="out_of_range")


# --- output ---------------------------------------------------------------------------------------


class ConsentOutputSerializer(serializers.ModelSerializer):
    active = serializers.BooleanField(source="is_active")

    class Meta:
        model = Consent
        fields = ["channel", "active", "granted_at", "granted_how", "revoked_at", "revoked_how", "unreachable_at",
                  "unreachable_reason"]


class IdentityOutputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=ContactIdentityKind.choices)
    value = serializers.CharField()
    primary = serializers.BooleanField(help_text="The contact's main one (its phone, whatsapp or email field).")


class _ContactListSerializer(serializers.ListSerializer):
    """Reads the values other apps contribute (``attributes``) for the whole page at once."""

    def to_representation(self, data: Any) -> list[Any]:
        items = list(data.all() if hasattr(data, "all") else data)
        context = getattr(self, "_context", None)
        if isinstance(context, dict):
            context["contact_attributes"] = contact_attribute_values([c.pk for c in items])
        return super().to_representation(items)


@extend_schema_field({
    "type": "object",
    "additionalProperties": {"type": "string", "format": "date-time", "nullable": True},
    "example": {"reorder_due_at": "2026-12-18T09:30:00Z"},
    "description": "Dated values other apps keep about the contact (`reorder_due_at`: the predicted reorder "
                   "date nurture computes from the customer's usual gap between orders; null when unknown).",
})
class ContactAttributesField(serializers.Field):
    """``attributes`` of a contact: ``{name: date-time or null}`` from ``registry.register_contact_attribute``."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs["source"] = "*"
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def to_representation(self, value: Contact) -> dict[str, Any]:
        known = self.context.get("contact_attributes")
        if known is None:
            known = contact_attribute_values([value.pk])
        out = serializers.DateTimeField()
        return {name: (out.to_representation(at) if at is not None else None)
                for name, at in known.get(value.pk, {}).items()}


class ContactOutputSerializer(serializers.ModelSerializer):
    tags = serializers.SerializerMethodField()
    identities = serializers.SerializerMethodField(
        help_text="Every phone, WhatsApp number and e-mail the contact is known by: the main ones and those "
                  "a merge brought. A message from any of them finds this contact.")
    attributes = ContactAttributesField()
    consents = ConsentOutputSerializer(many=True, read_only=True)
    owner_id = serializers.IntegerField(allow_null=True, read_only=True)
    referred_by_id = serializers.IntegerField(allow_null=True, read_only=True)
    merged_into_id = serializers.IntegerField(allow_null=True, read_only=True)
    preferred_hours_start = LocalTimeField(allow_null=True, read_only=True)
    preferred_hours_end = LocalTimeField(allow_null=True, read_only=True)

    class Meta:
        model = Contact
        fields = ["id", "name", "first_name", "last_name", "salutation", "language", "phone", "email", "whatsapp",
                  "telegram_chat_id", "telegram_username", "facebook_psid", "instagram", "city", "neighbourhood",
                  "birth_date", "segment", "lifecycle_stage", "lifecycle_stage_locked", "acquisition_channel",
                  "self_reported_source", "referred_by_id", "referral_code", "tags", "consents",
                  "preferred_channel", "preferred_hours_start", "preferred_hours_end", "owner_id", "opted_out_at",
                  "last_seen_at", "last_verified_at", "erased_at", "merged_into_id", "created_at", "updated_at",
                  "identities", "attributes"]
        list_serializer_class = _ContactListSerializer

    def get_tags(self, obj: Contact) -> list[str]:
        return sorted(t.name for t in obj.tags.all())

    @extend_schema_field(IdentityOutputSerializer(many=True))
    def get_identities(self, obj: Contact) -> list[dict[str, Any]]:
        primary = {"phone": obj.phone, "whatsapp": obj.whatsapp, "email": obj.email}
        return identities_with_primary(primary, [(i.kind, i.value) for i in obj.identities.all()])


class ContactBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Contact
        fields = ["id", "name", "phone", "whatsapp", "email", "city", "segment", "lifecycle_stage", "created_at"]


class UpsertOutputSerializer(serializers.Serializer):
    created = serializers.BooleanField()
    contact = ContactOutputSerializer()


class NoteOutputSerializer(serializers.ModelSerializer):
    author = serializers.CharField(source="author.username", allow_null=True, default=None)

    class Meta:
        model = ContactNote
        fields = ["id", "contact_id", "author", "text", "created_at"]


class TimelineEventSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    kind = serializers.CharField()
    summary = serializers.CharField()
    source = serializers.CharField()  # type: ignore[assignment]
    ref = serializers.CharField()
    data = serializers.DictField()  # type: ignore[assignment]


class TimelinePageSerializer(serializers.Serializer):
    next = serializers.CharField(allow_null=True, help_text="Cursor of the next (older) page, or null.")
    results = TimelineEventSerializer(many=True)


class MergeOutputSerializer(serializers.Serializer):
    merge_id = serializers.IntegerField()
    source_id = serializers.IntegerField()
    moved = serializers.DictField(child=serializers.IntegerField(), help_text="Rows moved, per kind.")
    contact = ContactOutputSerializer()


class DuplicateGroupSerializer(serializers.Serializer):
    reason = serializers.ChoiceField(choices=["same_name_and_city", "similar_phone"])
    key = serializers.CharField()
    contacts = ContactBriefSerializer(many=True)


class DuplicateListSerializer(serializers.Serializer):
    results = DuplicateGroupSerializer(many=True)


class CanReceiveSerializer(serializers.Serializer):
    channel = serializers.CharField()
    allowed = serializers.BooleanField()
    reason = serializers.CharField()


class TaskOutputSerializer(serializers.ModelSerializer):
    contact = ContactBriefSerializer(read_only=True)
    owner_id = serializers.IntegerField(allow_null=True, read_only=True)

    class Meta:
        model = FollowUpTask
        fields = ["id", "contact", "owner_id", "kind", "due_at", "note", "outcome", "done_at", "created_at"]


class ImportRowErrorSerializer(serializers.Serializer):
    row = serializers.IntegerField(help_text="Line of the file; the header is line 1.")
    column = serializers.CharField()
    message = serializers.CharField()


class ImportJobOutputSerializer(serializers.ModelSerializer):
    # Declared (not derived from the model) so that the schema does not depend on the database's
    # integer range (PositiveIntegerField tops out at 2**31-1 on PostgreSQL, 2**63-1 on SQLite).
    total_rows = serializers.IntegerField(read_only=True)
    rows_done = serializers.IntegerField(read_only=True, help_text="Rows committed so far (the job's cursor).")
    created_count = serializers.IntegerField(read_only=True)
    updated_count = serializers.IntegerField(read_only=True)
    unchanged_count = serializers.IntegerField(read_only=True)
    skipped_count = serializers.IntegerField(
        read_only=True, help_text="Blank rows (nothing but separators or spaces): nothing to import. Each row up to "
                                  "`rows_done` is counted once: created + updated + unchanged + skipped + error "
                                  "counts = `rows_done` (= `total_rows` once done).")
    error_count = serializers.IntegerField(
        read_only=True, help_text="Rows not imported because of an error, named in `row_errors` (a row whose "
                                  "field count differs from the header's included).")
    progress = serializers.SerializerMethodField()
    ignored_columns = serializers.SerializerMethodField()
    row_errors = serializers.SerializerMethodField()

    class Meta:
        model = ImportJob
        fields = ["id", "file_name", "status", "encoding", "delimiter", "ignored_columns", "total_rows", "rows_done",
                  "progress", "created_count", "updated_count", "unchanged_count", "skipped_count", "error_count",
                  "row_errors", "consent_given", "failure", "created_at", "started_at", "finished_at"]

    def get_progress(self, obj: ImportJob) -> float:
        return round(obj.rows_done / obj.total_rows, 4) if obj.total_rows else 1.0

    def get_ignored_columns(self, obj: ImportJob) -> list[str]:
        return list(obj.columns.get("_ignored", []))

    def get_row_errors(self, obj: ImportJob) -> list[dict[str, Any]]:
        limit = self.context.get("errors_limit", 1000)
        return [dict(e) for e in obj.row_errors.order_by("row", "id").values("row", "column", "message")[:limit]]


# --- input ---------------------------------------------------------------------------------------


class _IdentityFields(serializers.Serializer):
    phone = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=40,
                                  help_text="Any format; stored in E.164 (default region CM).")
    email = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=254)
    whatsapp = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=40)
    telegram_chat_id = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=32)
    facebook_psid = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=64)


class ContactUpsertInputSerializer(_IdentityFields):
    telegram_username = serializers.CharField(required=False, max_length=64)
    instagram = serializers.CharField(required=False, max_length=64)
    name = serializers.CharField(required=False, max_length=200)
    first_name = serializers.CharField(required=False, max_length=100)
    last_name = serializers.CharField(required=False, max_length=100)
    city = serializers.CharField(required=False, max_length=100)
    neighbourhood = serializers.CharField(required=False, max_length=100)
    segment = serializers.ChoiceField(choices=Segment.choices, required=False)
    lifecycle_stage = serializers.ChoiceField(choices=LifecycleStage.choices, required=False)
    acquisition_channel = serializers.CharField(required=False, max_length=50)
    self_reported_source = serializers.CharField(required=False, max_length=200,
                                                 help_text="What the person says brought them (d'où il vient).")
    birth_date = BirthDateField(required=False, allow_null=True)
    referred_by_id = serializers.IntegerField(required=False)
    consents = serializers.ListField(child=serializers.ChoiceField(choices=Channel.choices), required=False,
                                     help_text="Channels the person agreed to now (also re-admits an erased person).")
    consent_how = serializers.CharField(required=False, allow_blank=True, max_length=200, default="",
                                        help_text="How the consents were given (a tasting form, a chat); blank records `upsert`.")


class ContactUpdateInputSerializer(_IdentityFields):
    telegram_username = serializers.CharField(required=False, allow_blank=True, max_length=64)
    instagram = serializers.CharField(required=False, allow_blank=True, max_length=64)
    name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    first_name = serializers.CharField(required=False, allow_blank=True, max_length=100)
    last_name = serializers.CharField(required=False, allow_blank=True, max_length=100)
    salutation = serializers.CharField(required=False, allow_blank=True, max_length=30)
    language = serializers.CharField(required=False, max_length=10)
    city = serializers.CharField(required=False, allow_blank=True, max_length=100)
    neighbourhood = serializers.CharField(required=False, allow_blank=True, max_length=100)
    birth_date = BirthDateField(required=False, allow_null=True)
    segment = serializers.ChoiceField(choices=Segment.choices, required=False)
    lifecycle_stage = serializers.ChoiceField(choices=LifecycleStage.choices, required=False,
                                              help_text="A manual move: locks the stage against automatic moves.")
    lifecycle_stage_locked = serializers.BooleanField(required=False,
                                                      help_text="false hands the stage back to automation.")
    acquisition_channel = serializers.CharField(required=False, allow_blank=True, max_length=50)
    self_reported_source = serializers.CharField(required=False, allow_blank=True, max_length=200)
    referred_by_id = serializers.IntegerField(required=False, allow_null=True)
    owner_id = serializers.IntegerField(required=False, allow_null=True)
    preferred_channel = serializers.ChoiceField(choices=Channel.choices, required=False, allow_blank=True)
    preferred_hours_start = LocalTimeField(required=False, allow_null=True)
    preferred_hours_end = LocalTimeField(required=False, allow_null=True)
    tags = serializers.ListField(child=serializers.CharField(max_length=60), required=False,
                                 help_text="Replaces the tags.")
    verified = serializers.BooleanField(required=False, default=False,
                                        help_text="true: staff checked the data now (sets last_verified_at).")

    def validate_owner_id(self, value: int | None) -> int | None:
        if value is not None and not get_user_model().objects.filter(pk=value, is_staff=True).exists():
            raise serializers.ValidationError("No staff user with this id.")
        return value

    def validate_referred_by_id(self, value: int | None) -> int | None:
        if value is not None and not Contact.objects.filter(pk=value).exists():
            raise serializers.ValidationError("No such contact.")
        return value


class MergeInputSerializer(serializers.Serializer):
    source_id = serializers.IntegerField(help_text="The contact folded into this one (it disappears from lists).")


class NoteInputSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=10000)


class ConsentInputSerializer(serializers.Serializer):
    channel = serializers.ChoiceField(choices=Channel.choices)
    action = serializers.ChoiceField(choices=["grant", "revoke"])
    how = serializers.CharField(max_length=200, help_text="How it was obtained: form, bot /start, by phone…")


class OptOutInputSerializer(serializers.Serializer):
    how = serializers.CharField(max_length=200, default="by staff")


class TaskInputSerializer(serializers.Serializer):
    contact_id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=FollowUpTask.Kind.choices, default=FollowUpTask.Kind.CALL)
    due_at = BusinessDateTimeField()
    note = serializers.CharField(required=False, allow_blank=True, default="")
    owner_id = serializers.IntegerField(required=False, allow_null=True,
                                        help_text="Staff user; defaults to the creator.")


class TaskUpdateInputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=FollowUpTask.Kind.choices, required=False)
    due_at = BusinessDateTimeField(required=False)
    note = serializers.CharField(required=False, allow_blank=True)
    outcome = serializers.CharField(required=False, allow_blank=True)
    done = serializers.BooleanField(required=False, allow_null=True, default=None)
    owner_id = serializers.IntegerField(required=False)


class TaskFilterSerializer(serializers.Serializer):
    mine = serializers.BooleanField(required=False, default=False, help_text="Only my tasks.")
    due = serializers.ChoiceField(choices=["today", "overdue", "upcoming"], required=False,
                                  help_text="today: open tasks due by the end of today (overdue included).")
    done = serializers.BooleanField(required=False, allow_null=True, default=None)
    # Bounded like every id filter: a 40-digit id overflowed the database driver (a 500).
    contact_id = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)


class ImportUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="CSV, `;` or `,`, UTF-8 (with or without BOM) or Windows-1252.")
    consent_given = serializers.BooleanField(
        required=False, default=False,
        help_text="The people in the file consented again: re-creates persons who had asked to be erased.")


class TimelineQuerySerializer(serializers.Serializer):
    cursor = serializers.CharField(required=False)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=200, default=50)
