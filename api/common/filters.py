"""Filters every list shares: bounded ids and date-times the database can store.

A bad value is a 400 in the common shape that names the query parameter, never a 500
from the database driver (an id of 300 digits, an offset PostgreSQL refuses).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import django_filters
from django import forms
from django_filters.fields import IsoDateTimeField
from drf_spectacular.utils import extend_schema_field

# Ids are bounded like the orders API's (safe in JavaScript, far inside a bigint): anything else is a 400.
MAX_ID = 2**53


@extend_schema_field({"type": "integer", "format": "int64", "minimum": 1, "maximum": MAX_ID})
class IdFilter(django_filters.NumberFilter):
    """An id: a whole number from 1 to ``MAX_ID``, else a 400 naming the parameter.

    ``NumberFilter`` takes any decimal (``1.5``, ``-3e264``), which either matched nothing by accident
    or overflowed the database driver.
    """

    field_class = forms.IntegerField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


class _UtcIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 date-time that can be stored: one whose UTC instant still falls in years 1 to 9999."""

    def to_python(self, value: Any) -> datetime | None:
        try:
            parsed = super().to_python(value)
            if parsed is not None:
                # Hand the database a UTC instant: PostgreSQL refuses offsets such as +23:59.
                parsed = parsed.astimezone(UTC)
        except OverflowError:
            raise forms.ValidationError("Enter a date-time between years 1 and 9999 (in UTC).",
                                        code="out_of_range") from None
        return parsed


class DateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = _UtcIsoDateTimeField


