"""Ma journée: what a staff member handles today, and how the week is going."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from api.attribution.selectors import weekly_roi_report_cached
from api.backoffice.views.base import StaffPageView
from api.common.businesstime import business_today, day_bounds, week_start
from api.contacts.selectors import tasks_list
from api.nurture.selectors import contacts_due_to_reorder, contacts_recently_matured, conversations_waiting
from api.orders.selectors import complaint_list

HOME_ITEMS = 10
# "Just became mature": within the last week, so a prospect who matured on Friday is still there on Monday.
MATURED_RECENTLY = timedelta(days=7)
# Customers due to reorder: due in the next 3 days (time to call before they run out), or overdue
# by up to 30 days (later, they have likely bought elsewhere and the reminder is stale).
REORDER_AHEAD_DAYS = 3
REORDER_OVERDUE = timedelta(days=30)


class HomeView(StaffPageView):
    """Open complaints first (unhappy customers' ones before the others), conversations waiting for an
    answer (the staff inbox), today's tasks (overdue included), prospects who just became mature, customers due to reorder, and this week's revenue,
    ad spend and ROI from the attribution report."""

    template_name = "backoffice/home.html"
    section = "home"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        today = business_today()
        report = weekly_roi_report_cached(week=week_start(today))
        # complaint_list puts open cases first, then unhappy customers' ones: the first rows are the urgent ones.
        complaints = [c for c in complaint_list()[:HOME_ITEMS] if getattr(c, "is_open", 0)]
        now = timezone.now()
        _start, reorder_until = day_bounds(today + timedelta(days=REORDER_AHEAD_DAYS))
        context.update(
            tasks=list(tasks_list(user=self.request.user, due="today").order_by("due_at")[:HOME_ITEMS * 2]),
            complaints=complaints,
            conversations=conversations_waiting(limit=HOME_ITEMS),
            matured=contacts_recently_matured(since=now - MATURED_RECENTLY, limit=HOME_ITEMS),
            reorders=contacts_due_to_reorder(start=now - REORDER_OVERDUE, end=reorder_until, limit=HOME_ITEMS),
            now=now,
            week=report,
            totals=report["totals"],
        )
        return context
