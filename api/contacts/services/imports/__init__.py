"""The contact import: jobs and their batches (``jobs``), the portable row-by-row path (``rows``) and the
PostgreSQL set-based path (``pg``, with its I/O helpers in ``pg_io``)."""

from api.contacts.services.imports.jobs import (
    IMPORT_BATCH_SIZE,
    IMPORT_MAX_ATTEMPTS,
    IMPORT_MAX_BYTES,
    IMPORT_SQL_BATCH_SIZE,
    IMPORT_STALLED_AFTER,
    import_job_create,
    import_job_run,
    import_jobs_claim_stalled,
)
from api.contacts.services.imports.rows import import_row_fields_counts

__all__ = [
    "IMPORT_BATCH_SIZE",
    "IMPORT_MAX_ATTEMPTS",
    "IMPORT_MAX_BYTES",
    "IMPORT_SQL_BATCH_SIZE",
    "IMPORT_STALLED_AFTER",
    "import_job_create",
    "import_job_run",
    "import_jobs_claim_stalled",
    "import_row_fields_counts",
]
