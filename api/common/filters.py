"""Filters every list shares: the base ``FilterSet`` of every app's filters, bounded ids, strict booleans,
date-times the database can store, and the helpers for query parameters a view reads by hand
(``query_int``, ``query_bool``, ``query_choice``, ``query_datetime``).

A bad value is a 400 in the common shape that names the query parameter, never a 500
from the database driver (an id of 300 digits, an offset PostgreSQL refuses) or from a
date parser (``2026-02-30`` is well formed, and ``parse_datetime`` raises ValueError on it),
and never a filter silently dropped: ``?opted_out=null`` used to list everyone, ``?state=AAA``
every complaint, ``?weeks=5&weeks=`` the default eight weeks (the last of repeated values won).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, time
from typing import Any, cast

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.dateparse import parse_date, parse_datetime
from django_filters.fields import IsoDateTimeField
from drf_spectacular.utils import extend_schema_field

from api.common.errors import ApplicationError, field_error

# Ids are bounded like the orders API's (safe in JavaScript, far inside a bigint): anything else is a 400.
MAX_ID = 2**53
_WHOLE_NUMBER = re.compile(r"-?[0-9]+")
# The spellings of a boolean query parameter: JSON's, and the 1/0 of HTML forms. Anything else is a 400.
TRUE_STRINGS = frozenset({"true", "1"})
FALSE_STRINGS = frozenset({"false", "0"})
BOOLEAN_HELP = "true or false (1 or 0)."
ONE_VALUE = "Give this parameter once."


def parse_bool(raw: str) -> bool | None:
    """``True`` or ``False`` for a spelling in ``TRUE_STRINGS`` / ``FALSE_STRINGS`` (``true`` in any case),
    ``None`` for anything else."""
    lowered = raw.lower()
    if lowered in TRUE_STRINGS:
        return True
    if lowered in FALSE_STRINGS:
        return False
    return None


def choices_text(choices: Iterable[Any]) -> str:
    """``open, in_progress, closed`` from Django choices (pairs, or plain values), for an error message."""
    values = [str(choice[0] if isinstance(choice, list | tuple) else choice) for choice in choices]
    return ", ".join(value for value in values if value != "")


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


class _StrictNullBooleanField(forms.NullBooleanField):
    """true or false (``parse_bool``), absent or empty for "no filter"; anything else is an error.

    Django's ``NullBooleanField`` (and its select widget, which reads ``1`` as "unknown") turns every other
    value into "no filter", so ``?opted_out=null`` listed every contact instead of refusing.
    """

    widget = forms.TextInput

    def to_python(self, value: Any) -> bool | None:  # type: ignore[override]  # None: not given
        if value is None or value == "" or isinstance(value, bool):
            return value if isinstance(value, bool) else None
        parsed = parse_bool(str(value))
        if parsed is None:
            raise ValidationError(f"Enter {BOOLEAN_HELP}", code="invalid")
        return parsed


@extend_schema_field({"type": "boolean"})
class BooleanFilter(django_filters.BooleanFilter):
    """A boolean filter that refuses anything but true/false/1/0 with a 400 naming it."""

    field_class = _StrictNullBooleanField


class FilterSet(django_filters.FilterSet):
    """The base of every filter set of the API (tests/hardening/test_negative_inputs.py checks that they use it).

    On top of django-filter's own validation (a bad id, date or choice is already a 400 naming the filter):

    * boolean model fields named in ``Meta.fields`` get the strict ``BooleanFilter``;
    * an unknown choice is refused with the allowed values listed;
    * a single-valued filter given more than once is a 400 (the last value used to win silently, an empty
      one meaning "no filter"); filters that take several values (multiple choices, and those named in
      ``repeatable``, which read ``getlist`` themselves) are left alone.
    """

    FILTER_DEFAULTS = {
        **django_filters.FilterSet.FILTER_DEFAULTS,
        models.BooleanField: {"filter_class": BooleanFilter},
        models.NullBooleanField: {"filter_class": BooleanFilter},
    }
    repeatable: tuple[str, ...] = ()

    def get_form_class(self) -> type[forms.Form]:
        form_class = super().get_form_class()
        for field in form_class.base_fields.values():
            if isinstance(field, forms.ChoiceField):
                field.error_messages["invalid_choice"] = f"Select one of: {choices_text(cast(Iterable[Any], field.choices))}."
        return form_class

    def is_valid(self) -> bool:
        valid = super().is_valid()
        if self.data is None or not hasattr(self.data, "getlist"):
            return valid
        repeated = [name for name, field in self.form.fields.items()
                    if name not in self.repeatable and not isinstance(field, forms.MultipleChoiceField)
                    and len(self.data.getlist(name)) > 1]
        for name in repeated:
            self.form.add_error(name, ValidationError(ONE_VALUE, code="repeated"))
        return valid and not repeated


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


def _query_value(params: Mapping[str, str], name: str) -> str | None:
    """The one value of query parameter ``name``, ``None`` when absent or empty; given twice, a 400 naming it."""
    getlist = getattr(params, "getlist", None)
    if getlist is not None and len(getlist(name)) > 1:
        raise _query_error(name, ONE_VALUE, "repeated")
    raw = params.get(name)
    return None if raw is None or raw == "" else raw


def query_bool(params: Mapping[str, str], name: str) -> bool | None:
    """The boolean in query parameter ``name`` (``None`` when absent or empty), else a 400 naming it.

    The same spellings as every boolean filter (``parse_bool``): ``?active=yes`` is refused, not ignored.
    """
    raw = _query_value(params, name)
    if raw is None:
        return None
    parsed = parse_bool(raw)
    if parsed is None:
        raise _query_error(name, f"Enter {BOOLEAN_HELP}")
    return parsed


def query_choice(params: Mapping[str, str], name: str, choices: Iterable[Any], *, required: bool = False) -> str | None:
    """The value of query parameter ``name`` when it is one of ``choices`` (Django choices or plain values),
    ``None`` when absent or empty (a 400 when ``required``), else a 400 naming it and listing the allowed values."""
    raw = _query_value(params, name)
    allowed = [str(choice[0] if isinstance(choice, list | tuple) else choice) for choice in choices]
    if raw is None and required:
        raise _query_error(name, f"This parameter is required: one of {choices_text(allowed)}.", "required")
    if raw is None:
        return None
    if raw not in allowed:
        raise _query_error(name, f"Select one of: {choices_text(allowed)}.", "invalid_choice")
    return raw


def query_int(params: Mapping[str, str], name: str, *, default: int, minimum: int, maximum: int) -> int:
    """The whole number in query parameter ``name`` (``default`` when absent or empty), else a 400 naming it.

    Only ASCII digits with an optional minus sign: ``int()`` alone also takes ``1_000``, `` 7 `` and
    other scripts' digits, which no client means, and a number of 5,000 digits costs a ValueError
    deep in ``int()`` rather than a 400.
    """
    raw = _query_value(params, name)
    if raw is None:
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
    raw = _query_value(params, name)
    if raw is None:
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
