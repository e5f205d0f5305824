"""Rapports: the weekly ROI report in French, percentages and FCFA, with a week picker."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.utils.dateparse import parse_date

from api.attribution.selectors import weekly_roi_report
from api.backoffice.selectors import last_complete_week, week_choices
from api.backoffice.views.base import StaffPageView
from api.common.businesstime import week_start


class WeeklyReportView(StaffPageView):
    """``?semaine=YYYY-MM-DD`` (any day of the week); by default the last complete week."""

    template_name = "backoffice/reports/weekly.html"
    section = "reports"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        week = self.chosen_week()
        report = weekly_roi_report(week=week, group="channel")
        weeks = week_choices()
        if week not in weeks:
            weeks = sorted([*weeks, week], reverse=True)
        context.update(report=report, week=week, weeks=weeks,
                       by_campaign=weekly_roi_report(week=week, group="campaign"))
        return context

    def chosen_week(self) -> date:
        raw = self.request.GET.get("semaine", "")
        day = None
        try:
            day = parse_date(raw) if raw else None
        except ValueError:  # a well-formed but impossible date, such as 2026-02-30
            day = None
        return week_start(day) if day else last_complete_week()
