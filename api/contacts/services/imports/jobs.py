"""Import jobs: an uploaded CSV stored as a row, then imported batch by batch by a worker, each batch
committed with the job's cursor so that a killed worker or a duplicated kick never imports a row twice."""

from __future__ import annotations

import csv
import logging
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from api.common.errors import ApplicationError, field_error
from api.common.kicks import task_kick_on_commit
from api.contacts import csv_io
from api.contacts.models import ImportJob
from api.contacts.services.imports.batches import ImportBatch, import_batches
from api.contacts.services.imports.pg import import_apply_sql
from api.contacts.services.imports.pg_io import pg_import_file
from api.contacts.services.imports.rows import import_apply_rows

logger = logging.getLogger(__name__)

IMPORT_MAX_BYTES = 50 * 1024 * 1024
# Rows per transaction of the row-by-row path (SQLite, and the rare rows the SQL path hands
# back): 1,000 and 2,000 give the same throughput; smaller batches lose ~20% to round trips.
IMPORT_BATCH_SIZE = 2000
# Rows per transaction of the set-based path on PostgreSQL. Each batch costs a fixed set of
# statements whatever its size, so bigger is faster (bench/import_contacts.py, 100,000 rows:
# 4.1 s with 50,000 per batch, 5.0 s with 25,000); progress still moves every 2 s or so.
IMPORT_SQL_BATCH_SIZE = 50000
IMPORT_STALLED_AFTER = timedelta(minutes=2)
# A batch that failed this many times in a row (an unexpected error each time, not a killed
# worker) fails the job instead of being retried forever by the stalled-job sweep.
IMPORT_MAX_ATTEMPTS = 5


def _unreadable_csv(exc: csv.Error) -> ApplicationError:
    """The 400 of a file Python's csv module cannot read, naming the ``file`` field."""
    return ApplicationError(f"The file cannot be read as CSV: {exc}.", code="validation_error",
                            errors=[field_error("file", f"Not a readable CSV file: {exc}.", "csv")])


def import_job_create(*, file_name: str, data: bytes, created_by: Any = None,
                      consent_given: bool = False) -> ImportJob:
    """Store an uploaded CSV as an ``ImportJob`` and queue it (after commit) for a worker.

    Detects the encoding (UTF-8 with or without BOM, else Windows-1252) and the separator,
    maps French or English headers, and refuses (400) a file without a phone, WhatsApp or
    e-mail column. ``consent_given`` states that the people in the file consented again, so
    identities of erased persons are accepted. The file is read as bytes, chunk by chunk,
    never decoded whole (memory stays flat whatever its size).
    """
    if not data:
        raise ApplicationError("The file is empty.", code="validation_error",
                               errors=[field_error("file", "The file is empty.", "empty")])
    if len(data) > IMPORT_MAX_BYTES:
        raise ApplicationError("The file is larger than 50 MB; split it.", code="validation_error",
                               errors=[field_error("file", "At most 50 MB.", "too_large")])
    encoding = csv_io.detect_encoding(data)
    sample = csv_io.sample(data, encoding)
    delimiter = csv_io.sniff_delimiter(sample)
    try:
        first = csv_io.read_header(sample, delimiter)
    except csv.Error as exc:  # e.g. a lone carriage return in the header (old Mac line endings)
        raise _unreadable_csv(exc) from None
    columns, ignored = csv_io.map_headers(first)
    if not set(columns.values()) & csv_io.IDENTITY_COLUMNS:
        raise ApplicationError(
            "The file has no phone, WhatsApp or e-mail column. Recognised headers include: nom, téléphone, "
            "whatsapp, email, ville, quartier, segment, source, tags (or name, phone, city…).",
            code="validation_error", errors=[field_error("file", f"Headers found: {', '.join(first)[:300]}", "headers")],
        )
    try:
        total = csv_io.count_data_rows_bytes(data, encoding, delimiter)
    except csv.Error as exc:  # e.g. a lone carriage return inside a cell
        raise _unreadable_csv(exc) from None
    job = ImportJob.objects.create(
        created_by=created_by if getattr(created_by, "pk", None) else None, file_name=file_name[:255], data=data,
        encoding=encoding, delimiter=delimiter, columns={**columns, "_header": first, "_ignored": ignored},
        consent_given=consent_given, total_rows=total,
    )
    # No expiry: nothing but this kick starts a new job before the stalled-job sweep (minutes later).
    task_kick_on_commit("workers.tasks.contacts.import_job_run", job.pk, expires=None)
    return job


def _import_job_claim(job_id: int) -> ImportJob | None:
    """Mark the job running (and stamp it) unless it is unknown, done or failed."""
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().defer("data").filter(pk=job_id).first()
        if job is None or job.status in (ImportJob.Status.DONE, ImportJob.Status.FAILED):
            return None
        now = timezone.now()
        job.status = ImportJob.Status.RUNNING
        job.started_at = job.started_at or now
        job.heartbeat_at = now
        job.save(update_fields=["status", "started_at", "heartbeat_at"])
        return job


def import_job_run(*, job_id: int, batch_size: int | None = None, max_batches: int | None = None) -> ImportJob | None:
    """Process an import job from its cursor to the end, one transaction per batch.

    Each batch commits its contacts, its row errors, its counts and the new cursor (``rows_done``)
    together, under a lock of the job row; a batch whose start no longer matches the cursor
    (another worker got there first) is not applied. So a worker killed mid-way, a task
    delivered twice or two workers on one job never duplicate a row, and a re-run resumes.
    Every row up to the cursor is counted once: ``created_count + updated_count + unchanged_count +
    skipped_count + error_count == rows_done``, so a finished job's counts add up to ``total_rows``.
    A batch that raises is counted (``attempts``); after ``IMPORT_MAX_ATTEMPTS`` failures in
    a row the job is marked failed with the error, instead of being retried forever.
    ``max_batches`` stops after that many batches (tests use it to simulate a killed worker).
    Returns the job, or None when there is nothing to do (unknown, done or failed job).
    """
    job = _import_job_claim(job_id)
    if job is None:
        return None
    if batch_size is None:
        batch_size = IMPORT_SQL_BATCH_SIZE if connection.vendor == "postgresql" else IMPORT_BATCH_SIZE
    data = _import_file(job_id)
    columns = {k: v for k, v in job.columns.items() if not k.startswith("_")}
    header = job.columns.get("_header", [])
    for batches, batch in enumerate(import_batches(job, data, job.rows_done, batch_size), start=1):
        try:
            applied = _import_commit_batch(job_id, batch, columns, header)
        except Exception as exc:
            _import_record_failure(job_id, batch.start, exc)
            raise
        if not applied:
            return ImportJob.objects.defer("data").get(pk=job_id)
        if max_batches is not None and batches >= max_batches:
            return ImportJob.objects.defer("data").get(pk=job_id)
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().defer("data").get(pk=job_id)
        if job.status == ImportJob.Status.RUNNING:
            job.status = ImportJob.Status.DONE
            job.finished_at = timezone.now()
            job.save(update_fields=["status", "finished_at"])
    return job


def _import_file(job_id: int) -> bytes:
    """The stored file of a job (in binary on PostgreSQL: ``pg_io.pg_import_file``)."""
    if connection.vendor == "postgresql":
        return pg_import_file(job_id)
    stored = ImportJob.objects.filter(pk=job_id).values_list("data", flat=True).get()
    return stored if isinstance(stored, bytes) else bytes(stored)


def _import_record_failure(job_id: int, start: int, exc: Exception) -> None:
    """Count a failed attempt at the batch after ``start``; fail the job after too many."""
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().defer("data").filter(pk=job_id).first()
        if job is None or job.status != ImportJob.Status.RUNNING or job.rows_done != start:
            return
        job.attempts += 1
        message = f"{type(exc).__name__}: {exc}"[:1000]
        if job.attempts >= IMPORT_MAX_ATTEMPTS:
            job.status = ImportJob.Status.FAILED
            job.finished_at = timezone.now()
            job.failure = (f"The rows after row {start + 1} failed {job.attempts} times in a row; the import "
                           f"stopped there (rows before it are imported). Last error: {message}")
            logger.error("import job %s failed: %s", job_id, job.failure)
        else:
            job.failure = f"Attempt {job.attempts} of {IMPORT_MAX_ATTEMPTS} failed: {message}"
        job.save(update_fields=["attempts", "status", "finished_at", "failure"])


def _import_commit_batch(job_id: int, batch: ImportBatch, columns: dict[str, str], header: list[str]) -> bool:
    """Apply one batch and advance the cursor; False when the job moved on without us."""
    for attempt in range(3):
        try:
            with transaction.atomic():
                job = ImportJob.objects.select_for_update().defer("data").get(pk=job_id)
                if job.status != ImportJob.Status.RUNNING or job.rows_done != batch.start:
                    return False
                counts = import_batch_apply(job, batch, columns, header)
                job.rows_done = batch.end
                job.created_count += counts["created"]
                job.updated_count += counts["updated"]
                job.unchanged_count += counts["unchanged"]
                job.skipped_count += counts["skipped"]
                job.error_count += counts["errors"]
                job.heartbeat_at = timezone.now()
                job.attempts = 0
                job.save(update_fields=["rows_done", "created_count", "updated_count", "unchanged_count",
                                        "skipped_count", "error_count", "heartbeat_at", "attempts"])
                return True
        except IntegrityError:
            # Someone created one of these identities while we worked: the batch rolled back
            # as a whole; the retry sees their rows and updates instead of inserting.
            if attempt == 2:
                raise
    return False


def import_batch_apply(job: ImportJob, batch: ImportBatch, columns: dict[str, str],
                        header: list[str]) -> dict[str, int]:
    """Write one batch: set-based SQL on PostgreSQL (``pg.import_apply_sql``), row by row in Python
    elsewhere (``rows.import_apply_rows``); the two agree (tests/contacts/test_import_equivalence.py)."""
    if connection.vendor == "postgresql":
        return import_apply_sql(job, batch, columns, header)
    return import_apply_rows(job, batch, columns, header)


def import_jobs_claim_stalled(*, stalled_after: timedelta = IMPORT_STALLED_AFTER, limit: int = 20) -> list[int]:
    """Ids of pending or running jobs whose worker stopped reporting (killed, or a lost kick).

    Claimed with ``SELECT … FOR UPDATE SKIP LOCKED`` where the database supports it and
    stamped, so that two beat ticks or two beat processes do not kick the same job twice
    within ``stalled_after``. The caller queues ``import_job_run`` for each id.
    """
    cutoff = timezone.now() - stalled_after
    skip_locked = connection.features.has_select_for_update_skip_locked
    with transaction.atomic():
        qs = (ImportJob.objects.defer("data")
              .filter(status__in=[ImportJob.Status.PENDING, ImportJob.Status.RUNNING])
              .filter(Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, created_at__lt=cutoff))
              .order_by("pk"))
        ids = list(qs.select_for_update(skip_locked=skip_locked).values_list("pk", flat=True)[:limit])
        ImportJob.objects.filter(pk__in=ids).update(heartbeat_at=timezone.now())
    return ids

