"""Writes of the common app."""

from __future__ import annotations

from django.utils import timezone

from api.common.models import WorkerHeartbeat


def heartbeat_record(*, worker: str) -> WorkerHeartbeat:
    """Record that ``worker`` is alive now. Idempotent: one row per worker, updated in place."""
    heartbeat, _ = WorkerHeartbeat.objects.update_or_create(worker=worker[:200], defaults={"beat_at": timezone.now()})
    return heartbeat
