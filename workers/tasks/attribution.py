"""Attribution tasks: incremental credit runs, nightly RFM, lifecycle moves and sweep, the weekly summary.

Order events reach attribution through its listener (``api.attribution.services.order_event_listener``),
not through a task.
"""

from __future__ import annotations

from celery import shared_task

from api.attribution import services
from api.attribution.enums import RunState
from integrations.errors import RateLimited, TransientError


@shared_task(name="workers.tasks.attribution.run_incremental", acks_late=True, reject_on_worker_lost=True)
def run_incremental() -> int | None:
    """Credit what changed since the last run, then refresh the stored weekly figures it may have moved
    (indicators, and the default weeks' reports in the cache). Safe to run twice: a second run finds
    nothing new, and a run while another is in progress does nothing."""
    run = services.attribution_run()
    if run is not None and run.state == RunState.SUCCEEDED:
        services.reports_refresh()
    return run.pk if run else None


@shared_task(name="workers.tasks.attribution.indicators_refresh", acks_late=True, reject_on_worker_lost=True)
def indicators_refresh(weeks: int = 13) -> int:
    """Recompute the stored CRM indicators of the last ``weeks`` weeks whose inputs moved (idempotent:
    an unchanged week is left as it is)."""
    return services.week_indicators_refresh(weeks=weeks)


@shared_task(name="workers.tasks.attribution.rfm_recompute", acks_late=True, reject_on_worker_lost=True)
def rfm_recompute() -> int:
    """Recompute every contact's RFM scores (idempotent: rewrites the table in one transaction)."""
    return services.rfm_recompute()


@shared_task(name="workers.tasks.attribution.lifecycle_engagements", acks_late=True, reject_on_worker_lost=True)
def lifecycle_engagements() -> int:
    """Move suspects (and inactive contacts) who engaged in the last hours: touchpoints and stages are the
    truth, so a lost kick or a second run changes nothing."""
    return services.lifecycle_engagements_apply()


@shared_task(name="workers.tasks.attribution.lifecycle_sweep", acks_late=True, reject_on_worker_lost=True)
def lifecycle_sweep() -> dict[str, int]:
    """The nightly lifecycle pass: engagement over the whole window, then long-silent contacts made
    inactive (idempotent: contacts already at their stage are skipped)."""
    return services.lifecycle_nightly()


@shared_task(name="workers.tasks.attribution.weekly_summary", acks_late=True, reject_on_worker_lost=True,
             autoretry_for=(RateLimited, TransientError), retry_backoff=30, retry_backoff_max=600, retry_jitter=True,
             max_retries=6)
def weekly_summary() -> None:
    """Queue last week's summary for the staff chat, as an outbox staff message (at most once per week)."""
    services.weekly_summary_send()
