"""A real Celery worker process (not eager mode) runs a task end to end.

On the embedded default the broker is the file system; with REDIS_URL set (CI's
second run) it is Redis. The worker is a separate process that reads the same
test database, so the test uses committed data (``transactional_db``).
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid

import pytest
from django.conf import settings

from api.common.models import WorkerHeartbeat
from tests.workers.processes import ROOT, stop_and_read, worker_env


@pytest.fixture
def celery_worker_process(transactional_db, settings):
    # A queue of its own, so that this worker takes no other run's tasks on a shared Redis.
    queue = f"test-{uuid.uuid4().hex[:8]}"
    settings.CELERY_TASK_DEFAULT_QUEUE = queue
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "workers", "worker", "--pool", "solo", "--loglevel", "WARNING",
         "--without-mingle", "--without-gossip", "--hostname", f"{queue}@test", "--queues", queue],
        cwd=ROOT, env=worker_env(queue), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    yield queue
    output = stop_and_read(proc)
    if proc.returncode not in (0, -15):
        print(output)


def test_a_real_worker_runs_the_heartbeat_task(celery_worker_process):
    from workers.tasks.system import heartbeat

    queue = celery_worker_process
    heartbeat.apply_async(queue=queue)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        row = WorkerHeartbeat.objects.filter(worker=f"{queue}@test").first()
        if row is not None:
            break
        time.sleep(0.3)
    else:
        pytest.fail("the worker did not run the task within 60 s")
    assert row.beat_at is not None
    from workers.celery import app

    assert app.conf.broker_url.startswith("redis://" if settings.REDIS_URL else "filesystem://")
