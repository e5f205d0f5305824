"""Filters of the back office's templates: FCFA amounts, percentages, the choices' staff names."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.formats import number_format

from api.backoffice import labels

register = template.Library()

# A narrow no-break space groups thousands the French way (12 500 FCFA) and never wraps.
_THIN_SPACE = "\u202f"


@register.filter
def fcfa(amount: Any) -> str:
    """``12500`` → ``12 500 FCFA``; nothing known → ``–``. Amounts are whole XAF."""
    if amount is None or amount == "":
        return "–"
    return f"{round(float(amount)):,}".replace(",", _THIN_SPACE) + "\u00a0FCFA"


@register.filter
def percent(ratio: Any, digits: int = 0) -> str:
    """A ratio as a percentage in the active language: ``0.58`` → ``58 %`` (French) or ``58%``;
    ``-0.3991`` → ``−40 %``; nothing known → ``–``."""
    if ratio is None or ratio == "":
        return "–"
    value = number_format(round(float(ratio) * 100, int(digits)), decimal_pos=int(digits), use_l10n=True)
    return value.replace("-", "−") + "\u00a0%"


@register.filter
def signed_percent(ratio: Any) -> str:
    """A change as ``+12 %`` / ``−40 %``."""
    if ratio is None or ratio == "":
        return "–"
    text = percent(ratio)
    return text if text.startswith("−") else "+" + text


@register.filter
def label(value: Any, kind: str) -> str:
    """The staff-facing name of a stored choice: ``{{ order.status|label:"order_status" }}``."""
    return labels.label(kind, value)
