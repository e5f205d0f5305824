"""Real worker processes for tests: the environment that points them at the test database, and
stopping one while keeping the end of its output for the failure message."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def worker_env(queue: str) -> dict[str, str]:
    """This process's environment, with the test database and a queue of the test's own."""
    env = dict(os.environ)
    db = connection.settings_dict
    if settings.IS_SQLITE:
        env["DATABASE_URL"] = f"sqlite:///{db['NAME']}"
    else:
        env["DATABASE_URL"] = (
            f"postgresql://{db['USER']}:{db.get('PASSWORD') or ''}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"
        )
    env["CONFIOTES_CELERY_QUEUE"] = queue
    return env


def stop_and_read(proc: subprocess.Popen, *, tail: int = 3000) -> str:
    """Stop ``proc`` (SIGTERM, then SIGKILL after 20 s) and return the end of what it printed."""
    if proc.poll() is None:
        proc.terminate()
    try:
        output, _ = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        output, _ = proc.communicate()
    return (output or b"").decode(errors="replace")[-tail:]
