"""The Celery app.

The database is the truth and the broker carries only kicks: a task loads ids,
calls a service and lets the service decide. Tasks are ``acks_late`` so that a
worker killed in the middle leaves the message to be redelivered, and every task
is safe to run twice.
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "api.settings")

app = Celery("confiotes")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    task_ignore_result=True,
    worker_prefetch_multiplier=1,
    worker_send_task_events=False,
    broker_connection_retry_on_startup=True,
    timezone="Africa/Douala",
    enable_utc=True,
    # The file-system broker has no fan-out exchange: remote control would fail on it.
    worker_enable_remote_control=bool(os.environ.get("REDIS_URL")),
)
app.autodiscover_tasks(["workers"], related_name="tasks", force=False)


def _load_beat_schedule() -> None:
    from workers.schedule import BEAT_SCHEDULE

    app.conf.beat_schedule = BEAT_SCHEDULE


_load_beat_schedule()
