"""Attribution runs: what to recompute, and the run row that records it.

A run rewrites the credits of the contacts whose facts changed since the last successful run's
watermark (:mod:`.batches`), or every credit (a full run: on PostgreSQL one transaction that replaces
the whole table, :mod:`.recompute_pg`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone

from api.attribution import conf
from api.attribution.enums import RunKind, RunState
from api.attribution.models import AttributionRun
from api.attribution.services import batches, inputs, recompute_pg
from api.common.errors import ConflictError

logger = logging.getLogger(__name__)


def attribution_run(*, full: bool = False, contact_ids: Iterable[int] | None = None) -> AttributionRun | None:
    """Compute credits for what changed since the last successful run (or everything with ``full``).

    Idempotent: the same inputs give the same rows; a second run right after finds little or
    nothing to do. Returns None when another run is in progress (a recent ``running`` row).
    Each batch of contacts is committed on its own; the watermark moves only when the whole
    run succeeded, so a killed run is redone from the old watermark.
    """
    now = timezone.now()
    with transaction.atomic():
        running = AttributionRun.objects.select_for_update().filter(
            state=RunState.RUNNING, started_at__gt=now - timedelta(seconds=conf.RUN_STALE_AFTER_SECONDS))
        if running.exists():
            return None
        last = (AttributionRun.objects.filter(state=RunState.SUCCEEDED, watermark__isnull=False)
                .order_by("-watermark").first())
        run = AttributionRun.objects.create(kind=RunKind.FULL if full or last is None else RunKind.INCREMENTAL,
                                            started_at=now)
    try:
        if contact_ids is None and run.kind == RunKind.FULL:
            # Everything is rewritten: on PostgreSQL one transaction that replaces the whole table is
            # faster than batches that each delete and insert through the indexes.
            replace_all = (recompute_pg.credits_replace_all if connection.vendor == "postgresql"
                           else batches.credits_replace_all)
            contacts, orders, credits = replace_all(run=run)
        else:
            if contact_ids is not None:
                todo = sorted(set(contact_ids))
            else:
                todo = inputs.dirty_contacts(None if last is None else last.watermark)
            contacts, orders, credits = batches.credits_recompute(contact_ids=todo, run=run)
        run.state = RunState.SUCCEEDED
        run.contacts_processed, run.orders_processed, run.credits_written = contacts, orders, credits
        if contact_ids is None:
            run.watermark = now - timedelta(seconds=conf.WATERMARK_SETTLE_SECONDS)
    except Exception as exc:
        logger.exception("attribution run %s failed", run.pk)
        run.state = RunState.FAILED
        run.error = f"{exc.__class__.__name__}: {exc}"[:500]
    run.finished_at = timezone.now()
    run.save()
    return run


def attribution_run_request(*, full: bool) -> AttributionRun:
    """Staff asked for a run now: refuse (409) while one is in progress, else run it."""
    run = attribution_run(full=full)
    if run is None:
        raise ConflictError("An attribution run is already in progress.", code="run_in_progress")
    return run
