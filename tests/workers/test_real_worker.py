"""A real Celery worker process (not eager mode) runs a task end to end.

On the embedded default the broker is the file system; with REDIS_URL set (CI's
second run) it is Redis. The worker is a separate process that reads the same
test database, so the test uses committed data (``transactional_db``).
"""

from __future__ import annotations

import time

import pytest
from django.conf import settings

from api.common.models import WorkerHeartbeat
from tests.workers.processes import celery_worker_on_own_queue


@pytest.fixture
def celery_worker_process(transactional_db, settings):
    with celery_worker_on_own_queue() as queue:
        settings.CELERY_TASK_DEFAULT_QUEUE = queue
        yield queue


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
