"""Ma journée: what a staff member handles today, and how the week is going."""

from __future__ import annotations

from typing import Any

from api.attribution.selectors import weekly_roi_report
from api.backoffice.views.base import StaffPageView
from api.common.businesstime import business_today, week_start
from api.contacts.selectors import tasks_list
from api.orders.selectors import complaint_list

HOME_ITEMS = 10


class HomeView(StaffPageView):
    """Today's tasks (overdue included), open complaints with unhappy customers first, and this
    week's revenue, ad spend and ROI from the attribution report."""

    template_name = "backoffice/home.html"
    section = "home"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        report = weekly_roi_report(week=week_start(business_today()))
        # complaint_list puts open cases first, then unhappy customers' ones: the first rows are the urgent ones.
        complaints = [c for c in complaint_list()[:HOME_ITEMS] if getattr(c, "is_open", 0)]
        context.update(
            tasks=list(tasks_list(user=self.request.user, due="today").order_by("due_at")[:HOME_ITEMS * 2]),
            complaints=complaints,
            week=report,
            totals=report["totals"],
        )
        return context
