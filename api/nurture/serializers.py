"""Input and output serializers of the nurture API (translation only; rules live in services)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.nurture.models import Broadcast, Enrollment, OutboundMessage, Purpose, Sequence, SequenceStep
from api.nurture.selectors import broadcast_progress

CHANNELS = ["telegram", "messenger", "whatsapp"]


class StepSerializer(serializers.ModelSerializer):
    delay = serializers.DurationField(help_text="After the previous step (after enrollment for the first), "
                                                "e.g. `1 00:00:00` for one day.")

    class Meta:
        model = SequenceStep
        fields = ["position", "delay", "text", "image_url", "window_start", "window_end"]
        read_only_fields = ["position"]


class SequenceInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    purpose = serializers.ChoiceField(choices=Purpose.choices, default=Purpose.MANUAL)
    campaign_code = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    audience = serializers.DictField(required=False, default=dict,
                                     help_text="segment, lifecycle_stage, tags, self_reported_source, "
                                               "acquisition_channel, city, channel")
    channels = serializers.ListField(child=serializers.ChoiceField(choices=CHANNELS), required=False,
                                     default=lambda: list(CHANNELS))
    stop_on_order = serializers.BooleanField(default=True)
    stop_on_reply = serializers.BooleanField(default=False)
    is_active = serializers.BooleanField(default=True)
    steps = StepSerializer(many=True, allow_empty=False)


class SequenceUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    audience = serializers.DictField(required=False)
    channels = serializers.ListField(child=serializers.ChoiceField(choices=CHANNELS), required=False)
    stop_on_order = serializers.BooleanField(required=False)
    stop_on_reply = serializers.BooleanField(required=False)
    is_active = serializers.BooleanField(required=False)


class SequenceOutputSerializer(serializers.ModelSerializer):
    steps = StepSerializer(many=True, read_only=True)

    class Meta:
        model = Sequence
        fields = ["id", "name", "purpose", "campaign_code", "audience", "channels", "stop_on_order", "stop_on_reply",
                  "is_active", "steps", "created_at", "updated_at"]


class EnrollInputSerializer(serializers.Serializer):
    contact_id = serializers.IntegerField(min_value=1)


class EnrollmentOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Enrollment
        fields = ["id", "sequence", "contact", "state", "trigger", "trigger_ref", "stopped_reason", "created_at",
                  "ended_at"]


class OutboundMessageOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = OutboundMessage
        fields = ["id", "contact", "channel", "recipient", "category", "text", "image_url", "due_at", "state",
                  "reason", "provider_message_id", "attempts", "claimed_at", "sent_at", "idempotency_key",
                  "enrollment", "broadcast", "created_at", "updated_at"]


class BroadcastInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    text = serializers.CharField(help_text="Variables: {first_name} {name} {salutation} {referral_code}.")
    image_url = serializers.URLField(required=False, allow_blank=True, default="")
    audience = serializers.DictField(required=False, default=dict)
    channels = serializers.ListField(child=serializers.ChoiceField(choices=CHANNELS), required=False,
                                     default=lambda: list(CHANNELS))
    send_at = serializers.DateTimeField()


class ProgressSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    sent = serializers.IntegerField()
    skipped = serializers.IntegerField()
    failed = serializers.IntegerField()
    cancelled = serializers.IntegerField()
    pending = serializers.IntegerField()


class BroadcastOutputSerializer(serializers.ModelSerializer):
    progress = serializers.SerializerMethodField()

    class Meta:
        model = Broadcast
        fields = ["id", "name", "text", "image_url", "audience", "channels", "send_at", "state", "total", "progress",
                  "created_at", "cancelled_at"]

    @extend_schema_field(ProgressSerializer)
    def get_progress(self, obj: Broadcast) -> dict[str, Any]:
        return ProgressSerializer(broadcast_progress(obj)).data


class WebhookAckSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    update_id = serializers.IntegerField()
    duplicate = serializers.BooleanField()
