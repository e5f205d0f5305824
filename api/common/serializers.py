from datetime import UTC, date, datetime
from typing import Any

from django.core.validators import URLValidator
from rest_framework import serializers

# Business times are answered in Africa/Douala, whose offset had seconds before 1912 (not RFC 3339),
# and years 1 or 9999 overflow once shifted. Nothing this business records lies outside 2000-2099,
# so a date out there is a typo: a 400 rather than a 500 or a malformed answer.
BUSINESS_TIME_MIN = datetime(2000, 1, 1, tzinfo=UTC)
BUSINESS_TIME_MAX = datetime(2100, 1, 1, tzinfo=UTC)


def _validate_business_time(value: datetime) -> None:
    if not BUSINESS_TIME_MIN <= value < BUSINESS_TIME_MAX:
        raise serializers.ValidationError("Must be between 2000-01-01 and 2100-01-01.", code="out_of_range")


def _validate_business_day(value: date) -> None:
    if not BUSINESS_TIME_MIN.date() <= value < BUSINESS_TIME_MAX.date():
        raise serializers.ValidationError("Must be between 2000-01-01 and 2099-12-31.", code="out_of_range")


class BusinessDateTimeField(serializers.DateTimeField):
    """A date-time from 2000 up to 2100 (see ``BUSINESS_TIME_MIN``); the help text says so unless given."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("help_text", "Between 2000 and 2100.")
        super().__init__(**kwargs)
        self.validators.append(_validate_business_time)


class BusinessDateField(serializers.DateField):
    """A day from 2000-01-01 to 2099-12-31; the help text says so unless given."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("help_text", "Between 2000 and 2099.")
        super().__init__(**kwargs)
        self.validators.append(_validate_business_day)


def _validate_ascii(value: str) -> None:
    if not value.isascii():
        raise serializers.ValidationError("A URI is ASCII: percent-encode other characters (%C3%AB for ë).",
                                          code="invalid")


class HttpUrlField(serializers.URLField):
    """An absolute ``http`` or ``https`` URI as RFC 3986 writes it (what ``format: uri`` in the spec means).

    DRF's ``URLField`` also takes ``ftp://`` and non-ASCII letters (an IRI), which the messaging providers
    that fetch the URL (an image of a message) refuse at send time, long after the staff member saved it.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        message = "Enter an http(s) URL."
        self.validators = [v for v in self.validators if not isinstance(v, URLValidator)]
        self.validators += [URLValidator(schemes=["http", "https"], message=message), _validate_ascii]


class ErrorItemSerializer(serializers.Serializer):
    field = serializers.CharField(allow_null=True, help_text="Path of the field, e.g. `lines[2].quantity`.")
    code = serializers.CharField()
    message = serializers.CharField()


class ErrorSerializer(serializers.Serializer):
    """The common error shape of every 4xx and 5xx answer."""

    code = serializers.CharField(help_text="Stable machine code, e.g. `validation_error`, `not_found`.")
    message = serializers.CharField(help_text="A sentence for a human.")
    errors = ErrorItemSerializer(many=True)  # type: ignore[assignment]  # a field, not Serializer.errors


class HealthCheckSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    engine = serializers.CharField(required=False)
    kind = serializers.CharField(required=False)
    error = serializers.CharField(required=False)


class HealthWorkersSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    last_heartbeat_at = serializers.DateTimeField(allow_null=True)
    age_seconds = serializers.FloatField(allow_null=True)
    worker = serializers.CharField(allow_null=True)


class HealthSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok", "degraded", "down"])
    time = serializers.DateTimeField()
    database = HealthCheckSerializer()
    broker = HealthCheckSerializer()
    workers = HealthWorkersSerializer()
    checks = serializers.DictField(
        child=serializers.DictField(), required=False,
        help_text="The apps' own checks by name, each with `ok` and its counts, e.g. "
                  "`order_events`: `{\"ok\": true, \"failed\": 0, \"late\": 0}` (order events not delivered).")
