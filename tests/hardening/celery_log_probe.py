"""The Celery app of ``workers``, plus a probe that logs every configured secret once a worker or beat has
set up its logging (``celery -A tests.hardening.celery_log_probe worker|beat``).

Used by ``test_secrets_in_logs``: Celery replaces the root handlers that Django's ``LOGGING`` set up,
so what reaches the output is decided by Celery's handlers, which this checks.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from celery.signals import beat_init, worker_ready
from celery.utils.log import get_task_logger
from django.conf import settings

from workers.celery import app

__all__ = ["app"]

MARKER = "secrets-probe-done"


def _log_every_secret(**kwargs: Any) -> None:
    plain, task = logging.getLogger("integrations.telegram"), get_task_logger("workers.tasks.probe")
    for name in settings.SECRET_SETTING_NAMES:
        value = getattr(settings, name)
        plain.warning("GET https://api.telegram.org/bot%s/getMe (%s)", value, name)
        task.warning("fetched %s from https://graph.example/%s/me", name, quote(value, safe=""))  # as in a URL
        try:
            raise RuntimeError(f"refused with {value}")
        except RuntimeError:
            plain.exception("a provider error that quotes %s", name)
    plain.warning(MARKER)


worker_ready.connect(_log_every_secret, weak=False)
beat_init.connect(_log_every_secret, weak=False)
