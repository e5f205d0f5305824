"""Whom a broadcast, a sequence or a birthday message may reach (consent is checked at send time)."""

from __future__ import annotations

import calendar
from datetime import date
from typing import Any

from django.db.models import Q, QuerySet
from django.db.models.functions import Lower

from api.common.errors import ApplicationError, field_error
from api.contacts.models import Contact
from api.contacts.registry import contact_groupings
from api.contacts.selectors.consent import CHANNEL_IDENTITY
from api.contacts.selectors.contacts import contacts_live


def contacts_born_on(*, month: int, day: int) -> QuerySet[Contact]:
    """Live contacts born on ``day``/``month`` (any year), not opted out: whom a birthday message may
    greet today. Born on 29 February: greeted on 28 February in the years without a 29th (pass
    ``month=2, day=29`` on those days too, see ``birthday_days``)."""
    return (contacts_live().filter(birth_date__month=month, birth_date__day=day, opted_out_at__isnull=True)
            .order_by("pk"))


def birthday_days(today: date) -> list[tuple[int, int]]:
    """The ``(month, day)`` birthdays celebrated on ``today``: the day itself, and 29 February on
    28 February of a year without one."""
    days = [(today.month, today.day)]
    if (today.month, today.day) == (2, 28) and not calendar.isleap(today.year):
        days.append((2, 29))
    return days


_AUDIENCE_KEYS = {"segment", "lifecycle_stage", "tags", "self_reported_source", "acquisition_channel", "city",
                  "channel"}


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list | tuple | set):
        return [str(v) for v in value]
    return [str(value)]


def contacts_audience(filters: dict[str, Any]) -> QuerySet[Contact]:
    """Active, not opted-out contacts matching ``filters`` (each value a string or a list of strings,
    any of which matches): ``segment``, ``lifecycle_stage``, ``tags`` (any tag), ``self_reported_source``,
    ``acquisition_channel``, ``city`` (case-insensitive), ``channel`` (has the identity for it), and
    the groupings other apps registered (``rfm_group``). An unknown key or grouping value is a 400, so
    that a campaign with a typo does not reach everyone.
    Consent is not checked here: use ``contact_can_receive`` at send time.
    """
    groupings = contact_groupings()
    unknown = set(filters) - _AUDIENCE_KEYS - set(groupings)
    if unknown:
        raise ApplicationError(f"Unknown audience filter: {', '.join(sorted(unknown))}.", code="validation_error",
                               errors=[field_error(k, "Unknown audience filter.") for k in sorted(unknown)])
    qs = contacts_live().filter(opted_out_at__isnull=True)
    for key in ("segment", "lifecycle_stage", "self_reported_source", "acquisition_channel"):
        values = _as_list(filters.get(key))
        if values:
            qs = qs.filter(**{f"{key}__in": values})
    cities = [c.lower() for c in _as_list(filters.get("city"))]
    if cities:
        qs = qs.alias(city_l=Lower("city")).filter(city_l__in=cities)
    tags = _as_list(filters.get("tags"))
    if tags:
        qs = qs.filter(pk__in=Contact.tags.through.objects.filter(tag__name__in=tags).values("contact_id"))
    for channel in _as_list(filters.get("channel")):
        qs = qs.filter(has_channel_q(channel))
    for name, grouping in groupings.items():
        values = _as_list(filters.get(name))
        wrong = sorted(set(values) - {value for value, _label in grouping.choices})
        if wrong:
            raise ApplicationError(f"Unknown {name}: {', '.join(wrong)}.", code="validation_error",
                                   errors=[field_error(name, f"One of: {', '.join(v for v, _ in grouping.choices)}.")])
        if values:
            qs = qs.filter(pk__in=grouping.contact_ids(values))
    return qs


def has_channel_q(channel: str) -> Q:
    """Contacts with an identity usable on ``channel``."""
    fields = CHANNEL_IDENTITY.get(channel)
    if fields is None:
        raise ApplicationError(f"Unknown channel {channel!r}.", code="validation_error",
                               errors=[field_error("channel", "Unknown channel.", "invalid_choice")])
    q = Q()
    for f in fields:
        q |= Q(**{f"{f}__isnull": False}) & ~Q(**{f: ""})
    return q if fields else Q()
