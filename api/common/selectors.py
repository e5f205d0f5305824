"""Reads of the common app: the health of the database, the broker and the workers."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from typing import Any

import redis
from django.conf import settings
from django.db import connection
from django.utils import timezone

from api.common.models import WorkerHeartbeat

HealthCheck = Callable[[], dict[str, Any]]
_HEALTH_CHECKS: dict[str, HealthCheck] = {}


def register_health_check(name: str, check: HealthCheck) -> None:
    """Add ``check`` to ``/api/v1/health`` under ``checks.<name>``; apps call this in ``ready()``.

    A check returns a dict with at least ``ok`` (bool); a false ``ok`` makes the status ``degraded``.
    Registering a name again replaces its check.
    """
    _HEALTH_CHECKS[name] = check


def _run_checks() -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    for name, check in _HEALTH_CHECKS.items():
        try:
            results[name] = check()
        except Exception as exc:  # one broken check must not take the health page down
            results[name] = {"ok": False, "error": exc.__class__.__name__}
    return results


def _check_database() -> dict[str, Any]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return {"ok": True, "engine": connection.vendor}
    except Exception as exc:  # the health page must answer even when the database is down
        return {"ok": False, "engine": connection.vendor, "error": exc.__class__.__name__}


def _check_broker() -> dict[str, Any]:
    if settings.REDIS_URL:
        try:
            client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
            client.ping()
            return {"ok": True, "kind": "redis"}
        except Exception as exc:
            return {"ok": False, "kind": "redis", "error": exc.__class__.__name__}
    folder = settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"]
    ok = os.path.isdir(folder) and os.access(folder, os.W_OK)
    return {"ok": ok, "kind": "filesystem"}


def _check_workers(now: datetime) -> dict[str, Any]:
    try:
        latest = WorkerHeartbeat.objects.order_by("-beat_at").first()
    except Exception:
        latest = None
    if latest is None:
        return {"ok": False, "last_heartbeat_at": None, "age_seconds": None, "worker": None}
    age = (now - latest.beat_at).total_seconds()
    return {
        "ok": age <= settings.WORKER_STALE_AFTER_SECONDS,
        "last_heartbeat_at": latest.beat_at,
        "age_seconds": round(age, 1),
        "worker": latest.worker,
    }


def health_get() -> dict[str, Any]:
    """The state of the database, the broker, the last worker heartbeat and the apps' registered checks.

    ``status`` is ``ok`` when all three are fine, ``down`` when the database is not
    reachable, and ``degraded`` otherwise (the API answers but work is not flowing).
    """
    now = timezone.now()
    database = _check_database()
    broker = _check_broker()
    workers = _check_workers(now) if database["ok"] else {
        "ok": False, "last_heartbeat_at": None, "age_seconds": None, "worker": None
    }
    checks = _run_checks() if database["ok"] else {}
    if not database["ok"]:
        state = "down"
    elif broker["ok"] and workers["ok"] and all(check.get("ok") for check in checks.values()):
        state = "ok"
    else:
        state = "degraded"
    return {"status": state, "time": now, "database": database, "broker": broker, "workers": workers,
            "checks": checks}
