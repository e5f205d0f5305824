"""Input and output serializers of the nurture API (translation only; rules live in services)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.common.filters import MAX_ID
from api.common.serializers import BusinessDateTimeField, HttpUrlField
from api.nurture.enums import Purpose
from api.nurture.models import (
    Broadcast,
    Enrollment,
    OutboundMessage,
    Sequence,
    SequenceStep,
    WhatsAppTemplate,
)
from api.nurture.selectors import broadcast_progress

CHANNELS = ["telegram", "messenger", "whatsapp"]
# Ids are 64-bit (BigAutoField, PostgreSQL bigint): a larger filter value is a 400, not a database error.
AUDIENCE_HELP = ("Contacts to reach; each key takes a value or a list, any of which matches: segment, "
                 "lifecycle_stage, tags, self_reported_source, acquisition_channel, city, channel, rfm_group "
                 "(e.g. {\"rfm_group\": [\"at_risk\", \"cannot_lose\"]}). An unknown key is a 400.")
MAX_STEP_DELAY = SequenceStep.MAX_DELAY
LOCAL_TIME_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?$"
WHATSAPP_TEMPLATE_HELP = ("Id of an APPROVED WhatsApp template (`/nurture/whatsapp-templates`), sent instead of the "
                          "text to WhatsApp contacts who have not written in the last 24 hours; body variables: "
                          "{{1}} first name, {{2}} referral code. Null: such contacts are skipped "
                          "(`template_required`).")


@extend_schema_field({
    "type": "string",
    "pattern": LOCAL_TIME_PATTERN,
    "example": "09:00:00",
    "description": "Wall-clock time in the business time zone, `HH:MM[:SS]`, without an offset.",
})
class LocalTimeField(serializers.TimeField):
    """A naive wall-clock time (``09:00:00``). Documented as a pattern, not ``format: time``: JSON Schema's
    (RFC 3339) ``time`` requires an offset, which a stored ``TimeField`` never has. An input with an offset
    (``09:00Z``) is refused rather than silently read as business time."""

    def to_internal_value(self, value: Any) -> Any:
        if isinstance(value, str) and not re.match(LOCAL_TIME_PATTERN, value):
            self.fail("invalid", format="HH:MM[:SS] (business time zone, no offset)")
        return super().to_internal_value(value)


@extend_schema_field({"type": "string", "anyOf": [{"format": "uri"}, {"maxLength": 0}],
                      "description": "An http(s) URL, or empty when there is none."})
class OptionalUrlOutputField(serializers.CharField):
    """A URL model field with ``blank=True`` as answered: a URL or ``""`` (``format: uri`` alone refuses ``""``)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)


class StepInputSerializer(serializers.Serializer):
    delay = serializers.DurationField(min_value=timedelta(), max_value=MAX_STEP_DELAY,
                                      help_text="After the previous step (after enrollment for the first), "
                                                "e.g. `1 00:00:00` for one day; at most 366 days.")
    text = serializers.CharField(help_text="Variables: {first_name} {name} {salutation} {referral_code}.")
    image_url = HttpUrlField(max_length=200, required=False, allow_blank=True, default="")
    window_start = LocalTimeField(required=False, allow_null=True, default=None,
                                  help_text="Business time zone; default 09:00.")
    window_end = LocalTimeField(required=False, allow_null=True, default=None,
                                help_text="Business time zone; default 20:00.")
    whatsapp_template = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False, allow_null=True,
                                                 default=None, help_text=WHATSAPP_TEMPLATE_HELP)


class StepSerializer(serializers.ModelSerializer):
    """A step as answered: every field is present; the windows are null when the defaults apply."""

    delay = serializers.DurationField(read_only=True, help_text="After the previous step, e.g. `1 00:00:00`.")
    image_url = OptionalUrlOutputField()
    window_start = LocalTimeField(allow_null=True, read_only=True, help_text="Business time zone; null: 09:00.")
    window_end = LocalTimeField(allow_null=True, read_only=True, help_text="Business time zone; null: 20:00.")

    class Meta:
        model = SequenceStep
        fields = ["position", "delay", "text", "image_url", "window_start", "window_end", "whatsapp_template"]
        read_only_fields = fields


class SequenceInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    purpose = serializers.ChoiceField(choices=Purpose.choices, default=Purpose.MANUAL)
    campaign_code = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    audience = serializers.DictField(required=False, default=dict, help_text=AUDIENCE_HELP)
    channels = serializers.ListField(child=serializers.ChoiceField(choices=CHANNELS), required=False,
                                     default=lambda: list(CHANNELS))
    stop_on_order = serializers.BooleanField(default=True)
    stop_on_reply = serializers.BooleanField(default=False)
    is_active = serializers.BooleanField(default=True)
    steps = StepInputSerializer(many=True, allow_empty=False)


class SequenceUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    audience = serializers.DictField(required=False, help_text=AUDIENCE_HELP)
    channels = serializers.ListField(child=serializers.ChoiceField(choices=CHANNELS), required=False)
    stop_on_order = serializers.BooleanField(required=False)
    stop_on_reply = serializers.BooleanField(required=False)
    is_active = serializers.BooleanField(required=False)


class SequenceOutputSerializer(serializers.ModelSerializer):
    audience = serializers.DictField(read_only=True)
    channels = serializers.ListField(child=serializers.ChoiceField(choices=CHANNELS), read_only=True)
    steps = StepSerializer(many=True, read_only=True)

    class Meta:
        model = Sequence
        fields = ["id", "name", "purpose", "campaign_code", "audience", "channels", "stop_on_order", "stop_on_reply",
                  "is_active", "steps", "created_at", "updated_at"]
        read_only_fields = fields


class EnrollInputSerializer(serializers.Serializer):
    contact_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)


class EnrollmentOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Enrollment
        fields = ["id", "sequence", "contact", "state", "trigger", "trigger_ref", "stopped_reason", "created_at",
                  "ended_at"]
        read_only_fields = fields


class OutboundMessageOutputSerializer(serializers.ModelSerializer):
    image_url = OptionalUrlOutputField()

    class Meta:
        model = OutboundMessage
        fields = ["id", "contact", "channel", "recipient", "category", "text", "image_url", "due_at", "state",
                  "reason", "provider_message_id", "attempts", "claimed_at", "sent_at", "idempotency_key",
                  "enrollment", "broadcast", "created_at", "updated_at", "delivered_at", "read_at", "failure_code",
                  "pricing_category", "billable", "template_name", "template_language", "template_parameters"]
        read_only_fields = fields


class BroadcastInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    text = serializers.CharField(help_text="Variables: {first_name} {name} {salutation} {referral_code}.")
    image_url = HttpUrlField(required=False, allow_blank=True, default="")
    audience = serializers.DictField(required=False, default=dict, help_text=AUDIENCE_HELP)
    channels = serializers.ListField(child=serializers.ChoiceField(choices=CHANNELS), required=False,
                                     default=lambda: list(CHANNELS))
    send_at = BusinessDateTimeField()
    whatsapp_template = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False, allow_null=True,
                                                 default=None, help_text=WHATSAPP_TEMPLATE_HELP)
    campaign_code = serializers.CharField(max_length=64, required=False, allow_blank=True, default="",
                                          help_text="Campaign whose costs include what Meta charges for the "
                                                    "WhatsApp messages of this broadcast.")


class ProgressSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    sent = serializers.IntegerField()
    skipped = serializers.IntegerField()
    failed = serializers.IntegerField()
    cancelled = serializers.IntegerField()
    pending = serializers.IntegerField()
    delivered = serializers.IntegerField(help_text="Sent messages the provider reported delivered (or read).")
    read = serializers.IntegerField(help_text="Sent messages the provider reported read.")
    failed_reasons = serializers.DictField(child=serializers.IntegerField(),
                                           help_text="Failed messages by reason, e.g. `meta_marketing_limit`.")
    skipped_reasons = serializers.DictField(child=serializers.IntegerField(),
                                            help_text="Skipped messages by reason, e.g. `template_paused`.")


class BroadcastOutputSerializer(serializers.ModelSerializer):
    audience = serializers.DictField(read_only=True)
    channels = serializers.ListField(child=serializers.ChoiceField(choices=CHANNELS), read_only=True)
    image_url = OptionalUrlOutputField()
    progress = serializers.SerializerMethodField()

    class Meta:
        model = Broadcast
        fields = ["id", "name", "text", "image_url", "audience", "channels", "send_at", "state", "total", "progress",
                  "created_at", "cancelled_at", "finished_at", "whatsapp_template", "campaign_code"]
        read_only_fields = fields

    @extend_schema_field(ProgressSerializer)
    def get_progress(self, obj: Broadcast) -> dict[str, Any]:
        return ProgressSerializer(broadcast_progress(obj)).data


class WebhookAckSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    update_id = serializers.IntegerField()
    duplicate = serializers.BooleanField()


class MetaWebhookAckSerializer(serializers.Serializer):
    recorded = serializers.IntegerField(help_text="Events handled now (messages, statuses and receipts applied).")
    duplicate = serializers.IntegerField(help_text="Messages already handled (a redelivery): nothing changed.")
    ignored = serializers.IntegerField(help_text="Echoes, unknown items, statuses of messages we did not send.")
    failed = serializers.IntegerField(help_text="Events refused by a business rule (logged), e.g. an erased person.")


class WhatsAppTemplateOutputSerializer(serializers.ModelSerializer):
    components = serializers.ListField(child=serializers.DictField(), read_only=True,
                                       help_text="Meta's components (header, body, footer, buttons) as synced.")

    class Meta:
        model = WhatsAppTemplate
        fields = ["id", "name", "language", "category", "status", "body_parameter_count", "components", "synced_at"]
        read_only_fields = fields


class WhatsAppTemplateSyncOutputSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    deleted = serializers.IntegerField(help_text="Templates no longer in the account (kept with status DELETED).")
    read = serializers.IntegerField(help_text="Templates Meta listed.")


# --- the staff inbox ---------------------------------------------------------------------------------------


class ConversationMessageSerializer(serializers.Serializer):
    """One message of a conversation (``selectors.ConversationMessage``)."""

    id = serializers.IntegerField(help_text="Id of the inbound or outbound message (unique per direction).")
    direction = serializers.ChoiceField(choices=["in", "out"], help_text="`in`: the person wrote; `out`: we sent.")
    channel = serializers.CharField()
    at = serializers.DateTimeField(help_text="When the person wrote, or when ours went out (is due).")
    text = serializers.CharField()
    kind = serializers.CharField(help_text="Inbound only: text, button, start, referral, postback, other.")
    category = serializers.CharField(help_text="Outbound only: marketing, service (a reply) or staff.")
    state = serializers.CharField(help_text="Outbound only: scheduled, sending, sent, failed, skipped.")
    reason = serializers.CharField(help_text="Outbound only: why it failed or was skipped.")
    sent_at = serializers.DateTimeField(allow_null=True)
    delivered_at = serializers.DateTimeField(allow_null=True)
    read_at = serializers.DateTimeField(allow_null=True)
    failure_code = serializers.CharField()
    template_name = serializers.CharField(help_text="Outbound only: the WhatsApp template it goes as outside "
                                                    "the window.")


class ConversationOutputSerializer(serializers.Serializer):
    """A conversation row of the inbox; ``facts`` (``selectors.ConversationFacts``) come in the context."""

    contact = serializers.IntegerField(source="contact_id")
    name = serializers.CharField(source="contact.display_name")
    state = serializers.CharField(help_text="`open`, or `done` (a new message from the person reopens it).")
    owner = serializers.IntegerField(source="owner_id", allow_null=True, help_text="Staff user id.")
    owner_name = serializers.SerializerMethodField()
    unread = serializers.IntegerField(help_text="Messages of the person after the last read mark.")
    waiting_since = serializers.DateTimeField(allow_null=True,
                                              help_text="When the oldest unanswered message of the person was "
                                                        "written; null when nothing waits.")
    last_message = serializers.SerializerMethodField()
    channels = serializers.SerializerMethodField(help_text="Channels the person wrote from, the latest first; "
                                                           "a reply goes on the first by default.")
    whatsapp_window_open = serializers.SerializerMethodField()
    whatsapp_window_until = serializers.SerializerMethodField()
    done_at = serializers.DateTimeField(allow_null=True)

    def _facts(self, obj: Any) -> Any:
        return (self.context.get("facts") or {}).get(obj.contact_id)

    def get_owner_name(self, obj: Any) -> str:
        owner = obj.owner
        return (owner.get_full_name() or owner.get_username()) if owner else ""

    @extend_schema_field(ConversationMessageSerializer(allow_null=True))
    def get_last_message(self, obj: Any) -> dict[str, Any] | None:
        facts = self._facts(obj)
        return ConversationMessageSerializer(facts.last_message).data if facts and facts.last_message else None

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_channels(self, obj: Any) -> list[str]:
        facts = self._facts(obj)
        return list(facts.channels) if facts else []

    @extend_schema_field(serializers.BooleanField())
    def get_whatsapp_window_open(self, obj: Any) -> bool:
        facts = self._facts(obj)
        return bool(facts and facts.whatsapp_window_until)

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_whatsapp_window_until(self, obj: Any) -> str | None:
        facts = self._facts(obj)
        until = facts.whatsapp_window_until if facts else None
        return serializers.DateTimeField().to_representation(until) if until else None


class ConversationReplyInputSerializer(serializers.Serializer):
    text = serializers.CharField(required=False, allow_blank=True, max_length=2000, trim_whitespace=True,
                                 help_text="The reply. May be left out with a `template`: the template's body, "
                                           "filled, is then kept as the text.")
    # Checked by the service (a 400 naming ``channel``): a ChoiceField here would add a third "channel" enum
    # to the schema beside the contacts' and the campaigns'.
    channel = serializers.CharField(required=False, max_length=20,
                                    help_text="`telegram`, `messenger` or `whatsapp`. Default: the channel the "
                                              "person last wrote from.")
    template = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=MAX_ID,
                                        help_text="WhatsApp only: id of an APPROVED template (variables {{1}} "
                                                  "first name, {{2}} referral code), required when the person "
                                                  "last wrote more than 24 hours ago.")
    client_key = serializers.RegexField(r"^[A-Za-z0-9_.:-]{1,80}$", required=False,
                                        help_text="The same as the `Idempotency-Key` header, for clients that "
                                                  "cannot set headers.")


class ConversationAssignInputSerializer(serializers.Serializer):
    owner = serializers.CharField(allow_null=True, max_length=20,
                                  help_text="A staff user id, `me`, or null for no one.")

    def validate_owner(self, value: str | None) -> str | None:
        if value is None or value == "me" or (value.isdigit() and 1 <= int(value) <= MAX_ID):
            return value
        raise serializers.ValidationError("A staff user id, `me`, or null.")
