"""Reads the back office composes from the apps' published selectors (no model of theirs is imported)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.db.models import Count, QuerySet

from api.attribution.selectors import rfm_list, weekly_roi_report_cached
from api.common.businesstime import business_today, week_start
from api.contacts.filters import ContactFilter
from api.contacts.selectors import contact_duplicates_of, contact_list, contact_summaries

SEARCH_LIMIT = 30


def contact_search(*, query: str, limit: int = SEARCH_LIMIT) -> QuerySet[Any]:
    """Active contacts matching ``query`` by name, e-mail, username or a phone typed any way
    (``699 12 34 56``, ``+237 6 99…``): the contact list's own ``q`` search, newest first."""
    found = ContactFilter(data={"q": query}, queryset=contact_list()).qs
    return found.order_by("-created_at", "-pk")[:limit]


def contact_probable_duplicates(*, contact_id: int) -> list[Any]:
    """Other contacts the duplicate suggestions put in a group with ``contact_id`` (same name and
    city, or a phone ending with the same 8 digits), for the "already exists?" warning after a quick
    add: one query on this contact's keys, 26-38 ms on 100,000 contacts (grouping the whole file, as
    it did, took 110 s there; bench/back_office.py's data)."""
    return contact_duplicates_of(contact_id=contact_id)


def last_complete_week(*, today: date | None = None) -> date:
    """Monday of the last week that has ended (business time zone): the report's default week."""
    return week_start(today or business_today()) - timedelta(weeks=1)


def week_choices(*, count: int = 12, today: date | None = None) -> list[date]:
    """Mondays of the current week and the ``count - 1`` weeks before it, newest first."""
    monday = week_start(today or business_today())
    return [monday - timedelta(weeks=i) for i in range(count)]


# --- Rapports -------------------------------------------------------------------------------------

TREND_WEEKS = 8
RFM_PAGE_SIZE = 50


def weekly_trend(*, week: date, weeks: int = TREND_WEEKS) -> list[dict[str, Any]]:
    """The totals of ``week`` and the ``weeks - 1`` weeks before it, oldest first: each week's
    ``week_start`` with the weekly ROI report's own totals (revenue, spend, ROI, new customers…).

    One ``weekly_roi_report`` per week (through its cache), so every figure is the report's and no
    rule is written twice; uncached it costs ``weeks`` report reads, which is why the weekly page
    loads it after itself."""
    monday = week_start(week)
    series = []
    for back in range(weeks - 1, -1, -1):
        report = weekly_roi_report_cached(week=monday - timedelta(weeks=back), group="channel")
        series.append({"week_start": report["week_start"], **report["totals"]})
    return series


def rfm_group_counts() -> dict[str, int]:
    """``{RFM group: customers}`` over every scored customer (the nightly RFM scores)."""
    return dict(rfm_list(filters={}).values("group").annotate(n=Count("pk")).order_by()
                .values_list("group", "n"))


def rfm_group_members(*, group: str) -> QuerySet[Any]:
    """The RFM scores of ``group``, biggest spenders first (then the most recent buyers)."""
    return rfm_list(filters={"group": group}).order_by("-monetary_xaf", "recency_days", "contact_id")


def contact_names(contact_ids: list[int]) -> dict[int, str]:
    """``{contact_id: name}`` of the given contacts, as their card shows it (the name, else first and
    last names; empty when none is known); missing contacts are left out."""
    return {contact_id: summary.name or " ".join(p for p in (summary.first_name, summary.last_name) if p)
            for contact_id, summary in contact_summaries(contact_ids).items()}
