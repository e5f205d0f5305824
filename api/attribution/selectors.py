"""Reads of the attribution app: the weekly ROI report, model comparison, funnel, LTV, cohorts, RFM.

Weeks start on Monday 00:00 in the business time zone (``api.common.businesstime``). Credits are counted in
the week of their ``occurred_at`` (the order time; a refund in the week it was made). Costs are
counted on their ``day`` (already a business-time-zone date).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import Count, DateField, Q, QuerySet, Sum
from django.db.models.functions import TruncWeek
from django.utils import timezone

from api.attribution import conf, engine, metrics, report_inputs
from api.attribution.enums import RunState
from api.attribution.ltv_report import ltv_report_build
from api.attribution.metrics import roi_figures
from api.attribution.models import AttributionCredit, AttributionRun, ReferralReward, RfmScore
from api.common.businesstime import business_today, business_tz, day_bounds, week_bounds, week_start
from api.common.errors import ApplicationError, field_error

NO_CAMPAIGN = "no campaign"


def model_or_default(model: str | None) -> str:
    model = model or conf.DEFAULT_MODEL
    if model not in engine.MODELS:
        raise ApplicationError(f"Unknown attribution model {model!r}.", code="validation_error",
                               errors=[field_error("model", f"Choose one of {', '.join(engine.MODELS)}.",
                                                   "invalid_choice")])
    return model


def current_week() -> date:
    """The Monday of this business week."""
    return week_start(business_today())


def last_complete_week() -> date:
    """The Monday of the last business week that has ended: the weekly report's default week."""
    return current_week() - timedelta(weeks=1)


def days_elapsed(monday: date) -> int:
    """How many days of the week of ``monday`` have begun (Monday alone = 1): 7 for a week that is over,
    0 for a week to come."""
    return max(0, min(7, (business_today() - monday).days + 1))


# --- weekly ROI ----------------------------------------------------------------------------------

_SUMS = ("cost_xaf", "revenue_xaf", "margin_xaf", "orders", "new_customers", "leads", "orders_without_source")


def _new_bucket() -> dict[str, float]:
    return dict.fromkeys(_SUMS, 0)


def _week_index(day: date, first_monday: date) -> int:
    return (day - first_monday).days // 7


# What the weekly report reads, for ``weeks`` weeks from a Monday: credits summed per campaign, channel
# and week; costs per campaign and day; new contacts per week and first touch. Both groupings (per
# channel, per campaign) are made from the same rows.
WeeklyInputs = tuple[list[dict[str, Any]], list[tuple[int, str, date, int]], list[tuple[date, str | None, int]]]


def _weeks_span(first_monday: date, weeks: int) -> tuple[datetime, datetime]:
    start, _ = week_bounds(first_monday)
    _, end = week_bounds(first_monday + timedelta(weeks=weeks - 1))
    return start, end


def _weekly_credits(*, first_monday: date, weeks: int, model: str) -> list[dict[str, Any]]:
    """Credits of ``model`` summed per campaign, channel and business week (the week's Monday, a seventh
    of the rows of a daily sum)."""
    start, end = _weeks_span(first_monday, weeks)
    return _credits_per_week(Q(occurred_at__gte=start, occurred_at__lt=end), model=model)


def _credits_per_week(when: Q, *, model: str) -> list[dict[str, Any]]:
    """The credits of ``model`` matching ``when``, summed per campaign, channel and business week."""
    summed = (AttributionCredit.objects.filter(when, model=model)
              .annotate(day=TruncWeek("occurred_at", output_field=DateField(), tzinfo=business_tz()))
              .values("campaign_id", "channel", "day")
              .annotate(revenue=Sum("revenue_xaf"), margin=Sum("margin_xaf"), orders=Sum("weight"),
                        new=Sum("weight", filter=Q(is_first_order=True, is_refund=False)))
              .order_by())
    return [dict(row) for row in summed]


def _first_days(first_monday: date, weeks: int, days: int) -> list[tuple[datetime, datetime]]:
    """``[start, end)`` of the first ``days`` days (Monday first) of each of the ``weeks`` weeks."""
    mondays = [first_monday + timedelta(weeks=k) for k in range(weeks)]
    return [(day_bounds(monday)[0], day_bounds(monday + timedelta(days=days))[0]) for monday in mondays]


def _same_days_credits(*, first_monday: date, weeks: int, model: str, days: int) -> list[dict[str, Any]]:
    """``_weekly_credits`` of the first ``days`` days of each week only (a week in progress compared like
    with like): one query over the ``weeks`` time ranges."""
    if days >= 7:
        return _weekly_credits(first_monday=first_monday, weeks=weeks, model=model)
    ranges = Q()
    for start, end in _first_days(first_monday, weeks, days):
        ranges |= Q(occurred_at__gte=start, occurred_at__lt=end)
    return _credits_per_week(ranges, model=model)


def _same_days_costs(costs: list[tuple[int, str, date, int]], first_monday: date,
                     days: int) -> list[tuple[int, str, date, int]]:
    """The cost rows of the first ``days`` days of each week."""
    return costs if days >= 7 else [row for row in costs if (row[2] - first_monday).days % 7 < days]


def _same_days_leads(first_monday: date, weeks: int, days: int) -> list[tuple[date, str | None, int]]:
    """``new_contacts_by_first_touch`` of the first ``days`` days of each week."""
    if days >= 7:
        start, end = _weeks_span(first_monday, weeks)
        return report_inputs.new_contacts_by_first_touch(start, end)
    leads: list[tuple[date, str | None, int]] = []
    for start, end in _first_days(first_monday, weeks, days):
        leads += report_inputs.new_contacts_by_first_touch(start, end)
    return leads


def _weekly_inputs(*, first_monday: date, weeks: int, model: str, days: int = 7) -> WeeklyInputs:
    """The rows ``_weekly_buckets`` groups, of the first ``days`` days of each week (every day by
    default): three queries, or 2 + ``weeks`` for part of each week."""
    credits = _same_days_credits(first_monday=first_monday, weeks=weeks, model=model, days=days)
    costs = list(report_inputs.daily_costs(first_monday, first_monday + timedelta(weeks=weeks)))
    return credits, _same_days_costs(costs, first_monday, days), _same_days_leads(first_monday, weeks, days)


def _weekly_buckets(*, first_monday: date, weeks: int, model: str, group: str,
                    load_inputs: Callable[..., WeeklyInputs] = _weekly_inputs, days: int = 7,
                    ) -> tuple[dict[Any, list[dict[str, float]]], dict[Any, dict[str, Any]]]:
    """``{key: [bucket per week]}`` with cost, credits and leads, and the label of each key."""
    credits, costs, leads = load_inputs(first_monday=first_monday, weeks=weeks, model=model, days=days)
    buckets: dict[Any, list[dict[str, float]]] = defaultdict(lambda: [_new_bucket() for _ in range(weeks)])
    labels: dict[Any, dict[str, Any]] = {}

    def key_of(campaign_id: int | None, channel: str) -> Any:
        key = channel if group == "channel" else (campaign_id, channel)
        labels.setdefault(key, {"channel": channel, "campaign_id": None if group == "channel" else campaign_id})
        return key

    for row in credits:
        index = _week_index(row["day"], first_monday)
        if not 0 <= index < weeks:
            continue
        bucket = buckets[key_of(row["campaign_id"], row["channel"])][index]
        bucket["revenue_xaf"] += row["revenue"] or 0
        bucket["margin_xaf"] += row["margin"] or 0
        bucket["orders"] += row["orders"] or 0
        bucket["new_customers"] += row["new"] or 0
        if row["channel"] == engine.UNKNOWN_CHANNEL and row["campaign_id"] is None:
            bucket["orders_without_source"] += row["orders"] or 0

    for cost_campaign, cost_channel, day, amount in costs:
        buckets[key_of(cost_campaign, cost_channel)][_week_index(day, first_monday)]["cost_xaf"] += amount

    # Leads: contacts created in the week, credited to the campaign / channel of their first touch.
    # The key's channel is already the touch's (its campaign's, else its kind's, else its own).
    for week, first_key, n in leads:
        campaign_id: int | None = None
        channel = None
        if first_key is not None:
            campaign, channel = first_key.split("|", 1)
            if campaign:
                campaign_id = int(campaign)
        index = _week_index(week, first_monday)
        lead_channel = channel or engine.UNKNOWN_CHANNEL
        buckets[key_of(campaign_id, lead_channel)][index]["leads"] += n
    return buckets, labels


def _figures(bucket: dict[str, float]) -> dict[str, Any]:
    roi = roi_figures(cost=int(bucket["cost_xaf"]), revenue=int(bucket["revenue_xaf"]),
                      margin=int(bucket["margin_xaf"]), new_customers=bucket["new_customers"])
    return {
        "cost_xaf": int(bucket["cost_xaf"]),
        "revenue_xaf": int(bucket["revenue_xaf"]),
        "margin_xaf": int(bucket["margin_xaf"]),
        "orders": round(bucket["orders"], 2),
        "new_customers": round(bucket["new_customers"], 2),
        "leads": int(bucket["leads"]),
        "roas": roi.roas,
        "roi": roi.roi,
        "cac_xaf": roi.cac,
        "margin_rate": roi.margin_rate,
        "break_even_revenue_xaf": roi.break_even_revenue_xaf,
    }


def _with_trend(series: list[dict[str, float]]) -> dict[str, Any]:
    """Figures of the last week of ``series`` and its change vs the week before and the 4 before."""
    current = _figures(series[-1])
    previous = _figures(series[-2]) if len(series) >= 2 else None
    history = series[:-1][-4:]
    average = _new_bucket()
    for bucket in history:
        for name in _SUMS:
            average[name] += bucket[name] / max(len(history), 1)
    avg = _figures(average) if history else None
    current["revenue_change_vs_previous_week"] = metrics.change(current["revenue_xaf"],
                                                                previous["revenue_xaf"] if previous else None)
    current["roas_change_vs_previous_week"] = metrics.change(current["roas"], previous["roas"] if previous else None)
    current["revenue_4_week_average_xaf"] = avg["revenue_xaf"] if avg else None
    current["revenue_change_vs_4_week_average"] = metrics.change(current["revenue_xaf"],
                                                                 avg["revenue_xaf"] if avg else None)
    current["roas_4_week_average"] = avg["roas"] if avg else None
    current["cost_without_orders"] = current["cost_xaf"] > 0 and current["orders"] == 0
    return current


def weekly_roi_report(*, week: date | None = None, model: str | None = None, group: str = "channel") -> dict[str, Any]:
    """The ROI report of one week per channel (or per campaign) under ``model``, with trends; by default
    the last complete week.

    Rows include costs without any attributed order and orders without a known source; the
    totals give the share of orders with no source, to remind staff to ask, and the profit and ROI
    after the week's fixed costs (staff pay, delivery, other overheads).

    **Like with like**: the week in progress says so (``in_progress``, ``days_elapsed``) and is compared
    with the same days (Monday to the same weekday) of the weeks before it: every figure of the
    previous week and of the 4-week average then counts only those days, and the week's fixed costs
    count ``days_elapsed`` sevenths. Changes are ratios (0.25 = +25 %).
    """
    model = model_or_default(model)
    _check_group(group)
    return _weekly_report(monday=week_start(week or last_complete_week()), model=model, group=group)


def _check_group(group: str) -> None:
    if group not in ("channel", "campaign"):
        raise ApplicationError("group must be channel or campaign.", code="validation_error",
                               errors=[field_error("group", "Choose channel or campaign.", "invalid_choice")])


FixedCosts = dict[date, dict[str, int]]


def _fixed_costs(first_monday: date, weeks: int) -> FixedCosts:
    return report_inputs.fixed_costs_per_week(first_monday, first_monday + timedelta(weeks=weeks))


def _with_fixed_costs(totals: dict[str, Any], series: list[dict[str, float]], fixed: FixedCosts,
                      first_monday: date, days: int) -> None:
    """Add to ``totals`` (the last week of ``series``) the week's fixed costs per kind, the profit and
    ROI after them, the break-even revenue that pays them too, and the profit's change against the
    previous week (its fixed costs counted for the same days)."""
    share = min(days, 7) / 7

    def fixed_of(index: int) -> dict[str, int]:
        kinds = fixed.get(first_monday + timedelta(weeks=index), {})
        return {kind: round(kinds.get(kind, 0) * share) for kind in FIXED_COST_KINDS}

    def profit(index: int) -> int:
        bucket = series[index]
        return int(bucket["margin_xaf"]) - int(bucket["cost_xaf"]) - sum(fixed_of(index).values())

    last = len(series) - 1
    kinds = fixed_of(last)
    total = sum(kinds.values())
    spent = int(series[last]["cost_xaf"]) + total
    margin_rate = totals["margin_rate"]
    totals.update({
        "fixed_costs_xaf": kinds,
        "fixed_cost_total_xaf": total,
        "profit_after_fixed_costs_xaf": profit(last),
        "roi_after_fixed_costs": metrics.ratio(profit(last), spent),
        "break_even_revenue_after_fixed_costs_xaf": (round(spent / margin_rate)
                                                     if margin_rate and margin_rate > 0 else None),
        "profit_change_vs_previous_week": metrics.change(profit(last), profit(last - 1)) if last else None,
    })


#: The kinds of fixed costs, as the campaigns app stores them.
FIXED_COST_KINDS = ("staff", "delivery", "other")


def _weekly_report(*, monday: date, model: str, group: str,
                   load_inputs: Callable[..., WeeklyInputs] = _weekly_inputs,
                   load_fixed: Callable[[date, int], FixedCosts] = _fixed_costs) -> dict[str, Any]:
    """The body of ``weekly_roi_report`` for a checked model and group; ``load_inputs`` reads its rows,
    ``load_fixed`` the fixed costs."""
    first = monday - timedelta(weeks=4)
    days = days_elapsed(monday)
    in_progress = monday == current_week()  # on a Sunday too: 7 days begun, the last not over
    compared = days if in_progress else 7
    buckets, labels = _weekly_buckets(first_monday=first, weeks=5, model=model, group=group,
                                      load_inputs=load_inputs, days=compared)
    campaigns = report_inputs.campaign_labels(label["campaign_id"] for label in labels.values())
    rows = []
    for key, series in buckets.items():
        label = labels[key]
        row = {"key": key if isinstance(key, str) else f"{key[0] or '-'}:{key[1]}", **label}
        campaign = campaigns.get(label["campaign_id"]) if label["campaign_id"] else None
        row["campaign_code"] = campaign["code"] if campaign else None
        row["campaign_name"] = campaign["name"] if campaign else (None if group == "channel" else NO_CAMPAIGN)
        row.update(_with_trend(series))
        if any(series[-1][name] for name in _SUMS) or any(b["revenue_xaf"] or b["cost_xaf"] for b in series):
            rows.append(row)
    rows.sort(key=lambda r: (-r["revenue_xaf"], -r["cost_xaf"], r["key"]))
    total_series = [_new_bucket() for _ in range(5)]
    for series in buckets.values():
        for i, bucket in enumerate(series):
            for name in _SUMS:
                total_series[i][name] += bucket[name]
    totals = _with_trend(total_series)
    _with_fixed_costs(totals, total_series, load_fixed(first, 5), first, compared)
    orders = total_series[-1]["orders"]
    without = total_series[-1]["orders_without_source"]
    week_end = monday + timedelta(days=6)
    return {
        "week_start": monday,
        "week_end": week_end,
        "model": model,
        "group": group,
        "in_progress": in_progress,
        "days_elapsed": days,
        "compared_days": compared,
        "rows": rows,
        "totals": totals,
        "unattributed_cost_xaf": sum(r["cost_xaf"] for r in rows if r["cost_without_orders"]),
        "orders_without_source": round(without, 2),
        "share_orders_without_source": metrics.ratio(without, orders, 4),
        "last_run": last_run_summary(),
    }


# The back office shows the weekly report on every load of Ma journée, the reports and the campaigns.
# It is kept in the cache in parts, each under a fingerprint of what it is computed from, so that a
# change re-reads only its own part: the credits change only with an attribution run, the costs with
# a cost row or a campaign, the new contacts of weeks that are over only with a contact created in
# them or a merge, those of the week in progress with any new contact or touch. On 100,000 contacts and 1,000,000 touches the credits
# are most of the cost (bench/back_office.py), and they are read again only after a run.
REPORT_CACHE_SECONDS = 300  # the assembled report, and the parts that change all day
REPORT_PART_SECONDS = 24 * 3600  # parts whose fingerprint names every input they read
# New contacts of weeks that are over: the fingerprint does not see a first touch recorded late for an
# older contact (a contact imported last month who writes today), so this bounds how long that shows.
REPORT_CLOSED_LEADS_SECONDS = 900


def _fingerprint(*parts: Any) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:20]


def _cached(key: str, seconds: int, compute: Callable[[], Any]) -> Any:
    value = cache.get(key)
    if value is None:
        value = compute()
        cache.set(key, value, seconds)
    return value


def _last_run_version() -> tuple[Any, ...] | None:
    return (AttributionRun.objects.filter(state=RunState.SUCCEEDED).order_by("-finished_at")
            .values_list("pk", "finished_at").first())


def _cache_scope() -> str:
    """What no two databases (and no two tests, through ``REPORT_CACHE_SCOPE``) share in a report's keys:
    a fingerprint of rows by count and newest id is only meaningful within one database's history."""
    return f"{connection.settings_dict['NAME']}:{settings.REPORT_CACHE_SCOPE}"


def _report_versions() -> tuple[Any, ...]:
    """``(database, last successful run, costs, leads, fixed costs)`` fingerprints: what the weekly
    report is computed from. The database's name keeps two test runs sharing one cache from sharing a key."""
    return (_cache_scope(), _last_run_version(), report_inputs.costs_version(),
            report_inputs.leads_version(), report_inputs.fixed_costs_version())


def report_data_version() -> str:
    """A short fingerprint of everything the weekly report is computed from: the last successful run
    (credits change only with a run), the costs, campaigns, touches and contacts (``report_inputs``),
    and the database."""
    return _fingerprint(*_report_versions())


def _leads_cached(start: datetime, end: datetime, db: Any, leads_version: Any) -> list[tuple[date, str | None, int]]:
    """``new_contacts_by_first_touch(start, end)`` from the cache: the part in weeks that are over under
    their own version, the part in the week in progress under ``leads_version``."""
    split = min(max(start, week_bounds(current_week())[0]), end)
    leads: list[tuple[date, str | None, int]] = []
    if start < split:
        closed = _fingerprint(db, start, split, report_inputs.closed_weeks_leads_version(start, split))
        leads += _cached(f"attribution:weekly-leads-closed:{closed}", REPORT_CLOSED_LEADS_SECONDS,
                         lambda: report_inputs.new_contacts_by_first_touch(start, split))
    if split < end:
        current = _fingerprint(db, split, end, leads_version)
        leads += _cached(f"attribution:weekly-leads-current:{current}", REPORT_CACHE_SECONDS,
                         lambda: report_inputs.new_contacts_by_first_touch(split, end))
    return leads


def _weekly_inputs_cached(*, first_monday: date, weeks: int, model: str, versions: tuple[Any, ...],
                          days: int = 7) -> WeeklyInputs:
    """``_weekly_inputs``, each part from the cache under its own fingerprint (see above); ``versions``
    are ``_report_versions()`` as read for the report. With ``days`` < 7 (a week in progress compared
    like with like) the credits are cached under ``days`` too, and the new contacts per week's first days."""
    db, run, costs_version, leads_version = versions[:4]
    credits = _cached(f"attribution:weekly-credits:{_fingerprint(db, first_monday, weeks, model, run, days)}",
                      REPORT_PART_SECONDS,
                      lambda: _same_days_credits(first_monday=first_monday, weeks=weeks, model=model, days=days))
    costs_until = first_monday + timedelta(weeks=weeks)
    costs = _cached(f"attribution:weekly-costs:{_fingerprint(db, first_monday, weeks, costs_version)}",
                    REPORT_PART_SECONDS, lambda: list(report_inputs.daily_costs(first_monday, costs_until)))
    spans = [_weeks_span(first_monday, weeks)] if days >= 7 else _first_days(first_monday, weeks, days)
    leads: list[tuple[date, str | None, int]] = []
    for start, end in spans:
        leads += _leads_cached(start, end, db, leads_version)
    return credits, _same_days_costs(costs, first_monday, days), leads


def weekly_roi_reports_cached(*, week: date | None = None, model: str | None = None,
                              groups: Iterable[str] = ("channel",)) -> dict[str, dict[str, Any]]:
    """``{group: weekly_roi_report}`` for each of ``groups``, kept in the cache under the week, the
    model, the grouping and ``report_data_version()`` for ``REPORT_CACHE_SECONDS``, and made from inputs
    cached in parts (``_weekly_inputs_cached``): the back office's pages show it on every load, it
    changes only when its data does (a few small reads tell), and a change re-reads only the part it
    touched. The groupings asked together share one read of the versions and of the inputs."""
    model = model_or_default(model)
    groups = list(groups)
    for group in groups:
        _check_group(group)
    monday = week_start(week or last_complete_week())
    versions = _report_versions()
    version = _fingerprint(*versions)
    days = days_elapsed(monday)
    keys = {group: f"attribution:weekly-report:{monday}:{days}:{model}:{group}:{version}" for group in groups}
    found = cache.get_many(list(keys.values()))
    reports = {group: found[key] for group, key in keys.items() if key in found}
    missing = [group for group in groups if group not in reports]
    if missing:
        read: dict[tuple[date, int, str, int], WeeklyInputs] = {}

        def load_inputs(*, first_monday: date, weeks: int, model: str, days: int = 7) -> WeeklyInputs:
            if (first_monday, weeks, model, days) not in read:
                read[first_monday, weeks, model, days] = _weekly_inputs_cached(
                    first_monday=first_monday, weeks=weeks, model=model, versions=versions, days=days)
            return read[first_monday, weeks, model, days]

        def load_fixed(first_monday: date, weeks: int) -> FixedCosts:
            key = f"attribution:weekly-fixed:{_fingerprint(versions[0], first_monday, weeks, versions[4])}"
            return _cached(key, REPORT_PART_SECONDS, lambda: _fixed_costs(first_monday, weeks))

        made = {group: _weekly_report(monday=monday, model=model, group=group, load_inputs=load_inputs,
                                      load_fixed=load_fixed)
                for group in missing}
        cache.set_many({keys[group]: report for group, report in made.items()}, REPORT_CACHE_SECONDS)
        reports.update(made)
    return reports


def weekly_roi_report_cached(*, week: date | None = None, model: str | None = None,
                             group: str = "channel") -> dict[str, Any]:
    """One grouping of ``weekly_roi_reports_cached``."""
    return weekly_roi_reports_cached(week=week, model=model, groups=(group,))[group]


def last_run_summary() -> dict[str, Any] | None:
    """The id, kind and end of the last successful run, None before the first."""
    run = AttributionRun.objects.filter(state=RunState.SUCCEEDED).order_by("-finished_at").first()
    if run is None:
        return None
    return {"id": run.pk, "kind": run.kind, "finished_at": run.finished_at}


def weekly_report_csv_rows(report: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of the weekly report as CSV (one line per channel / campaign, then the total)."""
    columns = ["week_start", "model", "channel", "campaign_code", "campaign_name", "cost_xaf", "revenue_xaf",
               "margin_xaf", "orders", "new_customers", "leads", "roas", "roi", "cac_xaf",
               "break_even_revenue_xaf", "revenue_change_vs_previous_week", "revenue_change_vs_4_week_average",
               "cost_without_orders"]
    out = []
    for row in [*report["rows"], {**report["totals"], "channel": "TOTAL", "campaign_code": "", "campaign_name": ""}]:
        line = {**row, "week_start": report["week_start"].isoformat(), "model": report["model"]}
        out.append(["" if line.get(c) is None else line.get(c) for c in columns])
    return columns, out


# --- model comparison ---------------------------------------------------------------------------


def model_comparison(*, week: date | None = None) -> dict[str, Any]:
    """The same week's credit per channel under every model side by side."""
    monday = week_start(week or current_week())
    start, end = week_bounds(monday)
    table: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for row in (AttributionCredit.objects.filter(occurred_at__gte=start, occurred_at__lt=end)
                .values("model", "channel")
                .annotate(revenue=Sum("revenue_xaf"), margin=Sum("margin_xaf"), orders=Sum("weight"))
                .order_by()):
        table[row["channel"]][row["model"]] = {"revenue_xaf": int(row["revenue"] or 0),
                                               "margin_xaf": int(row["margin"] or 0),
                                               "orders": round(row["orders"] or 0, 2)}
    costs = report_inputs.costs_per_channel(monday, monday + timedelta(days=7))
    channels = sorted(set(table) | set(costs))
    rows = []
    for channel in channels:
        cost = int(costs.get(channel) or 0)
        per_model = []
        revenues = []
        for model in engine.MODELS:
            cell = table[channel].get(model, {"revenue_xaf": 0, "margin_xaf": 0, "orders": 0.0})
            revenues.append(cell["revenue_xaf"])
            per_model.append({"model": model, **cell, "roas": metrics.ratio(cell["revenue_xaf"], cost)})
        rows.append({"channel": channel, "cost_xaf": cost, "models": per_model,
                     "spread_xaf": max(revenues) - min(revenues)})
    rows.sort(key=lambda r: (-max(m["revenue_xaf"] for m in r["models"]), r["channel"]))
    return {"week_start": monday, "week_end": monday + timedelta(days=6), "models": list(engine.MODELS),
            "rows": rows}


# --- funnel -----------------------------------------------------------------------------------------

STAGES = ("suspect", "prospect", "customer", "repeat_customer", "ambassador", "inactive")


def funnel(*, weeks: int = 8, until: date | None = None) -> dict[str, Any]:
    """Per week: contacts that entered each stage, conversion between stages, and the median number
    of touches before a first order. New contacts count as entering ``suspect`` (the top)."""
    weeks = max(1, min(weeks, 104))
    last = week_start(until or current_week())
    first = last - timedelta(weeks=weeks - 1)
    start, _ = week_bounds(first)
    _, end = week_bounds(last)
    entered = [dict.fromkeys(STAGES, 0) for _ in range(weeks)]
    tz = business_tz()
    for created_at in report_inputs.contact_creation_times(start, end):
        entered[_week_index(created_at.astimezone(tz).date(), first)]["suspect"] += 1
    for at, stage in report_inputs.lifecycle_changes(start, end):
        if stage in STAGES and stage != "suspect":
            entered[_week_index(at.astimezone(tz).date(), first)][stage] += 1
    firsts = list(AttributionCredit.objects.filter(model=engine.FIRST_TOUCH, is_first_order=True, is_refund=False,
                                                   occurred_at__gte=start, occurred_at__lt=end)
                  .values_list("contact_id", "occurred_at").distinct())
    touches: dict[int, list[datetime]] = defaultdict(list)
    ids = list({c for c, _ in firsts})
    for contact_id, occurred_at in report_inputs.tracked_touch_times(ids):
        touches[contact_id].append(occurred_at)
    counts: list[list[int]] = [[] for _ in range(weeks)]
    for contact_id, placed_at in firsts:
        index = _week_index(placed_at.astimezone(tz).date(), first)
        counts[index].append(sum(1 for t in touches.get(contact_id, []) if t <= placed_at))
    rows = []
    for i in range(weeks):
        e = entered[i]
        rows.append({
            "week_start": first + timedelta(weeks=i),
            **{stage: e[stage] for stage in STAGES},
            "prospect_rate": metrics.ratio(e["prospect"], e["suspect"], 4),
            "customer_rate": metrics.ratio(e["customer"], e["prospect"], 4),
            "repeat_rate": metrics.ratio(e["repeat_customer"], e["customer"], 4),
            "ambassador_rate": metrics.ratio(e["ambassador"], e["repeat_customer"], 4),
            "first_orders": len(counts[i]),
            "median_touches_before_first_order": metrics.median(counts[i]),
        })
    current = report_inputs.live_stage_counts()
    all_counts = [n for week_counts in counts for n in week_counts]
    return {"weeks": rows, "current": {stage: current.get(stage, 0) for stage in STAGES},
            "median_touches_before_first_order": metrics.median(all_counts), "expected_touches": 9}


# --- LTV and cohorts ----------------------------------------------------------------------------------


def ltv_report(*, model: str | None = None, limit: int = 50, now: datetime | None = None) -> dict[str, Any]:
    """LTV overall, per segment and per acquisition channel (with CAC, LTV:CAC and LTV net of acquisition
    cost), and the top customers: the method is ``api.attribution.ltv``'s, the reads ``ltv_report``'s."""
    return ltv_report_build(model=model_or_default(model), limit=limit, now=now)


def cohort_retention(*, months: int = 12) -> dict[str, Any]:
    """Share of each cohort (month of first order) that ordered again k months later."""
    months = max(1, min(months, 36))
    tz = business_tz()
    now_month = metrics.cohort_month(timezone.now(), tz)
    index = now_month.year * 12 + now_month.month - 1 - (months - 1)
    first_month = date(index // 12, index % 12 + 1, 1)
    active: dict[int, set[date]] = defaultdict(set)
    first_order: dict[int, date] = {}
    for contact_id, occurred_at, is_first in (AttributionCredit.objects
                                              .filter(model=engine.FIRST_TOUCH, is_refund=False)
                                              .values_list("contact_id", "occurred_at", "is_first_order")
                                              .order_by()):
        month = metrics.cohort_month(occurred_at, tz)
        active[contact_id].add(month)
        if is_first:
            first_order[contact_id] = month
    cohorts: dict[date, list[int]] = defaultdict(list)
    for contact_id, month in first_order.items():
        if month >= first_month:
            cohorts[month].append(contact_id)
    rows = []
    for month in sorted(cohorts):
        members = cohorts[month]
        span = metrics.months_between(month, now_month) + 1
        retention = []
        for k in range(span):
            target_index = month.year * 12 + month.month - 1 + k
            target = date(target_index // 12, target_index % 12 + 1, 1)
            retention.append(round(sum(1 for c in members if target in active[c]) / len(members), 4))
        rows.append({"cohort": month, "customers": len(members), "retention": retention})
    return {"months": months, "cohorts": rows}


# --- RFM, runs, credits, referrals ---------------------------------------------------------------------


def rfm_list(*, filters: dict[str, Any]) -> QuerySet[RfmScore]:
    qs = RfmScore.objects.all()
    if filters.get("group"):
        qs = qs.filter(group__in=filters["group"] if isinstance(filters["group"], list) else [filters["group"]])
    for name in ("r_score", "f_score", "m_score"):
        if filters.get(f"min_{name}"):
            qs = qs.filter(**{f"{name}__gte": filters[f"min_{name}"]})
    if filters.get("contact_id"):
        qs = qs.filter(contact_id=filters["contact_id"])
    return qs


def rfm_contact_ids(*, groups: list[str]) -> list[int]:
    """Contacts in the given RFM groups: a nurture audience."""
    return list(RfmScore.objects.filter(group__in=groups).values_list("contact_id", flat=True))


def run_list() -> QuerySet[AttributionRun]:
    return AttributionRun.objects.all()


def credit_list(*, order_id: int | None = None, model: str | None = None) -> QuerySet[AttributionCredit]:
    qs = AttributionCredit.objects.all()
    if order_id is not None:
        qs = qs.filter(order_id=order_id)
    if model:
        qs = qs.filter(model=model_or_default(model))
    return qs.order_by("order_id", "model", "is_refund", "id")


def referral_leaderboard(*, limit: int = 20) -> list[dict[str, Any]]:
    """Ambassadors ranked by the revenue of the people they referred, with counts and rewards.

    ``referrals`` counts every contact they referred, whatever the path (a typed code, a gift, staff);
    ``referrals_by_code`` those who typed the referrer's code (bot, m.me, WhatsApp, order coupon, fair)."""
    referred = report_inputs.referrals()
    if not referred:
        return []
    revenue: dict[int, int] = defaultdict(int)
    buyers: dict[int, set[int]] = defaultdict(set)
    referrer_of = dict(referred)
    for contact_id, amount in (AttributionCredit.objects.filter(model=engine.FIRST_TOUCH,
                                                                contact_id__in=list(referrer_of))
                               .values("contact_id").annotate(total=Sum("revenue_xaf")).order_by()
                               .values_list("contact_id", "total")):
        revenue[referrer_of[contact_id]] += int(amount or 0)
        buyers[referrer_of[contact_id]].add(contact_id)
    counts: dict[int, int] = defaultdict(int)
    for _, referrer in referred:
        counts[referrer] += 1
    rewards: dict[int, dict[str, Any]] = {r["referrer_id"]: dict(r) for r in ReferralReward.objects.values("referrer_id")
               .annotate(n=Count("pk"), points=Sum("points")).order_by()}
    by_code = report_inputs.referrals_by_code()
    people = report_inputs.contact_cards(list(counts))
    rows = []
    for referrer, n in counts.items():
        info: dict[str, Any] = dict(people.get(referrer, {}))
        rows.append({
            "contact_id": referrer,
            "name": info.get("name") or " ".join(p for p in (info.get("first_name"), info.get("last_name")) if p),
            "referral_code": info.get("referral_code", ""), "lifecycle_stage": info.get("lifecycle_stage", ""),
            "referrals": n, "referrals_by_code": by_code.get(referrer, 0),
            "referred_buyers": len(buyers[referrer]), "referred_revenue_xaf": revenue[referrer],
            "rewards": rewards.get(referrer, {}).get("n", 0), "points": int(rewards.get(referrer, {}).get("points") or 0),
        })
    rows.sort(key=lambda r: (-r["referred_revenue_xaf"], -r["referrals"], r["contact_id"]))
    return rows[:max(1, min(limit, 200))]
