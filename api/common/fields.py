"""Strict input types for every serializer of the API, installed once (``install_strict_input_fields``, called
from ``CommonConfig.ready()``).

DRF coerces what a JSON body sends: ``{"text": 0}`` became the text ``"0"``, ``{"full": 0}`` meant false and
``"yes"`` true, ``{"value": "12"}`` the number 12. A client that sends the wrong type has a bug, and the spec
says the type, so each is a 400 naming the field instead:

* a text field (``CharField`` and its kin: e-mail, URL, regex, slug) takes only a JSON string;
* a decimal or a duration field takes only a string, as the spec says (``"100.50"``, ``"1 00:00:00"``: an
  amount as a JSON number is a binary fraction, and ``0`` was read as a duration of zero seconds);
* a boolean field takes only JSON ``true`` / ``false``;
* an integer field takes only a JSON number without a fraction (``5`` or ``5.0``), never a string or a
  boolean, and only what a 64-bit column holds (a larger one was a database error without the field's
  name); a field's own ``min_value`` / ``max_value`` (those of a 32-bit column, say) still apply after.

A query string or a multipart form has only text, so there the rules are those of the query filters
(``api.common.filters``): ``true``/``false``/``1``/``0`` for a boolean, ASCII digits for an integer, and a
single-valued field given more than once is refused (the last value used to win silently).

Why a patch of DRF's fields rather than subclasses: the apps declare about 350 fields as
``serializers.CharField(...)`` and friends, in plain ``Serializer`` classes that a field mapping of a common
``ModelSerializer`` base never reaches; one rule in one place covers them all, and every field written later.
Output (``to_representation``) is untouched.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

from rest_framework import fields
from rest_framework.exceptions import ValidationError
from rest_framework.utils import html

from api.common.filters import BOOLEAN_HELP, ONE_VALUE, parse_bool

# Any integer column (PostgreSQL's bigint at most); a field with its own bounds keeps them.
INTEGER_MIN = -(2**63)
INTEGER_MAX = 2**63 - 1
_ASCII_WHOLE_NUMBER = re.compile(r"-?[0-9]+")
_INSTALLED_MARK = "_confiotes_strict"


class _Repeated(list):
    """All the values of a query or form field given more than once: refused by ``_check``."""


def _from_text(field: fields.Field) -> bool:
    """Whether the field's input came from a query string or a form (all text), not from a JSON document."""
    return html.is_html_input(getattr(field.root, "initial_data", None))


def _refuse(message: str, code: str = "invalid") -> None:
    raise ValidationError(message, code=code)


def _check_text(field: fields.Field, data: Any) -> None:
    if not isinstance(data, str):
        _refuse("Expected a string.")


def _check_boolean(field: fields.Field, data: Any) -> None:
    if isinstance(data, bool):
        return
    if isinstance(data, str) and _from_text(field):
        if parse_bool(data) is None and not (field.allow_null and data.lower() in ("null", "")):
            _refuse(f"Enter {BOOLEAN_HELP}")
        return
    _refuse("Expected true or false.")


def _check_integer(field: fields.IntegerField, data: Any) -> None:
    if isinstance(data, str) and _from_text(field):
        if not _ASCII_WHOLE_NUMBER.fullmatch(data):
            _refuse("Enter a whole number.")
        # Longer than any 64-bit number: refused before int() spends time on thousands of digits.
        value = int(data) if len(data) <= 21 else INTEGER_MAX + 1
    elif isinstance(data, int) and not isinstance(data, bool):
        value = data
    elif isinstance(data, float) and data.is_integer():
        value = int(data)
    else:
        _refuse("Expected a whole number.")
        return
    # The field's own min_value / max_value are checked after this by DRF, with its messages; they only
    # narrow what this message states.
    if not INTEGER_MIN <= value <= INTEGER_MAX:
        low = INTEGER_MIN if field.min_value is None else max(field.min_value, INTEGER_MIN)
        high = INTEGER_MAX if field.max_value is None else min(field.max_value, INTEGER_MAX)
        _refuse(f"Enter a whole number from {low} to {high}.", "out_of_range")


def _strict(original: Callable[..., Any], check: Callable[[Any, Any], None]) -> Callable[..., Any]:
    @functools.wraps(original)
    def to_internal_value(self: fields.Field, data: Any) -> Any:
        check(self, data)
        return original(self, data)

    setattr(to_internal_value, _INSTALLED_MARK, True)
    return to_internal_value


def _single_get_value(original: Callable[..., Any]) -> Callable[..., Any]:
    """``Field.get_value`` that hands a repeated query or form value to validation as ``_Repeated``.

    Fields that take several values (lists, multiple choices) have their own ``get_value`` and are not affected.
    """

    @functools.wraps(original)
    def get_value(self: fields.Field, dictionary: Any) -> Any:
        if html.is_html_input(dictionary) and len(dictionary.getlist(self.field_name)) > 1:
            return _Repeated(dictionary.getlist(self.field_name))
        return original(self, dictionary)

    setattr(get_value, _INSTALLED_MARK, True)
    return get_value


def _refuse_repeated(original: Callable[..., Any]) -> Callable[..., Any]:
    """``Field.run_validation`` that refuses a ``_Repeated`` value for any field (dates, choices…)."""

    @functools.wraps(original)
    def run_validation(self: fields.Field, data: Any = fields.empty) -> Any:
        if isinstance(data, _Repeated):
            _refuse(ONE_VALUE, "repeated")
        return original(self, data)

    setattr(run_validation, _INSTALLED_MARK, True)
    return run_validation


def install_strict_input_fields() -> None:
    """Make DRF's text, decimal, duration, boolean and integer fields strict about the type of their input
    (see the module).

    Idempotent: a second call (tests, a second ``django.setup()``) changes nothing.
    """
    if getattr(fields.CharField.to_internal_value, _INSTALLED_MARK, False):
        return
    fields.CharField.to_internal_value = _strict(fields.CharField.to_internal_value, _check_text)  # type: ignore[method-assign]
    fields.BooleanField.to_internal_value = _strict(fields.BooleanField.to_internal_value, _check_boolean)  # type: ignore[method-assign]
    fields.DecimalField.to_internal_value = _strict(fields.DecimalField.to_internal_value, _check_text)  # type: ignore[method-assign]
    fields.DurationField.to_internal_value = _strict(fields.DurationField.to_internal_value, _check_text)  # type: ignore[method-assign]
    fields.IntegerField.to_internal_value = _strict(fields.IntegerField.to_internal_value, _check_integer)  # type: ignore[method-assign]
    fields.Field.get_value = _single_get_value(fields.Field.get_value)  # type: ignore[method-assign]
    fields.Field.run_validation = _refuse_repeated(fields.Field.run_validation)  # type: ignore[method-assign]
