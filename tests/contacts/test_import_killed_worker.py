"""A real Celery worker killed with SIGKILL in the middle of an import, then a worker comes back.

The worker is a separate process on the real broker (the file system on the embedded default,
Redis when REDIS_URL is set) and the test database (SQLite or PostgreSQL). It imports in
batches of 20 rows and sleeps after writing each batch, inside the batch's transaction, so
that the kill lands mid-import and most likely with a batch written but not committed. Then
time passes (the job's heartbeat is moved 5 minutes back), a second worker starts, the
stalled-job sweep (``import_jobs_resume_stalled``) kicks the job again, and the job finishes
from its cursor: every row imported once, no row reported twice, no contact or note twice.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from unittest import mock

import pytest
from django.db import transaction
from django.utils import timezone

from api.contacts import services
from api.contacts.models import Contact, ContactNote, ImportJob, ImportRowError
from tests.workers.processes import ROOT, stop_and_read, worker_env

ROWS = 600
BATCH = 20

# A worker as `celery -A workers worker`, with small batches and, when asked, a pause after each
# batch is written and before it commits (where a killed worker hurts most).
_WORKER = """
import os, sys, time
import django

django.setup()
from api.contacts.services.imports import jobs

jobs.IMPORT_BATCH_SIZE = jobs.IMPORT_SQL_BATCH_SIZE = int(os.environ["TEST_IMPORT_BATCH_SIZE"])
pause = float(os.environ["TEST_IMPORT_BATCH_PAUSE"])
apply_batch = jobs.import_batch_apply


def slow_apply_batch(*args, **kwargs):
    counts = apply_batch(*args, **kwargs)
    time.sleep(pause)
    return counts


jobs.import_batch_apply = slow_apply_batch
from workers.celery import app

queue = os.environ["CONFIOTES_CELERY_QUEUE"]
app.worker_main(["worker", "--pool", "solo", "--loglevel", "WARNING", "--without-mingle", "--without-gossip",
                 "--hostname", f"{queue}-{os.getpid()}@test", "--queues", queue])
"""


def _file() -> tuple[bytes, int, int]:
    """ROWS rows: one in 10 a person seen before typed differently, one in 25 a bad phone."""
    lines = ["nom;téléphone;ville;note"]
    people = bad = 0
    for i in range(ROWS):
        if i % 25 == 24:
            lines.append(f"Faux {i};12345;Douala;")
            bad += 1
        elif i % 10 == 9:
            lines.append(f"Encore {i};+237 6 99 {i - 1:06d};Douala;déjà vu")
        else:
            lines.append(f"Client {i};699{i:06d};Douala;note {i}")
            people += 1
    return ("\n".join(lines) + "\n").encode(), people, bad


def _start_worker(queue: str, pause: float) -> subprocess.Popen:
    env = {**worker_env(queue), "TEST_IMPORT_BATCH_SIZE": str(BATCH), "TEST_IMPORT_BATCH_PAUSE": str(pause)}
    return subprocess.Popen([sys.executable, "-c", _WORKER], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _wait(condition, seconds: float, proc: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if proc.poll() is not None:
            pytest.fail(f"the worker exited ({proc.returncode}) before {what}:\n{stop_and_read(proc)}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} within {seconds:.0f} s:\n{stop_and_read(proc)}")
        time.sleep(0.02)


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_import_is_resumed_by_the_next_worker_without_duplicates(settings):
    from workers.tasks.contacts import import_job_run, import_jobs_resume_stalled

    queue = f"test-{uuid.uuid4().hex[:8]}"
    settings.CELERY_TASK_DEFAULT_QUEUE = queue
    data, people, bad = _file()
    with mock.patch.object(transaction, "on_commit"):  # kicked below, on this test's queue
        job = services.import_job_create(file_name="big.csv", data=data)
    assert job.total_rows == ROWS

    def rows_done() -> int:
        return ImportJob.objects.filter(pk=job.pk).values_list("rows_done", flat=True).get()

    first = _start_worker(queue, pause=0.1)
    try:
        import_job_run.apply_async((job.pk,), queue=queue)
        _wait(lambda: rows_done() >= 5 * BATCH, 90, first, "progress")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    stopped = ImportJob.objects.get(pk=job.pk)
    assert stopped.status == ImportJob.Status.RUNNING
    assert 5 * BATCH <= stopped.rows_done < ROWS  # the kill landed mid-import
    assert Contact.objects.count() < people

    # Nothing resumes a job whose worker may still be alive…
    assert services.import_jobs_claim_stalled() == []
    # …but once its heartbeat is older than the stalled-job delay, beat's sweep kicks it again.
    ImportJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=5))
    second = _start_worker(queue, pause=0)
    try:
        import_jobs_resume_stalled.apply_async(queue=queue)
        _wait(lambda: ImportJob.objects.get(pk=job.pk).status != ImportJob.Status.RUNNING, 90, second, "finished job")
    finally:
        output = stop_and_read(second)

    done = ImportJob.objects.get(pk=job.pk)
    assert done.status == ImportJob.Status.DONE, output
    assert (done.rows_done, done.created_count, done.error_count) == (ROWS, people, bad)
    assert done.unchanged_count == ROWS - people - bad
    assert Contact.objects.count() == people
    assert Contact.objects.filter(phone=f"+237699{ROWS - 2:06d}").exists()  # the last rows landed
    assert ContactNote.objects.count() == people  # a new contact's first note, once
    assert sorted(ImportRowError.objects.filter(job=job).values_list("row", flat=True)) == [
        i + 2 for i in range(ROWS) if i % 25 == 24]
