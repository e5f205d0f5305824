"""System tasks: the worker heartbeat."""

from __future__ import annotations

import socket

from celery import shared_task

from api.common.services import heartbeat_record


@shared_task(bind=True, name="workers.tasks.system.heartbeat")
def heartbeat(self) -> None:
    """Record that a worker is alive (idempotent: one row per worker host, updated in place)."""
    heartbeat_record(worker=self.request.hostname or socket.gethostname())
