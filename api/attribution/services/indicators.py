"""The CRM indicators of a week, computed (``api.attribution.indicators``) and stored per week.

The reports read the stored row (``WeeklyIndicators``) instead of recomputing: a week's indicators
aggregate every sale before the week's end per customer, a year of touches and the customer file,
about half a second on the benchmark's data, while a stored row is one indexed read. A row is written:

- when a report asks for a week that has no row yet, or a week in progress whose row counts fewer
  days than have elapsed (the day changed);
- after each attribution run (``week_indicators_refresh``, every 5 minutes with the incremental run):
  the week in progress and the last complete week are recomputed when their inputs' fingerprint
  (``indicators_inputs_version``) moved: a sale placed or changed before the week's end, a contact
  added or merged, a touch recorded, the RFM scores recomputed;
- nightly for the last ``REFRESH_WEEKS`` weeks, the same way (a backdated order, an old order cancelled).

So a stored figure is at most one run (5 minutes) behind the rows it is computed from, and exact
for weeks whose inputs did not move.
"""

from __future__ import annotations

import hashlib
import time
from datetime import date, datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from api.attribution import conf, engine, indicator_inputs, indicators, selectors
from api.attribution.models import RfmScore, WeeklyIndicators
from api.common.businesstime import business_localtime, week_bounds, week_start

# Weeks the nightly refresh looks at: a quarter, what staff compare in the trends.
REFRESH_WEEKS = 13
# Weeks of reports kept warm after each run: the back office's week picker (12) and trends (8).
REPORT_WARM_WEEKS = 12
DECAY_DAYS = 365
FREQUENCY_DAYS = 365


def _window(monday: date, now: datetime) -> tuple[datetime, datetime, int, bool]:
    """``(start, end, days, in_progress)`` of the week of ``monday`` seen at ``now``: a week in progress
    ends now and counts the days begun (Monday = 1); a future week is empty."""
    start, end = week_bounds(monday)
    if now >= end:
        return start, end, 7, False
    if now < start:
        return start, start, 0, True
    days = (business_localtime(now).date() - monday).days + 1
    return start, now, days, True


def indicators_inputs_version(*, monday: date, now: datetime | None = None) -> str:
    """A fingerprint of what the week's indicators are computed from: the sales placed before the
    week's end (count and latest change), the customer file (newest contact, latest merge), the newest
    touch, the latest RFM computation, the days elapsed, and the database. Small indexed reads."""
    now = now or timezone.now()
    _, end, days, _ = _window(monday, now)
    sales = indicator_inputs.sales_version_until(end)
    parts = (connection.settings_dict["NAME"], monday, days, sales, indicator_inputs.file_version(),
             RfmScore.objects.aggregate(last=Max("computed_at"))["last"])
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:32]


def week_indicators_compute(*, monday: date, now: datetime | None = None) -> dict[str, Any]:
    """The CRM indicators of the week of ``monday`` (definitions in ``api.attribution.indicators``), as
    stored and served: plain JSON values (dates as ISO strings)."""
    now = now or timezone.now()
    start, end, days, in_progress = _window(monday, now)
    flows = indicators.customer_flows(indicator_inputs.customer_sale_times(start, end), start, end,
                                      churn_days=conf.LTV_CHURN_AFTER_DAYS)
    sales, net, _ = indicator_inputs.sales_between(start, end)
    year_sales, _, year_customers = indicator_inputs.sales_between(end - timedelta(days=FREQUENCY_DAYS), end)
    moves = indicator_inputs.stage_moves(start, end)
    new_prospects = sum(1 for _, stage in moves if stage == "prospect")
    stages = indicator_inputs.stage_counts()

    recipients = indicator_inputs.campaign_recipients(start, end)
    replies = (indicator_inputs.reply_times({c for people in recipients.values() for c in people}, start)
               if recipients else {})
    responses = indicators.response_rates(recipients or {}, replies)
    touch_counts = indicator_inputs.campaign_touch_counts(start, end)
    campaign_ids = sorted(set(touch_counts) | set(responses))
    labels = indicator_inputs.campaign_labels(campaign_ids)
    campaigns = []
    for campaign_id in campaign_ids:
        label = labels.get(campaign_id, {})
        counted = touch_counts.get(campaign_id, {"clicks": 0, "replies": 0})
        response: dict[str, Any] = responses.get(campaign_id) or {"recipients": None, "responders": None,
                                                                    "response_rate": None}
        campaigns.append({
            "campaign_id": campaign_id, "campaign_code": label.get("code"), "campaign_name": label.get("name"),
            "channel": label.get("channel"), "clicks": counted["clicks"], "replies_with_code": counted["replies"],
            **response,
            **indicators.click_through(counted["clicks"], None, response["recipients"]),
        })
    campaigns.sort(key=lambda row: (-(row["recipients"] or 0), -row["clicks"], row["campaign_id"]))

    decay_since = end - timedelta(days=DECAY_DAYS)
    base, unreachable, stale = indicator_inputs.file_decay_counts(decay_since, end)
    return {
        "week_start": monday.isoformat(), "week_end": (monday + timedelta(days=6)).isoformat(),
        "in_progress": in_progress, "days_elapsed": days,
        "prospects_now": stages.get("prospect", 0),
        "new_prospects": new_prospects,
        "new_customers": flows.new_customers,
        "prospect_to_customer_rate": indicators.prospect_conversion_rate(
            new_customers=flows.new_customers, new_prospects=new_prospects),
        "sales": sales,
        "average_basket_xaf": indicators.average_basket(net_xaf=net, sales=sales),
        "purchase_frequency": indicators.purchase_frequency(sales=year_sales, customers=year_customers),
        "active_customers_at_start": flows.active_at_start,
        "lost_customers": flows.lost,
        "attrition_rate": flows.attrition_rate,
        "lapsed_customers_at_start": flows.lapsed_at_start,
        "reactivated_customers": flows.reactivated,
        "reactivation_rate": flows.reactivation_rate,
        "churn_after_days": conf.LTV_CHURN_AFTER_DAYS,
        "recipients_known": recipients is not None,
        "campaigns": campaigns,
        "file_decay": indicators.file_decay(base=base, unreachable=unreachable, stale=stale),
        "purchase_types": indicator_inputs.purchase_type_counts(),
    }


def week_indicators_store(*, monday: date, now: datetime | None = None, version: str | None = None) -> WeeklyIndicators:
    """Compute the week's indicators and store them (one row per week, replaced in place). Idempotent."""
    now = now or timezone.now()
    monday = week_start(monday)
    version = version or indicators_inputs_version(monday=monday, now=now)
    began = time.perf_counter()
    figures = week_indicators_compute(monday=monday, now=now)
    elapsed = round((time.perf_counter() - began) * 1000)
    with transaction.atomic():
        row, _ = WeeklyIndicators.objects.update_or_create(
            week_start=monday, defaults={"days": figures["days_elapsed"], "figures": figures,
                                         "inputs_version": version, "computed_at": now, "compute_ms": elapsed})
    return row


def week_indicators_get(*, monday: date, now: datetime | None = None) -> WeeklyIndicators:
    """The stored indicators of the week of ``monday``: the row as stored, computed first when there is
    none yet or when it is a week in progress stored on an earlier day."""
    now = now or timezone.now()
    monday = week_start(monday)
    row = WeeklyIndicators.objects.filter(week_start=monday).first()
    _, _, days, in_progress = _window(monday, now)
    if row is None or (in_progress and row.days != days) or (not in_progress and row.days != 7):
        row = week_indicators_store(monday=monday, now=now)
    return row


def week_indicators_refresh(*, weeks: int = 2, now: datetime | None = None) -> int:
    """Recompute the stored indicators of the last ``weeks`` weeks (the week in progress included) whose
    inputs' fingerprint moved; returns how many were recomputed. Runs after each attribution run (2
    weeks) and nightly (``REFRESH_WEEKS``). Idempotent."""
    now = now or timezone.now()
    current = week_start(business_localtime(now).date())
    done = 0
    stored = dict(WeeklyIndicators.objects.filter(week_start__gt=current - timedelta(weeks=weeks))
                  .values_list("week_start", "inputs_version"))
    for k in range(weeks):
        monday = current - timedelta(weeks=k)
        version = indicators_inputs_version(monday=monday, now=now)
        if stored.get(monday) != version:
            week_indicators_store(monday=monday, now=now, version=version)
            done += 1
    return done


def reports_refresh(*, weeks: int = 2, now: datetime | None = None) -> int:
    """After an attribution run: recompute the stored indicators of the last ``weeks`` weeks whose inputs
    moved (``week_indicators_refresh``), then build the weekly ROI report of the last complete week and
    of the week in progress under every model and both groupings into the report's cache, and the
    weeks before them back to ``REPORT_WARM_WEEKS`` under the default model, so that the reports staff
    open are served from stored figures, not computed on their request (70-120 ms each cold on the
    benchmark's data, 32 of them: one to three seconds of a worker per run).
    Idempotent; returns the number of weeks whose indicators were recomputed."""
    done = week_indicators_refresh(weeks=weeks, now=now)
    current = selectors.current_week()
    for monday in (current - timedelta(weeks=1), current):
        for model in engine.MODELS:
            selectors.weekly_roi_reports_cached(week=monday, model=model, groups=("channel", "campaign"))
    # Every week of the back office's week picker and trends, under the default model: a run changes the
    # credits of any week, and staff open older weeks too (about 120 ms each, so a second or two a run).
    for back in range(2, REPORT_WARM_WEEKS):
        selectors.weekly_roi_reports_cached(week=current - timedelta(weeks=back), groups=("channel", "campaign"))
    return done
