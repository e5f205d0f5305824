"""Attribution tasks: incremental credit runs, nightly RFM, the lifecycle sweep, the weekly summary.

Order events reach attribution through its listener (``api.attribution.services.order_event_listener``),
not through a task.
"""

from __future__ import annotations

from celery import shared_task

from api.attribution import services
from integrations.errors import RateLimited, TransientError


@shared_task(name="workers.tasks.attribution.run_incremental", acks_late=True, reject_on_worker_lost=True)
def run_incremental() -> int | None:
    """Credit what changed since the last run. Safe to run twice: a second run finds nothing new,
    and a run while another is in progress does nothing."""
    run = services.attribution_run()
    return run.pk if run else None


@shared_task(name="workers.tasks.attribution.rfm_recompute", acks_late=True, reject_on_worker_lost=True)
def rfm_recompute() -> int:
    """Recompute every contact's RFM scores (idempotent: rewrites the table in one transaction)."""
    return services.rfm_recompute()


@shared_task(name="workers.tasks.attribution.lifecycle_sweep", acks_late=True, reject_on_worker_lost=True)
def lifecycle_sweep() -> int:
    """Make long-silent contacts inactive (idempotent: inactive ones are skipped)."""
    return services.lifecycle_sweep_inactive()


@shared_task(name="workers.tasks.attribution.weekly_summary", acks_late=True, reject_on_worker_lost=True,
             autoretry_for=(RateLimited, TransientError), retry_backoff=30, retry_backoff_max=600, retry_jitter=True,
             max_retries=6)
def weekly_summary() -> None:
    """Send last week's summary and ROAS chart to the staff Telegram chat (at most once per week)."""
    services.weekly_summary_send()
