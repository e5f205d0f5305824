"""Real worker processes for tests: the environment that points them at the test database, and
stopping one while keeping the end of its output for the failure message."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
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


@contextmanager
def celery_worker_on_own_queue() -> Iterator[str]:
    """A real ``celery -A workers worker`` (solo pool) on a queue of its own, so that it takes no
    other run's tasks on a shared Redis; yields the queue's name and stops the worker afterwards,
    printing its output if it did not stop cleanly."""
    queue = f"test-{uuid.uuid4().hex[:8]}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "workers", "worker", "--pool", "solo", "--loglevel", "WARNING",
         "--without-mingle", "--without-gossip", "--hostname", f"{queue}@test", "--queues", queue],
        cwd=ROOT, env=worker_env(queue), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        yield queue
    finally:
        output = stop_and_read(proc)
        if proc.returncode not in (0, -15):
            print(output)
