"""Filters of the back office's templates: FCFA amounts, percentages, the choices' staff names."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.formats import number_format
from django.utils.translation import gettext, ngettext

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
def multiple(ratio: Any) -> str:
    """A ratio as a multiple in the active language: ``5.04`` → ``5,0×`` (French); nothing known → ``–``."""
    if ratio is None or ratio == "":
        return "–"
    return number_format(round(float(ratio), 1), decimal_pos=1, use_l10n=True) + "\u00d7"


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


@register.filter
def timeline_text(event: Any) -> str:
    """A timeline event in the active language (``api.backoffice.timeline``)."""
    # Imported here: the timeline module formats its amounts with ``fcfa`` above.
    from api.backoffice.timeline import timeline_text as text

    return text(event)


@register.filter
def duration(delay: Any) -> str:
    """A delay in days, hours and minutes in the active language: ``1 day, 2:30:00`` → ``1 jour 2 h 30 min``;
    zero → ``""`` (the template says "right away" its own way)."""
    if not delay:
        return ""
    minutes = int(delay.total_seconds() // 60)
    days, hours, mins = minutes // (24 * 60), minutes // 60 % 24, minutes % 60
    parts = [ngettext("%(n)s day", "%(n)s days", days) % {"n": days}] if days else []
    parts += [gettext("%(n)s h") % {"n": hours}] if hours else []
    parts += [gettext("%(n)s min") % {"n": mins}] if mins else []
    return " ".join(parts)


@register.filter
def thousands(amount: Any) -> str:
    """``12500`` → ``12 500``: an FCFA amount without its unit, for a narrow table whose heading
    names the unit; nothing known → ``–``."""
    if amount is None or amount == "":
        return "–"
    return f"{round(float(amount)):,}".replace(",", _THIN_SPACE)
