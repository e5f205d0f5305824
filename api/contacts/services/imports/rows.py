"""The portable import path: one batch deduplicated and written row by row in Python, with a handful of
queries per batch (no query per row). It runs on SQLite, and on PostgreSQL for the rows the set-based
path (``pg.py``) hands back. Its rules are the reference that ``pg.import_apply_sql`` must match
(tests/contacts/test_import_equivalence.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from django.db import connection

from api.contacts import csv_io
from api.contacts.enums import Segment
from api.contacts.models import (
    Contact,
    ContactNote,
    ErasedIdentity,
    ImportJob,
    ImportRowError,
    Tag,
)
from api.contacts.selectors import IDENTITY_ROW_KINDS, identity_owners
from api.contacts.services.identity import identity_digest, referral_code_new
from api.contacts.services.identity_rows import identity_rows_heal_many
from api.contacts.services.imports.batches import ImportBatch
from api.contacts.services.imports.pg_io import pg_existing, pg_insert

Row = dict[str, Any]  # a contact as field values, with "pk" once it is in the database

# The row report of a row whose field count is not the header's (the SQL path writes the same words):
# its cells cannot be matched to the columns, so none is read. Most often a separator inside a cell
# ("Akwa; Douala" in a file cut at ";") or a line cut short. The back office translates it by its
# numbers (``import_row_fields_counts``).
FIELD_COUNT_ONE = "{found} field instead of {expected}."
FIELD_COUNT_MANY = "{found} fields instead of {expected}."
_FIELD_COUNT_RE = re.compile(r"(\d+) fields? instead of (\d+)\.")


def import_row_fields_message(found: int, expected: int) -> str:
    """The row report of a row of ``found`` fields in a file whose header has ``expected``."""
    return (FIELD_COUNT_ONE if found == 1 else FIELD_COUNT_MANY).format(found=found, expected=expected)


def import_row_fields_counts(message: str) -> tuple[int, int] | None:
    """``(found, expected)`` when ``message`` is a field-count report of ``import_row_fields_message``."""
    match = _FIELD_COUNT_RE.fullmatch(message)
    return (int(match.group(1)), int(match.group(2))) if match else None


@dataclass
class _Plan:
    """What one batch writes, decided before anything is written."""

    errors: list[ImportRowError]
    to_create: list[Row] = field(default_factory=list)
    to_update: dict[int, Row] = field(default_factory=dict)
    changed_fields: set[str] = field(default_factory=set)
    tags_for: list[tuple[Row, list[str]]] = field(default_factory=list)
    notes_for: list[tuple[Row, str]] = field(default_factory=list)
    matched: dict[int, Row] = field(default_factory=dict)  # existing contacts a row went to, by id
    counts: dict[str, int] = field(default_factory=lambda: {"created": 0, "updated": 0, "unchanged": 0})


def import_apply_rows(job: ImportJob, batch: ImportBatch, columns: dict[str, str],
                      header: list[str]) -> dict[str, int]:
    """Write one batch row by row; counts ``created``, ``updated``, ``unchanged``, ``skipped`` (blank rows)
    and ``errors``, which add up to the rows of the batch: each row is counted once.

    The portable twin of ``pg.import_apply_sql`` (same signature, same results). The batch holds rows
    parsed by the csv module (``batch.rows``): ``batches.import_batches`` cuts ``COPY`` lines only for the
    PostgreSQL path.
    """
    return import_apply_parsed_rows(job, batch.rows or [], columns, header)


def import_apply_parsed_rows(job: ImportJob, rows: list[tuple[int, list[str]]], columns: dict[str, str],
                             header: list[str]) -> dict[str, int]:
    """Dedupe and write ``(index, cells)`` rows with a handful of queries (no query per row).

    A row matches an existing contact (or an earlier row of the file) by its phone, WhatsApp number
    or e-mail, the contact's main ones or the extra ones a merge brought (``selectors.identity_owners``);
    a row whose identities belong to two contacts is reported, not applied. Every contact a row went to
    holds an identity row for each of its main phone, WhatsApp number and e-mail afterwards.
    A blank row (nothing but separators and spaces) is counted ``skipped``; a row whose field
    count is not the header's is reported, whatever its cells.
    """
    errors: list[ImportRowError] = []
    parsed, skipped = _rows_parse(job, rows, columns, header, errors)
    parsed = _rows_refuse_erased(job, parsed, errors)
    plan = _rows_plan(job, parsed, errors)
    _rows_write(job, plan)
    counts = dict(plan.counts)
    counts["skipped"] = skipped
    counts["errors"] = len({e.row for e in errors})
    return counts


def _rows_parse(job: ImportJob, rows: list[tuple[int, list[str]]], columns: dict[str, str], header: list[str],
                errors: list[ImportRowError]) -> tuple[list[tuple[int, Row]], int]:
    """``(line, values)`` of the rows with valid cells and an identity, and the number of blank rows;
    the others go to ``errors``."""
    parsed: list[tuple[int, Row]] = []
    skipped = 0
    for index, cells in rows:
        line = index + 1
        if not any(c.strip() for c in cells):
            skipped += 1  # a blank line, or separators only: nothing to import, nothing wrong
            continue
        if header and len(cells) != len(header):
            errors.append(ImportRowError(job=job, row=line, column="",
                                         message=import_row_fields_message(len(cells), len(header))))
            continue
        values, problems = csv_io.parse_row(cells, columns, header)
        if problems:
            errors.extend(ImportRowError(job=job, row=line, column=col[:100], message=msg[:500]) for col, msg in problems)
            continue
        if not (values.get("phone") or values.get("whatsapp") or values.get("email")):
            errors.append(ImportRowError(job=job, row=line, column="", message=csv_io.NO_IDENTITY))
            continue
        if "whatsapp" in values and "phone" not in values:
            values["phone"] = values["whatsapp"]
        parsed.append((line, values))
    return parsed, skipped


def _rows_refuse_erased(job: ImportJob, parsed: list[tuple[int, Row]],
                        errors: list[ImportRowError]) -> list[tuple[int, Row]]:
    """Erased persons: refused unless the uploader stated they consented again (then forgotten no more)."""
    digests: dict[str, list[int]] = {}
    for line, values in parsed:
        for name in ("phone", "whatsapp", "email"):
            if values.get(name):
                digests.setdefault(identity_digest(name, values[name]), []).append(line)
    erased = set(ErasedIdentity.objects.filter(digest__in=list(digests)).values_list("digest", flat=True))
    if not erased:
        return parsed
    if job.consent_given:
        ErasedIdentity.objects.filter(digest__in=erased).delete()
        return parsed
    refused = {line for d in erased for line in digests[d]}
    for line in sorted(refused):
        errors.append(ImportRowError(job=job, row=line, column="", message=csv_io.FORGOTTEN))
    return [(line, v) for line, v in parsed if line not in refused]


def import_row_identities(values: Row) -> list[tuple[str, str]]:
    """The ``(kind, value)`` a row is matched by, in the order of the row report: its phone (its WhatsApp
    number when it has no phone), its WhatsApp number, its e-mail."""
    return [(kind, values[kind]) for kind in IDENTITY_ROW_KINDS if values.get(kind)]


def _rows_plan(job: ImportJob, parsed: list[tuple[int, Row]], errors: list[ImportRowError]) -> _Plan:
    """Match each row to an existing contact or an earlier row of the batch, in file order."""
    fields = sorted({f for _, v in parsed for f in v} - {"tags", "note"} | {*IDENTITY_ROW_KINDS, "segment"})
    owners = identity_owners(pair for _, v in parsed for pair in import_row_identities(v))
    existing = {row["pk"]: row for row in import_existing(set(owners.values()), fields)}
    index_by: dict[tuple[str, str], Row] = {pair: existing[pk] for pair, pk in owners.items() if pk in existing}

    plan = _Plan(errors=errors)
    for line, values in parsed:
        keys = import_row_identities(values)
        hits = {id(c): c for k in keys if (c := index_by.get(k)) is not None}
        if len(hits) > 1:
            names = " and ".join(f"#{c['pk']}" if c.get("pk") else "another row of this file" for c in hits.values())
            errors.append(ImportRowError(job=job, row=line, column="", message=csv_io.TWO_CONTACTS.format(names)))
            continue
        tags = values.pop("tags", None)
        note = values.pop("note", None)
        if hits:
            contact = next(iter(hits.values()))
            if contact.get("pk"):
                plan.matched[contact["pk"]] = contact
            _rows_fill(plan, contact, values)
            for key in keys:
                index_by.setdefault(key, contact)
        else:
            contact = {"acquisition_channel": "import", **values, "referral_code": referral_code_new()}
            plan.to_create.append(contact)
            for key in keys:
                index_by[key] = contact
            plan.counts["created"] += 1
            if note:
                plan.notes_for.append((contact, note))
        if tags:
            plan.tags_for.append((contact, tags))
    return plan


def _rows_fill(plan: _Plan, contact: Row, values: Row) -> None:
    """Give ``contact`` the values it lacks and count the row updated or unchanged."""
    changed = []
    for name, value in values.items():
        current = contact.get(name)
        # An import fills what is missing and never overwrites what is there (staff edits
        # win over an old file); so the first row of a person wins and a re-import is a no-op.
        if current not in (None, "") and not (name == "segment" and current == Segment.UNKNOWN):
            continue
        if current != value:
            contact[name] = value
            changed.append(name)
    if not contact.get("pk"):
        plan.counts["unchanged"] += 1  # a duplicate line of the same file
    elif changed:
        plan.to_update[contact["pk"]] = contact
        plan.changed_fields.update(changed)
        plan.counts["updated"] += 1
    else:
        plan.counts["unchanged"] += 1


def _rows_write(job: ImportJob, plan: _Plan) -> None:
    """Write the plan: new contacts, filled fields, tags, notes and the row report."""
    if plan.to_create:
        import_insert(plan.to_create)
    if plan.to_update:
        update_fields = sorted(plan.changed_fields)
        objs = [Contact(pk=pk, **{f: row.get(f) for f in update_fields}) for pk, row in plan.to_update.items()]
        Contact.objects.bulk_update(objs, update_fields, batch_size=1000)
    # The contacts the rows went to hold a row for each main identity afterwards, as if written by
    # ``contact_upsert``; one that has its rows (a re-import) gets nothing new.
    identity_rows_heal_many({c["pk"]: c for c in [*plan.to_create, *plan.matched.values()]})
    if plan.tags_for:
        tag_names = {n for _, tags in plan.tags_for for n in tags}
        Tag.objects.bulk_create([Tag(name=n) for n in tag_names], ignore_conflicts=True)
        tag_ids = dict(Tag.objects.filter(name__in=tag_names).values_list("name", "pk"))
        through = Contact.tags.through
        through.objects.bulk_create(
            [through(contact_id=c["pk"], tag_id=tag_ids[n]) for c, tags in plan.tags_for for n in tags],
            ignore_conflicts=True,
        )
    if plan.notes_for:
        author = job.created_by_id
        ContactNote.objects.bulk_create([ContactNote(contact_id=c["pk"], author_id=author, text=t)
                                         for c, t in plan.notes_for])
    if plan.errors:
        ImportRowError.objects.bulk_create(plan.errors)


def import_existing(ids: set[int], fields: list[str]) -> list[Row]:
    """The contacts ``ids`` (the owners of a batch's identities), as dicts of ``fields`` plus ``pk``.

    Plain rows, not model instances: building 2,000 instances per batch cost a third of the
    import time (measured with cProfile on bench/import_contacts.py). On PostgreSQL ``pg_io.pg_existing``.
    """
    if not ids:
        return []
    if connection.vendor == "postgresql":
        return pg_existing(ids, fields)
    return [{"pk": row.pop("id"), **row} for row in Contact.objects.filter(pk__in=ids).values("id", *fields)]


def import_insert(rows: list[Row]) -> None:
    """Insert new contacts (dicts of field values) and set their ``pk``; on PostgreSQL ``pg_io.pg_insert``."""
    if connection.vendor == "postgresql":
        pg_insert(rows)
        return
    objs = [Contact(**row) for row in rows]
    Contact.objects.bulk_create(objs, batch_size=500)
    if any(o.pk is None for o in objs):
        by_code = dict(Contact.objects.filter(referral_code__in=[o.referral_code for o in objs])
                       .values_list("referral_code", "pk"))
        for o in objs:
            o.pk = by_code[o.referral_code]
    for row, obj in zip(rows, objs, strict=True):
        row["pk"] = obj.pk
