"""Input and output serializers of the nurture API (translation only; rules live in services)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.common.filters import MAX_ID
from api.common.serializers import BusinessDateTimeField
from api.nurture.enums import Purpose
from api.nurture.models import Broadcast, Enrollment, OutboundMessage, Sequence, SequenceStep
from api.nurture.selectors import broadcast_progress

CHANNELS = ["telegram", "messenger", "whatsapp"]
# Ids are 64-bit (BigAutoField, PostgreSQL bigint): a larger filter value is a 400, not a database error.
AUDIENCE_HELP = ("Contacts to reach; each key takes a value or a list, any of which matches: segment, "
                 "lifecycle_stage, tags, self_reported_source, acquisition_channel, city, channel, rfm_group "
                 "(e.g. {\"rfm_group\": [\"at_risk\", \"cannot_lose\"]}). An unknown key is a 400.")
MAX_STEP_DELAY = SequenceStep.MAX_DELAY
LOCAL_TIME_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?$"


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
    image_url = serializers.URLField(max_length=200, required=False, allow_blank=True, default="")
    window_start = LocalTimeField(required=False, allow_null=True, default=None,
                                  help_text="Business time zone; default 09:00.")
    window_end = LocalTimeField(required=False, allow_null=True, default=None,
                                help_text="Business time zone; default 20:00.")


class StepSerializer(serializers.ModelSerializer):
    """A step as answered: every field is present; the windows are null when the defaults apply."""

    delay = serializers.DurationField(read_only=True, help_text="After the previous step, e.g. `1 00:00:00`.")
    image_url = OptionalUrlOutputField()
    window_start = LocalTimeField(allow_null=True, read_only=True, help_text="Business time zone; null: 09:00.")
    window_end = LocalTimeField(allow_null=True, read_only=True, help_text="Business time zone; null: 20:00.")

    class Meta:
        model = SequenceStep
        fields = ["position", "delay", "text", "image_url", "window_start", "window_end"]
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
                  "enrollment", "broadcast", "created_at", "updated_at"]
        read_only_fields = fields


class BroadcastInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    text = serializers.CharField(help_text="Variables: {first_name} {name} {salutation} {referral_code}.")
    image_url = serializers.URLField(required=False, allow_blank=True, default="")
    audience = serializers.DictField(required=False, default=dict, help_text=AUDIENCE_HELP)
    channels = serializers.ListField(child=serializers.ChoiceField(choices=CHANNELS), required=False,
                                     default=lambda: list(CHANNELS))
    send_at = BusinessDateTimeField()


class ProgressSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    sent = serializers.IntegerField()
    skipped = serializers.IntegerField()
    failed = serializers.IntegerField()
    cancelled = serializers.IntegerField()
    pending = serializers.IntegerField()


class BroadcastOutputSerializer(serializers.ModelSerializer):
    audience = serializers.DictField(read_only=True)
    channels = serializers.ListField(child=serializers.ChoiceField(choices=CHANNELS), read_only=True)
    image_url = OptionalUrlOutputField()
    progress = serializers.SerializerMethodField()

    class Meta:
        model = Broadcast
        fields = ["id", "name", "text", "image_url", "audience", "channels", "send_at", "state", "total", "progress",
                  "created_at", "cancelled_at"]
        read_only_fields = fields

    @extend_schema_field(ProgressSerializer)
    def get_progress(self, obj: Broadcast) -> dict[str, Any]:
        return ProgressSerializer(broadcast_progress(obj)).data


class WebhookAckSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    update_id = serializers.IntegerField()
    duplicate = serializers.BooleanField()
