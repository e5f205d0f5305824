"""Phone numbers in E.164, parsed with ``phonenumbers`` (default region Cameroon)."""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers
from django.conf import settings
from phonenumbers.phonemetadata import PhoneMetadata

# The row report's words for a cell that is not a phone number (the SQL import path writes them too).
INVALID_PHONE = "{} is not a valid phone number."
_NON_DIGITS = re.compile(r"[^\d+]")
# The ways Cameroon's country code is typed before a national number (also the SQL fast path's).
CM_PREFIXES = ("+237", "00237", "237")
# A Cameroonian number as usually typed: 9 national digits, with or without one of those prefixes.
_CM_NATIONAL = re.compile("^(?:" + "|".join(map(re.escape, CM_PREFIXES)) + r")?([26]\d{8})$")


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
            raise InvalidPhone(INVALID_PHONE.format(raw))
        return "+237" + cm.group(1)
    if text.startswith("00"):
        text = "+" + text[2:]
    if not text or len(text) < 6:
        raise InvalidPhone(INVALID_PHONE.format(raw))
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise InvalidPhone(INVALID_PHONE.format(raw)) from None
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhone(INVALID_PHONE.format(raw))
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def try_normalize_phone(raw: str) -> str | None:
    try:
        return normalize_phone(raw)
    except InvalidPhone:
        return None


def phone_digits(raw: str) -> str:
    """Only the digits of what the user typed (for partial searches)."""
    return re.sub(r"\D", "", raw or "")


# --- The SQL fast path of PostgreSQL imports ------------------------------------------------------
# An import normalizes most numbers inside PostgreSQL, with these patterns, instead of calling
# ``normalize_phone`` once per row. They describe exactly the fast path of ``normalize_phone``
# above, restricted to ASCII input (Python's ``\d`` also matches other scripts' digits): a cell
# made only of ASCII digits, ``+``, spaces, dots, dashes, brackets and slashes whose digits are
# 9 national digits with an optional +237 / 00237 / 237 prefix. Every other cell goes through
# ``normalize_phone`` in Python. tests/contacts/test_import_fast_path.py checks that both agree.

# A cell on the fast path is made only of these characters…
FAST_CHARS = "0123456789+ .()/-"
# …of which ``_NON_DIGITS`` removes these (everything but digits and ``+``)…
STRIP_CHARS = " .()/-"
# …and what is left is one of ``CM_PREFIXES`` (or none), then a national number matching this.
CM_NATIONAL_SQL = "^[26][0-9]{8}$"


def sql_phone_digits(cell: str) -> str:
    """SQL: the digits and ``+`` of the text column ``cell`` when it is made only of
    ``FAST_CHARS``, else NULL. Plain string functions, no regular expression: PostgreSQL's
    regular expressions cost microseconds per row (with captures, ~7 µs)."""
    return f"CASE WHEN translate({cell}, '{FAST_CHARS}', '') = '' THEN translate({cell}, '{STRIP_CHARS}', '') END"


def sql_national(digits: str) -> str:
    """SQL: the 9 national digits when the column ``digits`` (from ``sql_phone_digits``) is on
    the fast path (then ``normalize_phone`` decides with these digits alone), else NULL."""
    cases = " ".join(f"WHEN length({digits}) = {len(p) + 9} AND left({digits}, {len(p)}) = '{p}' "
                     f"THEN right({digits}, 9)" for p in CM_PREFIXES)
    candidate = f"CASE WHEN length({digits}) = 9 THEN {digits} {cases} END"
    return f"CASE WHEN {candidate} ~ '{CM_NATIONAL_SQL}' THEN {candidate} END"


@lru_cache(maxsize=1)
def cm_validity_patterns() -> tuple[str, str]:
    """Two anchored regular expressions that a 9-digit Cameroonian national number must both
    match to be valid, taken from phonenumbers' own metadata for CM.

    ``phonenumbers.is_valid_number`` says a number is valid when it matches the general
    description of the region and at least one number type (fixed line, mobile, toll free…),
    each filtered by its possible lengths. Only 9-digit numbers reach the fast path, so a
    description whose possible lengths exclude 9 can never match and is left out.
    """
    metadata = PhoneMetadata.metadata_for_region("CM")

    def fits(desc: object) -> bool:
        pattern = getattr(desc, "national_number_pattern", None)
        lengths = getattr(desc, "possible_length", None) or ()
        return bool(pattern) and (not lengths or 9 in lengths)

    never = "^x$"  # matches no string of digits
    general = getattr(metadata, "general_desc", None)
    general_re = f"^(?:{getattr(general, 'national_number_pattern', '')})$" if fits(general) else never
    kinds = ("fixed_line", "mobile", "toll_free", "premium_rate", "shared_cost", "personal_number", "voip", "pager",
             "uan", "voicemail")
    patterns = [getattr(metadata, k).national_number_pattern for k in kinds if fits(getattr(metadata, k))]
    types_re = "^(?:" + "|".join(f"(?:{p})" for p in patterns) + ")$" if patterns else never
    return general_re, types_re
