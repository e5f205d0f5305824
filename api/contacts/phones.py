"""Phone numbers in E.164, parsed with ``phonenumbers`` (default region Cameroon)."""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers
from django.conf import settings

_NON_DIGITS = re.compile(r"[^\d+]")
# A Cameroonian number as usually typed: 9 national digits, with or without +237 / 00237.
_CM_NATIONAL = re.compile(r"^(?:\+237|00237|237)?([26]\d{8})$")


class InvalidPhone(ValueError):
    """The text is not a valid phone number."""


@lru_cache(maxsize=65536)
def normalize_phone(raw: str, region: str | None = None) -> str:
    """Return ``raw`` in E.164 (``+237699123456``) or raise ``InvalidPhone``.

    Accepts what people type: spaces, dots, dashes, ``00237…``, a national number
    without the country code. Cached because imports see the same numbers again.
    """
    text = _NON_DIGITS.sub("", str(raw or ""))
    region = region or settings.DEFAULT_PHONE_REGION
    cm = _CM_NATIONAL.match(text) if region == "CM" else None
    if cm:
        # Fast path (the bulk of imports): skip the generic parser, keep its validity rules.
        number = phonenumbers.PhoneNumber(country_code=237, national_number=int(cm.group(1)))
        if not phonenumbers.is_valid_number(number):
            raise InvalidPhone(f"{raw!s} is not a valid phone number.")
        return "+237" + cm.group(1)
    if text.startswith("00"):
        text = "+" + text[2:]
    if not text or len(text) < 6:
        raise InvalidPhone(f"{raw!s} is not a valid phone number.")
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise InvalidPhone(f"{raw!s} is not a valid phone number.") from None
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhone(f"{raw!s} is not a valid phone number.")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def try_normalize_phone(raw: str) -> str | None:
    try:
        return normalize_phone(raw)
    except InvalidPhone:
        return None


def phone_digits(raw: str) -> str:
    """Only the digits of what the user typed (for partial searches)."""
    return re.sub(r"\D", "", raw or "")
