"""The one way the API asks a worker to act now: a kick queued after commit.

A kick carries no data the worker could not find in the database: the rows are the truth, and
beat's next tick finds them anyway. So a kick is queued only once the transaction commits (the
worker must see the rows), it expires quickly (a stale kick is useless), a setting can switch it
off (tests and benchmarks that drive the worker themselves), and a broker that is down costs a
warning and some delay, never the request.

Tasks are named, not imported: ``api`` never imports ``workers`` (whose tasks import the
services), which keeps the dependency graph one-way without imports hidden in functions.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import transaction

# The Celery app object only (it imports nothing of api): the one import of workers in api.
from workers.celery import app as celery_app

logger = logging.getLogger(__name__)

DEFAULT_KICK_EXPIRES_SECONDS = 30


def task_kick_on_commit(task_name: str, *args: Any, switch: str | None = None,
                        expires: float | None = DEFAULT_KICK_EXPIRES_SECONDS) -> None:
    """Queue the Celery task ``task_name`` with ``args`` once the current transaction commits.

    ``switch`` names a boolean setting (default on) that turns this kick off. ``expires`` (seconds)
    drops the kick if no worker took it in time; ``None`` keeps it until taken (a job that nothing
    else would resume). Outside a transaction the kick is queued at once.
    """
    if switch is not None and not getattr(settings, switch, True):
        return

    def kick() -> None:
        try:
            celery_app.send_task(task_name, args=list(args), expires=expires)
        except Exception:  # the broker may be down: beat's next tick finds the rows anyway
            logger.warning("could not queue %s", task_name, exc_info=True)

    transaction.on_commit(kick)
