"""Reporting client for the Graph API: Page Insights, Ads Insights (sync and async) and campaigns.

Used by the weekly ROI sync: it reads, it never writes. Every request first honours
``suggested_pause()`` (usage headers of the previous response) through the injectable ``sleep``,
so a long sync slows down before Meta throttles it instead of after.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import requests

from integrations.http import DEFAULT_TIMEOUT
from integrations.meta.base import DEFAULT_BASE_URL, DEFAULT_MAX_PAUSE, GraphBaseClient
from integrations.meta.errors import MetaPermanentError, MetaTransientError
from integrations.meta.types import AdCampaign, AdInsightRow, PageMetricDay

# Page Insights metrics as of 2026. On 2025-11-15 Meta removed page_fans (use page_follows) and
# page_impressions (use page_media_view) from every API version; calling them is an
# "invalid metric" error (developers.facebook.com/documentation/pages-api/changelog).
DEFAULT_PAGE_METRICS: tuple[str, ...] = ("page_follows", "page_media_view")
DEPRECATED_PAGE_METRICS: dict[str, str | None] = {
    "page_fans": "page_follows",
    "page_fans_city": "page_follows_city",
    "page_fans_country": "page_follows_country",
    "page_fans_locale": None,
    "page_fan_adds": None,
    "page_fan_adds_unique": None,
    "page_fan_removes": None,
    "page_fan_removes_unique": None,
    "page_impressions": "page_media_view",
    "page_impressions_paid": "page_media_view (is_from_ads breakdown)",
    "page_impressions_unique": "page_total_media_view_unique",
    "page_impressions_viral": None,
    "page_impressions_nonviral": None,
}
PAGE_INSIGHT_PERIODS = frozenset({"day", "week", "days_28"})
# Meta: "Only 90 days of insights can be viewed at one time when using the since and until parameters".
PAGE_INSIGHTS_MAX_DAYS = 90

AD_INSIGHT_FIELDS = ",".join((
    "campaign_id", "campaign_name", "spend", "impressions", "reach", "clicks", "actions",
    "account_currency", "date_start", "date_stop",
))
# Terminal failures of an async report run; Meta's advice is to start a new run, hence transient.
ASYNC_FAILED_STATUSES = frozenset({"Job Failed", "Job Skipped"})

_ID_RE = re.compile(r"^[0-9A-Za-z_]+$")


def _check_id(value: str, what: str) -> str:
    # Ids go into the URL path: refuse anything that could change the path ("../", "/", "?").
    text = str(value).strip()
    if not _ID_RE.match(text):
        raise MetaPermanentError(f"meta: invalid {what} {text!r}", reason="invalid_argument")
    return text


def ad_account_path(ad_account_id: str) -> str:
    """``"123"`` or ``"act_123"`` -> ``"act_123"``."""
    text = _check_id(ad_account_id, "ad account id")
    return text if text.startswith("act_") else f"act_{text}"


def _to_int(value: Any) -> int:
    if value is None or value == "":
        return 0
    try:
        return int(Decimal(str(value)))
    except InvalidOperation:
        raise MetaPermanentError(f"meta: not a number: {value!r}", reason="bad_response") from None


def parse_ad_insight_row(item: Mapping[str, Any]) -> AdInsightRow:
    """Turn one Ads Insights row (strings, as Meta sends them) into an ``AdInsightRow``.

    ``spend`` goes string -> ``Decimal`` with no float in between; ``actions`` (a list of
    ``{"action_type", "value"}``) becomes ``{action_type: int}``.
    """
    currency = item.get("account_currency")
    if not currency:
        # Without the currency the amount means nothing; fail loudly rather than guess.
        raise MetaPermanentError("meta: insights row without account_currency", reason="bad_response")
    try:
        spend = Decimal(str(item.get("spend") or "0"))
        day = date.fromisoformat(str(item["date_start"]))
    except (InvalidOperation, KeyError, ValueError):
        raise MetaPermanentError("meta: malformed insights row", reason="bad_response") from None
    actions: dict[str, int] = {}
    for action in item.get("actions") or []:
        if isinstance(action, dict) and action.get("action_type"):
            kind = str(action["action_type"])
            actions[kind] = actions.get(kind, 0) + _to_int(action.get("value"))
    return AdInsightRow(
        campaign_id=str(item.get("campaign_id", "")),
        campaign_name=str(item.get("campaign_name", "")),
        day=day,
        spend=spend,
        currency=str(currency),
        impressions=_to_int(item.get("impressions")),
        reach=_to_int(item.get("reach")),
        clicks=_to_int(item.get("clicks")),
        actions=actions,
    )


def _metric_value(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | Decimal | float | str):
        return _to_int(value)
    if isinstance(value, dict):  # a breakdown (e.g. is_from_ads): the daily total is the sum
        return sum(_to_int(v) for v in value.values())
    return None


class GraphClient(GraphBaseClient):
    """Read Page Insights, Ads Insights and campaigns with one access token.

    ``request_count`` counts every HTTP request (polls included); ``sleep`` is called with the
    suggested pause before a request and with the poll interval of async reports.
    """

    auto_pause = True
    # Async report polling: first look after 2 s (small reports finish in seconds), then x1.5 up to
    # 30 s between polls, giving up after 30 minutes of waiting (Meta's documented worst cases for
    # large ranges are minutes, not hours).
    ASYNC_POLL_FIRST_WAIT = 2.0
    ASYNC_POLL_BACKOFF = 1.5
    ASYNC_POLL_MAX_WAIT = 30.0
    ASYNC_POLL_TIMEOUT = 1800.0

    def __init__(self, access_token: str, *, app_secret: str | None = None, base_url: str = DEFAULT_BASE_URL,
                 timeout: Any = DEFAULT_TIMEOUT, session: requests.Session | None = None,
                 sleep: Callable[[float], None] = time.sleep, max_pause: float = DEFAULT_MAX_PAUSE):
        super().__init__(access_token, app_secret=app_secret, base_url=base_url, timeout=timeout,
                         session=session, sleep=sleep, max_pause=max_pause)

    # -- Page Insights ----------------------------------------------------------------------------

    def page_insights(self, page_id: str, metrics: Sequence[str] = DEFAULT_PAGE_METRICS, *, since: date,
                      until: date, period: str = "day") -> list[PageMetricDay]:
        """Return one ``PageMetricDay`` per metric and day from ``since`` to ``until`` (both included).

        Needs a Page token with ``read_insights``/``pages_read_engagement``. The range is cut into
        windows of at most 90 days (Meta's limit). Within a window, ``paging.next`` of Page Insights
        points to the *next time window* beyond ``until``, so it is not followed. Metrics Meta removed
        (``page_fans``, ``page_impressions`` ...) are refused before any call, naming the replacement.
        """
        page = _check_id(page_id, "page id")
        if period not in PAGE_INSIGHT_PERIODS:
            raise MetaPermanentError(f"meta: unsupported period {period!r}", reason="invalid_argument")
        if since > until:
            raise MetaPermanentError("meta: since is after until", reason="invalid_argument")
        wanted = [m.strip() for m in metrics if m and m.strip()]
        if not wanted:
            raise MetaPermanentError("meta: no metric requested", reason="invalid_argument")
        for metric in wanted:
            if metric.lower() in DEPRECATED_PAGE_METRICS:
                alternative = DEPRECATED_PAGE_METRICS[metric.lower()]
                hint = f"; use {alternative}" if alternative else ""
                raise MetaPermanentError(f"meta: Page metric {metric} was removed by Meta{hint}",
                                         reason="metric_deprecated")

        rows: list[PageMetricDay] = []
        window_start = since
        while window_start <= until:
            window_end = min(until, window_start + timedelta(days=PAGE_INSIGHTS_MAX_DAYS - 1))
            body = self._call("GET", f"{page}/insights", params={
                "metric": ",".join(wanted),
                "period": period,
                "since": window_start.isoformat(),
                # Meta's `until` is exclusive for daily values: ask for the day after the last one.
                "until": (window_end + timedelta(days=1)).isoformat(),
            })
            rows += self._parse_page_insights(body, set(wanted), window_start, window_end)
            window_start = window_end + timedelta(days=1)
        return rows

    @staticmethod
    def _parse_page_insights(body: Mapping[str, Any], wanted: set[str], since: date,
                             until: date) -> list[PageMetricDay]:
        rows: list[PageMetricDay] = []
        for entry in body.get("data") or []:
            name = entry.get("name") if isinstance(entry, dict) else None
            if name not in wanted:
                continue
            for point in entry.get("values") or []:
                value = _metric_value(point.get("value"))
                end_time = point.get("end_time")
                if value is None or not end_time:
                    continue
                try:
                    end = datetime.strptime(str(end_time), "%Y-%m-%dT%H:%M:%S%z")
                except ValueError:
                    raise MetaPermanentError(f"meta: bad end_time {end_time!r}", reason="bad_response") from None
                # A daily value ends at midnight Pacific time of the next day (07:00/08:00 UTC):
                # the day it describes is the day before its end_time.
                day = (end - timedelta(days=1)).date()
                if since <= day <= until:
                    rows.append(PageMetricDay(metric=str(name), day=day, value=value))
        return rows

    # -- Ads Insights -----------------------------------------------------------------------------

    def ad_insights_daily(self, ad_account_id: str, since: date, until: date, *, page_size: int = 500,
                          async_threshold_days: int = 31) -> list[AdInsightRow]:
        """Return every campaign's daily delivery (spend, impressions, reach, clicks, actions).

        ``since``/``until`` are both included, in the ad account's time zone (Meta's convention).
        Ranges up to ``async_threshold_days`` use one paginated GET; longer ranges use an async
        report run, because large synchronous insights queries time out on Meta's side.
        Each row carries the account currency; ``spend`` is a ``Decimal``.
        """
        return list(self.iter_ad_insights_daily(ad_account_id, since, until, page_size=page_size,
                                                async_threshold_days=async_threshold_days))

    def iter_ad_insights_daily(self, ad_account_id: str, since: date, until: date, *, page_size: int = 500,
                               async_threshold_days: int = 31) -> Iterator[AdInsightRow]:
        """Like ``ad_insights_daily`` but yields rows page by page (constant memory for long ranges)."""
        act = ad_account_path(ad_account_id)
        if since > until:
            raise MetaPermanentError("meta: since is after until", reason="invalid_argument")
        params = {
            "level": "campaign",
            "time_increment": "1",
            "fields": AD_INSIGHT_FIELDS,
            "time_range": json.dumps({"since": since.isoformat(), "until": until.isoformat()},
                                     separators=(",", ":")),
        }
        days = (until - since).days + 1
        if days > async_threshold_days:
            run_id = self._start_report_run(act, params)
            self._wait_for_report_run(run_id)
            items = self._paginate(f"{run_id}/insights", {"limit": page_size})
        else:
            items = self._paginate(f"{act}/insights", {**params, "limit": page_size})
        for item in items:
            yield parse_ad_insight_row(item)

    def _start_report_run(self, act: str, params: Mapping[str, Any]) -> str:
        body = self._call("POST", f"{act}/insights", data=params)
        run_id = body.get("report_run_id")
        if not run_id:
            raise MetaTransientError("meta: async insights answered without report_run_id", reason="bad_response")
        return _check_id(str(run_id), "report run id")

    def _wait_for_report_run(self, run_id: str) -> None:
        """Poll the report run with capped exponential backoff until Meta says it is complete."""
        wait = self.ASYNC_POLL_FIRST_WAIT
        waited = 0.0
        while True:
            self.sleep(wait)
            waited += wait
            job = self._call("GET", run_id, params={"fields": "id,async_status,async_percent_completion"})
            status = str(job.get("async_status") or "")
            percent = _to_int(job.get("async_percent_completion", 100))
            # Meta can flip the status before the percentage; only both together mean ready.
            if status == "Job Completed" and percent >= 100:
                return
            if status in ASYNC_FAILED_STATUSES:
                raise MetaTransientError(f"meta: async insights report {status.lower()}", reason="report_failed")
            if waited >= self.ASYNC_POLL_TIMEOUT:
                raise MetaTransientError(f"meta: async insights report not ready after {waited:.0f}s "
                                         f"({status}, {percent}%)", reason="report_timeout")
            wait = min(wait * self.ASYNC_POLL_BACKOFF, self.ASYNC_POLL_MAX_WAIT)

    # -- campaigns --------------------------------------------------------------------------------

    def list_campaigns(self, ad_account_id: str, *, page_size: int = 200) -> list[AdCampaign]:
        """Return every campaign of the ad account (id, name, status), across pages."""
        act = ad_account_path(ad_account_id)
        return [
            AdCampaign(id=str(item.get("id", "")), name=str(item.get("name", "")),
                       status=str(item.get("status", "")))
            for item in self._paginate(f"{act}/campaigns", {"fields": "id,name,status", "limit": page_size})
        ]
