"""Filters every list shares: bounded ids and date-times the database can store, and the
helpers for query parameters a view reads by hand (``query_int``, ``query_datetime``).

A bad value is a 400 in the common shape that names the query parameter, never a 500
from the database driver (an id of 300 digits, an offset PostgreSQL refuses) or from a
date parser (``2026-02-30`` is well formed, and ``parse_datetime`` raises ValueError on it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, time
from typing import Any

import django_filters
from django import forms
from django.utils.dateparse import parse_date, parse_datetime
from django_filters.fields import IsoDateTimeField
from drf_spectacular.utils import extend_schema_field

from api.common.errors import ApplicationError, field_error

# Ids are bounded like the orders API's (safe in JavaScript, far inside a bigint): anything else is a 400.
MAX_ID = 2**53
_WHOLE_NUMBER = re.compile(r"-?[0-9]+")


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



# --- Query parameters read by hand (reports, polling, images) ---------------------------------------------------------


def _query_error(name: str, message: str, code: str = "invalid") -> ApplicationError:
    """The common 400 that names the query parameter, as a filter set's error would."""
    return ApplicationError(f"The request is invalid: {name}: {message}", code="validation_error",
                            errors=[field_error(name, message, code)])


def query_int(params: Mapping[str, str], name: str, *, default: int, minimum: int, maximum: int) -> int:
    """The whole number in query parameter ``name`` (``default`` when absent or empty), else a 400 naming it.

    Only ASCII digits with an optional minus sign: ``int()`` alone also takes ``1_000``, `` 7 `` and
    other scripts' digits, which no client means, and a number of 5,000 digits costs a ValueError
    deep in ``int()`` rather than a 400.
    """
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    if not _WHOLE_NUMBER.fullmatch(raw):
        raise _query_error(name, "Enter a whole number.")
    if len(raw.lstrip("-")) > len(str(max(abs(minimum), abs(maximum)))) + 1:
        raise _query_error(name, f"Enter a whole number from {minimum} to {maximum}.", "out_of_range")
    value = int(raw)
    if not minimum <= value <= maximum:
        raise _query_error(name, f"Enter a whole number from {minimum} to {maximum}.", "out_of_range")
    return value


def query_datetime(params: Mapping[str, str], name: str, *, allow_date: bool = True) -> datetime | None:
    """The ISO 8601 instant in query parameter ``name`` (``None`` when absent or empty), in UTC.

    The offset is required (``Z`` or ``+01:00``): a time without one would be read in the server's
    zone, which a client cannot know. With ``allow_date``, a bare day means its midnight UTC. An
    impossible instant (``2026-02-30``, ``T25:00``, an offset beyond ±23:59, a year the database
    cannot hold once in UTC) is a 400 naming the parameter: ``parse_datetime`` raises ValueError for
    the well-formed impossible ones, which used to escape as a 500.
    """
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    message = "An ISO 8601 time with offset." if not allow_date else "An ISO 8601 time with offset, or a day."
    try:
        parsed = parse_datetime(raw)
        day = parse_date(raw) if parsed is None and allow_date else None
        if day is not None:
            parsed = datetime.combine(day, time(0), tzinfo=UTC)
    except ValueError:
        raise _query_error(name, f"Not a real date or time. {message}") from None
    if parsed is None or parsed.tzinfo is None:
        raise _query_error(name, message)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise _query_error(name, "Enter a time between years 1 and 9999 (in UTC).", "out_of_range") from None
