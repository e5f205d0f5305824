"""The one beat schedule of Confiotes.

Every entry says why it runs and carries an ``expires`` so that kicks that pile up
while workers are down are dropped instead of run in a burst: the next tick finds
the due rows in the database anyway.
"""

from __future__ import annotations

from datetime import timedelta

from celery.schedules import crontab  # noqa: F401 - used by entries added by later apps

BEAT_SCHEDULE: dict[str, dict] = {
    # Proves that beat and at least one worker are alive; read by /api/v1/health.
    "worker-heartbeat": {
        "task": "workers.tasks.system.heartbeat",
        "schedule": timedelta(seconds=30),
        "options": {"expires": 25},
    },
}
