"""Reads the back office composes from the apps' published selectors (no model of theirs is imported)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.db.models import QuerySet

from api.common.businesstime import business_today, week_start
from api.contacts.filters import ContactFilter
from api.contacts.selectors import contact_duplicate_groups, contact_list

SEARCH_LIMIT = 30


def contact_search(*, query: str, limit: int = SEARCH_LIMIT) -> QuerySet[Any]:
    """Active contacts matching ``query`` by name, e-mail, username or a phone typed any way
    (``699 12 34 56``, ``+237 6 99…``): the contact list's own ``q`` search, newest first."""
    found = ContactFilter(data={"q": query}, queryset=contact_list()).qs
    return found.order_by("-created_at", "-pk")[:limit]


def contact_probable_duplicates(*, contact_id: int) -> list[Any]:
    """Other contacts the duplicate suggestions put in a group with ``contact_id`` (same name and
    city, or a phone ending with the same 8 digits), for the "already exists?" warning. It reads
    every group of the contact file, so it is called once after a quick add, not on every page."""
    others: dict[int, Any] = {}
    for group in contact_duplicate_groups(limit=10_000):
        members = group["contacts"]
        if any(c.pk == contact_id for c in members):
            others.update({c.pk: c for c in members if c.pk != contact_id})
    return list(others.values())


def last_complete_week(*, today: date | None = None) -> date:
    """Monday of the last week that has ended (business time zone): the report's default week."""
    return week_start(today or business_today()) - timedelta(weeks=1)


def week_choices(*, count: int = 12, today: date | None = None) -> list[date]:
    """Mondays of the current week and the ``count - 1`` weeks before it, newest first."""
    monday = week_start(today or business_today())
    return [monday - timedelta(weeks=i) for i in range(count)]
