"""System tasks: the worker heartbeat and the daily backup."""

from __future__ import annotations

import logging
import socket

from celery import shared_task

from api.common.backups import backup_create, size_human
from api.common.services import heartbeat_record

logger = logging.getLogger(__name__)


@shared_task(bind=True, name="workers.tasks.system.heartbeat")
def heartbeat(self) -> None:
    """Record that a worker is alive (idempotent: one row per worker host, updated in place)."""
    heartbeat_record(worker=self.request.hostname or socket.gethostname())


@shared_task(name="workers.tasks.system.backup_daily", acks_late=True, reject_on_worker_lost=True)
def backup_daily() -> dict:
    """Back up the database into the data folder's ``backups/`` and rotate it (``api.common.backups``).

    Safe to run twice: a second run adds a newer copy of the day, and rotation keeps the newest of each day.
    Not retried: a failure (no ``pg_dump``, a full disk) needs a person, and tomorrow's run tries again.
    """
    result = backup_create()
    logger.info("backup written: %s (%s), %d older copies deleted", result.path, size_human(result.size_bytes),
                len(result.deleted))
    return {"path": str(result.path), "size_bytes": result.size_bytes, "deleted": [p.name for p in result.deleted]}
