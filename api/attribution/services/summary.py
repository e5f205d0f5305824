"""The weekly summary sent to the staff Telegram chat: totals, best channels and the ROAS chart."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from api.attribution import charts, selectors
from api.attribution.enums import SummaryState
from api.attribution.models import WeeklySummary
from api.common.businesstime import week_start
from integrations.errors import RateLimited, TransientError
from integrations.telegram import TelegramClient


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
    """Send the summary of the finished week (the one before ``week``'s Monday by default) with the
    ROAS chart to ``TELEGRAM_STAFF_CHAT_ID``. A no-op without chat or bot token.

    At most once per week: the row is committed as ``sending`` first; a row found ``sending`` (an
    interrupted send) is marked ``unknown_outcome`` instead of sending twice. Rate limits and
    transient errors put the row back so the task's retry sends it.
    """
    chat, token = str(settings.TELEGRAM_STAFF_CHAT_ID or ""), settings.TELEGRAM_BOT_TOKEN
    if not chat or not token:
        return None
    monday = week_start(week) if week else selectors.current_week() - timedelta(weeks=1)
    with transaction.atomic():
        summary, created = WeeklySummary.objects.select_for_update().get_or_create(week_start=monday)
        if not created:
            if summary.state == SummaryState.SENDING:
                summary.state = SummaryState.UNKNOWN_OUTCOME
                summary.save(update_fields=["state"])
            return summary
    report = selectors.weekly_roi_report(week=monday)
    client = TelegramClient(token, base_url=settings.TELEGRAM_API_BASE_URL)
    try:
        client.send_photo(chat, charts.roas_chart(report), caption=weekly_summary_text(report))
    except (RateLimited, TransientError):
        summary.delete()  # nothing went out: the retry starts afresh
        raise
    except Exception as exc:
        summary.state, summary.error = SummaryState.FAILED, f"{exc.__class__.__name__}: {exc}"[:500]
        summary.save(update_fields=["state", "error"])
        return summary
    summary.state, summary.sent_at = SummaryState.SENT, timezone.now()
    summary.save(update_fields=["state", "sent_at"])
    return summary
