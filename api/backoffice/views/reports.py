"""Rapports: the weekly ROI with its trends, the funnel, customer value (LTV), cohorts and RFM groups,
in French with percentages and FCFA. Every figure comes from the attribution app's selectors."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.dateparse import parse_date
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from api.attribution.enums import RfmGroup
from api.attribution.selectors import (
    STAGES,
    cohort_retention,
    funnel,
    last_run_summary,
    ltv_report,
    weekly_roi_reports_cached,
)
from api.attribution.services import week_indicators_get
from api.backoffice.selectors import (
    RFM_PAGE_SIZE,
    TREND_WEEKS,
    contact_names,
    last_complete_week,
    rfm_group_counts,
    rfm_group_members,
    week_choices,
    weekly_trend,
)
from api.backoffice.views.base import StaffPageView, call_service
from api.campaigns.enums import FixedCostKind
from api.campaigns.selectors import fixed_cost_list
from api.campaigns.services import fixed_cost_create
from api.common.businesstime import week_start

# The size of a trend's sparkline in CSS pixels: four of them sit in a column on a 360 px phone.
SPARK_WIDTH = 120
SPARK_HEIGHT = 32
# The figures of a week the trends follow: (key in the report's totals, staff name, how to print it).
TREND_FIGURES = (
    ("revenue_xaf", _("Revenue"), "fcfa"),
    ("cost_xaf", _("Ad spend"), "fcfa"),
    ("roi", _("ROI"), "percent"),
    ("new_customers", _("New customers"), "number"),
)
FUNNEL_WEEKS = 8
COHORT_MONTHS = 12
LTV_TOP_CUSTOMERS = 20
# Retention shades of the cohort table: a cell's share of the cohort, in fifths (0 = nobody came back).
HEAT_LEVELS = 5


def chosen_week(raw: str) -> date:
    """The Monday of the week ``raw`` (``YYYY-MM-DD``, any day of it) names; by default the last
    complete week. A malformed or impossible date (2026-02-30) is the default too."""
    day = None
    try:
        day = parse_date(raw) if raw else None
    except ValueError:
        day = None
    return week_start(day) if day else last_complete_week()


def sparkline_points(values: Sequence[float | None], *, width: int = SPARK_WIDTH,
                     height: int = SPARK_HEIGHT) -> list[tuple[float, float]]:
    """``(x, y)`` of each known value in an SVG box ``width`` × ``height`` (y grows downwards), the
    values spread evenly from left to right and scaled between their minimum and maximum; unknown
    values (a ROI without spend) are left out, so the line joins the weeks that have one."""
    known = [v for v in values if v is not None]
    if not known:
        return []
    low, high = min(known), max(known)
    span = (high - low) or 1
    step = width / max(len(values) - 1, 1)
    margin = 2  # keeps the line's stroke and end dot inside the box
    return [(round(i * step, 1), round(margin + (height - 2 * margin) * (1 - (v - low) / span), 1))
            for i, v in enumerate(values) if v is not None]


class ReportPageView(StaffPageView):
    """A page under Rapports; ``report`` lights its entry in the reports' sub-menu."""

    section = "reports"
    report = ""

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["report_page"] = self.report
        return context


FIXED_COST_KIND_NAMES = {
    FixedCostKind.STAFF.value: _("Staff pay"),
    FixedCostKind.DELIVERY.value: _("Delivery"),
    FixedCostKind.OTHER.value: _("Other overheads"),
}


class FixedCostForm(forms.Form):
    """One overhead of the week shown: what kind, how much, a note."""

    kind = forms.ChoiceField(label=_("Kind"), choices=list(FIXED_COST_KIND_NAMES.items()))
    amount_xaf = forms.IntegerField(label=_("Amount (FCFA)"), min_value=0)
    note = forms.CharField(label=_("Note"), max_length=300, required=False)


class WeeklyReportView(ReportPageView):
    """``?semaine=YYYY-MM-DD`` (any day of the week); by default the last complete week. The trends
    against the previous weeks load after the page (``TrendsView``): they read several weeks.

    The page also shows the week's CRM indicators (stored per week: ``week_indicators_get``) and its
    fixed costs, with a form to add one (POST ``action=fixed_cost``): the profit after them follows."""

    template_name = "backoffice/reports/weekly.html"
    report = "weekly"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        week = chosen_week(self.request.GET.get("semaine", ""))
        reports = weekly_roi_reports_cached(week=week, groups=("channel", "campaign"))
        weeks = week_choices()
        if week not in weeks:
            weeks = sorted([*weeks, week], reverse=True)
        indicators = week_indicators_get(monday=week)
        fixed = [{"cost": cost, "kind": FIXED_COST_KIND_NAMES.get(cost.kind, cost.kind)}
                 for cost in fixed_cost_list(week=week)]
        context.setdefault("fixed_cost_form", FixedCostForm())
        context.update(report=reports["channel"], week=week, weeks=weeks, trend_weeks=TREND_WEEKS,
                       by_campaign=reports["campaign"], indicators=indicators.figures,
                       indicators_at=indicators.computed_at, fixed_costs=fixed,
                       fixed_kinds=[(FIXED_COST_KIND_NAMES[kind], reports["channel"]["totals"]["fixed_costs_xaf"][kind])
                                    for kind in FIXED_COST_KIND_NAMES])
        return context

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        """Add a fixed cost to the week shown (``?semaine=``); a bad amount shows the form again (400)."""
        week = chosen_week(request.GET.get("semaine", ""))
        form = FixedCostForm(request.POST)
        done = None
        if request.POST.get("action") == "fixed_cost" and form.is_valid():
            done = call_service(form, fixed_cost_create, week=week, kind=form.cleaned_data["kind"],
                                amount_xaf=form.cleaned_data["amount_xaf"], note=form.cleaned_data["note"])
        if done is None:
            return self.render_to_response(self.get_context_data(fixed_cost_form=form), status=400)
        messages.success(request, gettext("Fixed cost recorded."))
        return redirect(reverse("backoffice:report-weekly") + f"?semaine={week:%Y-%m-%d}#fixed-costs")


class TrendsView(ReportPageView):
    """Revenue, spend, ROI and new customers of the chosen week and the weeks before it, as
    sparklines and a table; an htmx request (the weekly page loading it) gets the section alone."""

    template_name = "backoffice/reports/trends.html"
    report = "weekly"

    def get_template_names(self) -> list[str]:
        if self.request.htmx:  # type: ignore[attr-defined]
            return ["backoffice/reports/_trends.html"]
        return [self.template_name]

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        week = chosen_week(self.request.GET.get("semaine", ""))
        series = weekly_trend(week=week)
        figures = []
        for key, name, kind in TREND_FIGURES:
            values = [row[key] for row in series]
            points = sparkline_points(values)
            figures.append({"key": key, "name": name, "kind": kind, "current": values[-1],
                            "previous": values[-2] if len(values) > 1 else None,
                            # Written here, not by the template, which would print 60,5 in French.
                            "points": " ".join(f"{x},{y}" for x, y in points),
                            "last_point": ({"x": str(points[-1][0]), "y": str(points[-1][1])}
                                           if points and values[-1] is not None else None)})
        has_data = any(row["revenue_xaf"] or row["cost_xaf"] or row["orders"] for row in series)
        context.update(week=week, series=list(reversed(series)), figures=figures, has_data=has_data,
                       trend_weeks=len(series), spark_width=SPARK_WIDTH, spark_height=SPARK_HEIGHT)
        return context


class FunnelView(ReportPageView):
    """The funnel of the last weeks (``funnel``): who entered each stage, the conversions between
    stages, the touches before a first order against the nine the plan expects, and today's stages."""

    template_name = "backoffice/reports/funnel.html"
    report = "funnel"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        data = funnel(weeks=FUNNEL_WEEKS)
        largest = max(data["current"].values(), default=0) or 1
        stages = [{"stage": stage, "contacts": data["current"][stage],
                   "width": round(100 * data["current"][stage] / largest)} for stage in STAGES]
        weeks = list(reversed(data["weeks"]))
        has_data = any(data["current"].values()) or any(row[stage] for row in weeks for stage in STAGES)
        context.update(funnel=data, stages=stages, weeks=weeks, has_data=has_data, funnel_weeks=FUNNEL_WEEKS)
        return context


class LtvView(ReportPageView):
    """Customer value (``ltv_report``): the average customer, per segment, per acquisition channel
    with what a new customer cost there, and the best customers linking to their cards."""

    template_name = "backoffice/reports/ltv.html"
    report = "ltv"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        report = ltv_report(limit=LTV_TOP_CUSTOMERS)
        context.update(ltv=report, has_data=bool(report["overall"]["customers"]), last_run=last_run_summary())
        return context


class CohortsView(ReportPageView):
    """Retention of each month's new customers (``cohort_retention``): the share who ordered again
    1, 2… months after their first order, shaded so the table reads at a glance."""

    template_name = "backoffice/reports/cohorts.html"
    report = "cohorts"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        data = cohort_retention(months=COHORT_MONTHS)
        rows = [{**row, "cells": [{"share": share, "heat": min(HEAT_LEVELS, round(share * HEAT_LEVELS))}
                                  for share in row["retention"]]}
                for row in data["cohorts"]]
        width = max((len(row["retention"]) for row in rows), default=0)
        context.update(cohorts=rows, month_numbers=range(width), months=COHORT_MONTHS)
        return context


class RfmView(ReportPageView):
    """The RFM groups with their number of customers; ``?groupe=<group>`` lists that group's
    customers (``RFM_PAGE_SIZE`` a page, ``?page=``), each linking to their card."""

    template_name = "backoffice/reports/rfm.html"
    report = "rfm"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        counts = rfm_group_counts()
        groups = [{"group": group.value, "customers": counts.get(group.value, 0)} for group in RfmGroup]
        chosen = self.request.GET.get("groupe", "")
        members = None
        if chosen in RfmGroup.values:
            page = Paginator(rfm_group_members(group=chosen), RFM_PAGE_SIZE).get_page(self.request.GET.get("page"))
            names = contact_names([score.contact_id for score in page])
            members = {"page": page,
                       "rows": [{"score": score, "name": names.get(score.contact_id)} for score in page]}
        else:
            chosen = ""
        context.update(groups=groups, scored=sum(counts.values()), chosen=chosen, members=members)
        return context
