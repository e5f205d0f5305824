"""Nurture tasks: a few lines each; the services decide (and are safe to run twice)."""

from __future__ import annotations

import random

from celery import shared_task

from api.nurture import services
from api.nurture.services.birthday import birthday_messages_queue
from integrations.errors import RateLimited, TransientError


@shared_task(name="workers.tasks.nurture.outbound_dispatch", acks_late=True, reject_on_worker_lost=True,
             ignore_result=True)
def outbound_dispatch_task() -> dict[str, int]:
    """Send due outbound messages for up to ``NURTURE_DISPATCH_MAX_SECONDS``.

    Queued by beat every few seconds and kicked after commit by ``services.outbound_dispatch_kick``.
    Not retried by Celery: provider errors are handled per row (429 reschedules, unreachable cancels);
    a run killed in the middle leaves rows that the next run finds (see ``services.dispatch``).
    """
    stats = services.outbound_dispatch()
    return {"sent": stats.sent, "skipped": stats.skipped, "failed": stats.failed, "rescheduled": stats.rescheduled}


@shared_task(name="workers.tasks.nurture.new_contacts_enroll", acks_late=True, ignore_result=True)
def new_contacts_enroll_task() -> int:
    """Trigger "new contact": introduction sequence for contacts created since the cursor row;
    also retries Telegram updates whose processing failed on an unexpected error."""
    services.telegram_updates_retry()
    return services.new_contacts_enroll()


@shared_task(name="workers.tasks.nurture.broadcasts_start", acks_late=True, ignore_result=True)
def broadcasts_start_task() -> int:
    """Queue the messages of broadcasts whose time has come."""
    return services.broadcasts_start_due()


@shared_task(name="workers.tasks.nurture.daily", acks_late=True, ignore_result=True)
def nurture_daily_task() -> None:
    """Monthly personal messages, replenishment reminders, and completed enrollments."""
    services.monthly_messages_enroll()
    services.replenishment_plan()
    services.enrollments_complete()


@shared_task(bind=True, name="workers.tasks.nurture.whatsapp_templates_sync", acks_late=True,
             reject_on_worker_lost=True, max_retries=5, ignore_result=True)
def whatsapp_templates_sync_task(self) -> int:
    """Read the WhatsApp Business Account's message templates (a no-op until WhatsApp is configured).

    Idempotent (upsert by name and language). A throttle is retried after Meta's wait, a transient
    error with capped, jittered backoff; anything else is left to the next hourly run.
    """
    try:
        result = services.whatsapp_templates_sync_if_configured()
    except (RateLimited, TransientError) as exc:
        wait = exc.retry_after if isinstance(exc, RateLimited) else min(900, 60 * 2 ** self.request.retries)
        raise self.retry(exc=exc, countdown=wait * random.uniform(1.0, 1.2)) from None  # noqa: S311 - jitter
    return result.read if result else 0


@shared_task(name="workers.tasks.nurture.broadcasts_finish", acks_late=True, ignore_result=True)
def broadcasts_finish_task() -> int:
    """Mark finished the running broadcasts whose every message has an outcome."""
    return services.broadcasts_finish()


@shared_task(name="workers.tasks.nurture.birthdays", acks_late=True, ignore_result=True)
def birthdays_task() -> int:
    """Queue today's birthday wishes (business time zone); once per contact and year, so safe to run twice."""
    return birthday_messages_queue()
