from rest_framework import serializers


class ErrorItemSerializer(serializers.Serializer):
    field = serializers.CharField(allow_null=True, help_text="Path of the field, e.g. `lines[2].quantity`.")
    code = serializers.CharField()
    message = serializers.CharField()


class ErrorSerializer(serializers.Serializer):
    """The common error shape of every 4xx and 5xx answer."""

    code = serializers.CharField(help_text="Stable machine code, e.g. `validation_error`, `not_found`.")
    message = serializers.CharField(help_text="A sentence for a human.")
    errors = ErrorItemSerializer(many=True)  # type: ignore[assignment]  # a field, not Serializer.errors


class _CheckSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    engine = serializers.CharField(required=False)
    kind = serializers.CharField(required=False)
    error = serializers.CharField(required=False)


class _WorkersSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    last_heartbeat_at = serializers.DateTimeField(allow_null=True)
    age_seconds = serializers.FloatField(allow_null=True)
    worker = serializers.CharField(allow_null=True)


class HealthSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok", "degraded", "down"])
    time = serializers.DateTimeField()
    database = _CheckSerializer()
    broker = _CheckSerializer()
    workers = _WorkersSerializer()
