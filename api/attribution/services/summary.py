"""The weekly summary for the staff chat: totals, best channels and a link to the report with the ROAS chart.

It leaves through nurture's outbox as a staff message (``api.common.staff_messages``): attribution does
not talk to Telegram itself, so the shared rate limiter and the outbox's at-most-once rule apply to it.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from api.attribution import selectors
from api.attribution.enums import SummaryState
from api.attribution.models import WeeklySummary
from api.common.businesstime import week_start
from api.common.staff_messages import StaffMessage, staff_message_send

# The back-office page of the weekly ROI report and its chart (api/backoffice, behind login).
WEEKLY_REPORT_PATH = "/app/rapports/"


def weekly_report_url(monday: date) -> str:
    """The week's report page in the back office (behind login), as a link staff can open from the chat."""
    return f"{str(settings.PUBLIC_BASE_URL).rstrip('/')}{WEEKLY_REPORT_PATH}?semaine={monday.isoformat()}"


def weekly_summary_message(report: dict[str, Any]) -> str:
    """The staff message: the summary's text and the link to the week's report page (with the chart)."""
    return f"{weekly_summary_text(report)}\n\n📊 Rapport et graphique : {weekly_report_url(report['week_start'])}"


def weekly_summary_text(report: dict[str, Any]) -> str:
    """A short caption: totals, the three best channels by revenue, and the share without source."""
    totals = report["totals"]
    lines = [f"Semaine du {report['week_start']:%d/%m/%Y} ({report['model']})",
             f"Coût {totals['cost_xaf']:,} XAF · CA {totals['revenue_xaf']:,} XAF · marge {totals['margin_xaf']:,} XAF"
             .replace(",", " "),
             f"ROAS {totals['roas'] if totals['roas'] is not None else '–'} · "
             f"CAC {totals['cac_xaf'] if totals['cac_xaf'] is not None else '–'} XAF · "
             f"{totals['orders']:g} commandes, {totals['new_customers']:g} nouveaux clients"]
    for row in report["rows"][:3]:
        lines.append(f"• {row['channel']}: {row['revenue_xaf']:,} XAF, ROAS "
                     f"{row['roas'] if row['roas'] is not None else '–'}".replace(",", " "))
    share = report["share_orders_without_source"]
    if share:
        lines.append(f"{share:.0%} des commandes sans origine connue : demandez d'où vient le client !")
    return "\n".join(lines)[:1024]


def weekly_summary_send(*, week: date | None = None) -> WeeklySummary | None:
    """Queue the summary of the finished week (the one before ``week``'s Monday by default) for the
    staff chat, as a staff message of the outbox (``api.common.staff_messages``), with a link to the
    weekly report page. None, and nothing recorded, when no staff chat is configured.

    The chart is not attached: the outbox sends pictures by URL, and a chart of the business's figures
    at a public URL would need a signed, expiring link this app does not serve; staff open the report
    page (behind login) for it.

    At most once per week: the ``WeeklySummary`` row and the outbox row commit together in one
    transaction (``SENT`` means handed to the outbox, which sends it at most once, through the shared
    rate limiter, and retries what a provider refused for a while); the outbox key
    ``staff:weekly_summary:<monday>`` makes a replay queue nothing more. A row still ``sending`` from
    the time the summary was sent directly is marked ``unknown_outcome`` instead of sending twice.
    """
    monday = week_start(week) if week else selectors.current_week() - timedelta(weeks=1)
    with transaction.atomic():
        summary, created = WeeklySummary.objects.select_for_update().get_or_create(week_start=monday)
        if not created:
            if summary.state == SummaryState.SENDING:
                summary.state = SummaryState.UNKNOWN_OUTCOME
                summary.save(update_fields=["state"])
            return summary
        report = selectors.weekly_roi_report(week=monday)
        queued = staff_message_send(StaffMessage(key=f"weekly_summary:{monday.isoformat()}",
                                                 text=weekly_summary_message(report)))
        if not queued:
            transaction.set_rollback(True)  # no staff chat: nothing went anywhere, nothing to remember
            return None
        summary.state, summary.sent_at = SummaryState.SENT, timezone.now()
        summary.save(update_fields=["state", "sent_at"])
    return summary
