"""The business clock: Africa/Douala (``settings.BUSINESS_TIME_ZONE``), weeks starting on Monday.

Rows store UTC; reports, order numbers, due dates and sending windows read the business time
zone through these helpers only, so the zone is named in one place (settings) and built here.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone


@cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def business_tz() -> ZoneInfo:
    """The business time zone (``settings.BUSINESS_TIME_ZONE``, Africa/Douala)."""
    return _zone(settings.BUSINESS_TIME_ZONE)


def business_localtime(moment: datetime | None = None) -> datetime:
    """``moment`` (default: now) as an aware datetime in the business time zone."""
    return timezone.localtime(moment or timezone.now(), business_tz())


def business_today() -> date:
    """Today's date in the business time zone."""
    return business_localtime().date()


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """Start and end (aware, exclusive end) of the business day ``day``."""
    start = datetime.combine(day, time.min, tzinfo=business_tz())
    return start, start + timedelta(days=1)


def week_start(day: date) -> date:
    """The Monday of the week holding ``day`` (business weeks start on Monday)."""
    return day - timedelta(days=day.weekday())


def week_bounds(monday: date) -> tuple[datetime, datetime]:
    """Start and end (aware, exclusive end) of the business week starting on ``monday``."""
    start = datetime.combine(monday, time.min, tzinfo=business_tz())
    return start, start + timedelta(days=7)
