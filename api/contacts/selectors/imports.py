"""Import jobs, their row report, and the rows of the CSV export."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db.models import QuerySet

from api.common.errors import NotFoundError
from api.contacts.models import Contact, ImportJob, ImportRowError


def import_job_get(job_id: int) -> ImportJob:
    """The import job ``job_id`` without its file (404 when there is none)."""
    job = ImportJob.objects.defer("data").filter(pk=job_id).first()
    if job is None:
        raise NotFoundError(f"No import job #{job_id}.")
    return job


def contacts_export_rows(qs: QuerySet[Contact]) -> Iterator[dict[str, Any]]:
    """Rows for the CSV export, read 2,000 at a time from a server-side cursor (PostgreSQL)."""
    for contact in qs.order_by("pk").prefetch_related("tags").iterator(chunk_size=2000):
        row = {f: getattr(contact, f) for f in ("id", "name", "phone", "whatsapp", "email", "city", "neighbourhood",
                                                 "segment", "lifecycle_stage", "acquisition_channel",
                                                 "self_reported_source", "telegram_username", "instagram",
                                                 "preferred_channel", "opted_out_at", "last_seen_at",
                                                 "last_verified_at", "created_at")}
        row["tags"] = ", ".join(t.name for t in contact.tags.all())
        yield row


def import_job_row_errors(job_id: int, *, limit: int = 1000) -> list[dict[str, Any]]:
    """The row report of import job ``job_id``: ``{"row", "column", "message"}`` by line of the file
    (the header is line 1), at most ``limit`` entries (a row may have one per bad cell)."""
    return [dict(e) for e in ImportRowError.objects.filter(job_id=job_id).order_by("row", "id")
            .values("row", "column", "message")[:limit]]
