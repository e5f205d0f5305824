"""Benchmark of the contacts CSV import against a plain bulk insert of the same rows.

Generates N CSV rows (default 100,000: 10% duplicates of earlier rows typed differently,
2% bad rows), creates the import jobs as the upload API does (``import_job_create``) and runs
them in a child process as a worker does (``import_job_run``: the file, then the same file
again), and measures in the same run the floor: the same raw rows inserted without validation or
dedupe (``COPY`` on PostgreSQL, ``executemany`` on SQLite) into a table with what
``contacts_contact`` has: its 14 indexes (the same definitions, none unique, since the raw rows
hold duplicates) and, on PostgreSQL, its foreign keys; and each raw row's phone and e-mail cell, as
it is, as an identity row into a table with what ``contacts_contactidentity`` has (its 3 indexes,
none unique, and on PostgreSQL its foreign key, to the floor's contacts). Prints rows/s, the
importing process's peak resident memory and the ratio import/floor. Target: ratio <= 4, memory
< 300 MB.

Why the identity rows are in the floor (since 2026-12-03): storing a contact now means storing a
``ContactIdentity`` row for each of its main phone, WhatsApp number and e-mail (the lookups read
them, and ``contact_upsert``, merges and imports write them), so the cheapest storage of these rows
includes them, as it includes the indexes of ``contacts_contact`` since session 3. Tags and notes
are not in it (content of the file, not of the contact's storage), as before. Writing the identity
rows costs about as much in the import as in the floor (measured: the import's ~114,000 rows ~0.45 s
of inserts and ~0.4 s of deferred foreign-key checks at commit; the floor's 126,000 raw cells ~0.6 s
and ~0.45 s), so the ratio falls when they join the floor. The bench also prints the floor without them (the contacts alone, the floor until
2026-12-03) and the import's ratio to it, to compare with the figures before identity rows.

It also prints the same COPY into a table without indexes or keys (the floor of sessions 1
and 2): the indexed floor of the contacts alone is 4-6x that, so no import writing into ``contacts_contact``
could come within 4x of it.

    .venv/bin/python bench/import_contacts.py                 # scratch SQLite under /tmp
    createdb -h 127.0.0.1 -U postgres bench_contacts   # once
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench_contacts .venv/bin/python bench/import_contacts.py

It empties the contacts tables of the database it runs on: give it a scratch database.

Measured 2026-12-03 ~15:04, 2-core machine shared with other test runs (load average 1.8-2.1),
PostgreSQL 15, set-based path, 50,000 rows per batch, 100,000 rows, three runs (median first):
  import 4.97 s (4.69-5.04; 20,100 rows/s); floor 2.40 s (2.13-2.42); ratio 2.1x (1.9-2.3, target
  <= 4x: met); the floor without identity rows 1.13 s (1.12-1.28), the import 4.1x it (3.9-4.5);
  index-free copy 0.26-0.31 s; re-import 2.61 s (2.60-2.78) with 0 changes; peak memory 116-117 MB.
  The code before this floor and the cheaper identity rows of existing contacts, in alternate runs of
  the same minutes: import 4.69 s (4.62-5.00), 4.2x the floor without identity rows; re-import 2.96 s.
  SQLite, same day and load: import 27.1 s (3,700 rows/s); floor 8.59 s, ratio 3.2x (4.0x the floor
  without identity rows, 6.83 s); re-import 9.65 s; peak memory 160 MB.

Measured 2026-11-26 on a quiet 2-core machine (load average < 1), PostgreSQL 15, set-based
path, 50,000 rows per batch, before identity rows (the floor was the contacts alone):
  100,000 rows (6.6 MB), three runs: import 3.13-3.16 s (31,700-32,000 rows/s); floor 0.97-0.99 s;
    ratio 3.2-3.3x (target <= 4x: met); index-free copy 0.18 s (the import is 17.1-17.6x it);
    re-import 1.83-1.85 s with 0 changes; peak memory 98-99 MB.
  700,000 rows (46.2 MB, near the 50 MB upload cap): import 26.8 s; floor 7.35 s; ratio 3.6x;
    re-import 21.3 s; peak memory 207 MB (it was 339 MB before the file was fetched in binary).
  Where the time goes (whole 100,000-row import, by statement): INSERT into contacts_contact
    0.72 s (its indexes), parsing the cells in SQL 0.63 s, the commits 0.55 s (the deferred
    foreign-key checks of the tags), contact tags 0.28 s, new ids and codes 0.13 s, first values
    per target 0.14 s, the rest below 0.15 s each.
  Earlier (session 2, index-free floor only, the import in the generating process): 3.71 s,
    23.2x the index-free copy; before the set-based path (row-by-row Python): 13.1 s.
  SQLite (row-by-row Python path): import 26.2 s (3,800 rows/s), index-free copy 3.3 s,
    re-import 9.5 s.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "api.settings")
if not os.environ.get("DATABASE_URL") and not os.environ.get("CONFIOTES_DATA_DIR"):
    # A scratch SQLite database; the child process that runs the jobs inherits it.
    os.environ["CONFIOTES_DATA_DIR"] = tempfile.mkdtemp(prefix="confiotes-bench-")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

FIRST = ["Mireille", "Aïcha", "Brice", "Hervé", "Estelle", "Serge", "Nadège", "Oumarou", "Christelle", "Landry"]
LAST = ["Ngo Bassa", "Fotso", "Kamga", "Mbarga", "Etoa", "Njoya", "Bello", "Essomba", "Atangana", "Wandji"]
CITIES = ["Douala", "Yaoundé", "Bafoussam", "Buea", "Kribi", "Garoua"]
SOURCES = ["Publicité Facebook", "Bouche à oreille", "Salon MIC", "Dégustation", "Tontine"]
SEGMENTS = ["ébahir", "sain", "business", ""]
HEADER = ["nom", "téléphone", "email", "ville", "quartier", "segment", "source", "tags"]


def _formats(national: str, rng: random.Random) -> str:
    """The same number as people type it."""
    style = rng.randrange(4)
    if style == 0:
        return national
    if style == 1:
        return "+237" + national
    if style == 2:
        return f"{national[0]} {national[1:3]} {national[3:5]} {national[5:7]} {national[7:]}"
    return "00237 " + national


def generate(rows: int, seed: int = 5) -> tuple[bytes, list[list[str]]]:
    rng = random.Random(seed)
    records: list[list[str]] = []
    numbers: list[str] = []
    for i in range(rows):
        roll = rng.random()
        if roll < 0.02:  # bad row
            records.append([f"Client {i}", "12345" if i % 2 else "", "pas-un-email" if i % 2 == 0 else "",
                            rng.choice(CITIES), "", "", "", ""])
            continue
        if roll < 0.12 and numbers:  # duplicate of an earlier person, typed differently
            national = rng.choice(numbers)
            records.append([f"{rng.choice(FIRST)} {rng.choice(LAST)}", _formats(national, rng), "",
                            rng.choice(CITIES), "", "", "", ""])
            continue
        national = f"6{rng.choice('5789')}{i:07d}"
        numbers.append(national)
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        email = f"client{i}@example.cm" if rng.random() < 0.3 else ""
        records.append([name, _formats(national, rng), email, rng.choice(CITIES), "", rng.choice(SEGMENTS),
                        rng.choice(SOURCES), rng.choice(["", "", "tontine", "bio, enfants"])])
    buffer = io.StringIO()
    import csv

    writer = csv.writer(buffer, delimiter=";", lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(records)
    return buffer.getvalue().encode("utf-8"), records


def reset() -> None:
    from api.contacts.models import Contact, ContactNote, ImportJob, Tag

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE contacts_contact, contacts_importjob, contacts_tag CASCADE")
    else:
        for model in (ContactNote, Contact.tags.through, ImportJob, Contact, Tag):
            model.objects.all().delete()


def floor(records: list[list[str]], *, indexed: bool = False, identities: bool = False) -> float:
    """Seconds to insert the raw rows with no validation and no dedupe.

    ``indexed``: into a table with the indexes (the same definitions, none unique: the raw rows hold
    duplicates) and, on PostgreSQL, the foreign keys of ``contacts_contact``, the table the import writes into.
    ``identities`` (with ``indexed``): and the identity rows that storing a contact means since they exist (a
    ``ContactIdentity`` row per main phone, WhatsApp number and e-mail): each raw row's phone and e-mail
    cells as they are, into a table with the indexes (none unique) and, on PostgreSQL, the foreign key of
    ``contacts_contactidentity``, which points at the floor's contacts (whose id is then their primary key).
    """
    columns = ["name", "phone", "email", "city", "neighbourhood", "segment", "self_reported_source",
               "acquisition_channel", "referral_code", "telegram_username", "instagram", "first_name", "last_name",
               "salutation", "preferred_channel", "language", "lifecycle_stage", "lifecycle_stage_locked",
               "created_at", "updated_at"]
    if identities:
        columns.insert(0, "id")  # the identity rows name their contact
    created = "2026-01-01T00:00:00Z" if connection.vendor == "postgresql" else "2026-01-01"

    def contact(i: int, r: list[str]) -> list[object]:
        return [*([i + 1] if identities else []), r[0], r[1], r[2], r[3], r[4], r[5], r[6], "import", f"B{i}", "",
                "", "", "", "", "", "fr", "suspect", False, created, created]

    def identity_rows() -> list[tuple[int, str, str, str]]:
        return [(i + 1, kind, value, created) for i, r in enumerate(records)
                for kind, value in (("phone", r[1]), ("email", r[2])) if value]

    with connection.cursor() as cursor:
        for table in ("bench_floor_identity", "bench_floor"):
            cursor.execute(f"DROP TABLE IF EXISTS {table}")
        if connection.vendor == "postgresql":
            cursor.execute("CREATE TABLE bench_floor (LIKE contacts_contact INCLUDING DEFAULTS)")
            cursor.execute("ALTER TABLE bench_floor ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY")
            if indexed:
                _pg_floor_keys(cursor, "contacts_contact", "bench_floor", primary_key=identities)
            if identities:
                cursor.execute("CREATE TABLE bench_floor_identity (LIKE contacts_contactidentity INCLUDING DEFAULTS)")
                cursor.execute("ALTER TABLE bench_floor_identity ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY")
                _pg_floor_keys(cursor, "contacts_contactidentity", "bench_floor_identity", primary_key=False)
        else:
            cursor.execute("CREATE TABLE bench_floor AS SELECT * FROM contacts_contact WHERE 0")
            if indexed:  # the indexes; SQLite checks no foreign key of a table made by CREATE TABLE AS
                _sqlite_floor_indexes(cursor, "contacts_contact", "bench_floor")
            if identities:
                cursor.execute("CREATE TABLE bench_floor_identity AS SELECT * FROM contacts_contactidentity WHERE 0")
                _sqlite_floor_indexes(cursor, "contacts_contactidentity", "bench_floor_identity")
        started = time.perf_counter()
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY bench_floor ({', '.join(columns)}) FROM STDIN") as copy:
                for i, r in enumerate(records):
                    copy.write_row(contact(i, r))
            if identities:
                with cursor.cursor.copy("COPY bench_floor_identity (contact_id, kind, value, created_at) "
                                        "FROM STDIN") as copy:
                    for row in identity_rows():
                        copy.write_row(row)
        else:
            cursor.executemany(f"INSERT INTO bench_floor ({', '.join(columns)}) VALUES ("
                               + ", ".join(["%s"] * len(columns)) + ")",
                               [contact(i, r) for i, r in enumerate(records)])
            if identities:
                cursor.executemany("INSERT INTO bench_floor_identity (contact_id, kind, value, created_at) "
                                   "VALUES (%s, %s, %s, %s)", identity_rows())
        elapsed = time.perf_counter() - started
        for table in ("bench_floor_identity", "bench_floor"):
            cursor.execute(f"DROP TABLE IF EXISTS {table}")
    return elapsed


def _pg_floor_keys(cursor: Any, table: str, floor_table: str, *, primary_key: bool) -> None:
    """The indexes of ``table`` on ``floor_table``, none unique (the raw rows hold duplicates) but, with
    ``primary_key``, the primary key; and its foreign keys, a reference to ``contacts_contact`` going to
    ``bench_floor`` for the floor's identity rows."""
    cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s", [table])
    for name, definition in cursor.fetchall():
        if primary_key and name == f"{table}_pkey":
            cursor.execute(f"ALTER TABLE {floor_table} ADD PRIMARY KEY (id)")
            continue
        method = definition.split(" USING ", 1)[1]
        cursor.execute(f"CREATE INDEX ON {floor_table} USING {method}")
    cursor.execute("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass "
                   "AND contype = 'f'", [table])
    for (definition,) in cursor.fetchall():
        if floor_table == "bench_floor_identity":
            definition = definition.replace("REFERENCES contacts_contact(", "REFERENCES bench_floor(")
        cursor.execute(f"ALTER TABLE {floor_table} ADD {definition}")


def _sqlite_floor_indexes(cursor: Any, table: str, floor_table: str) -> None:
    """The indexes of ``table`` on ``floor_table``, none unique (the raw rows hold duplicates)."""
    cursor.execute("SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = %s AND sql IS NOT NULL",
                   [table])
    for n, (definition,) in enumerate(cursor.fetchall()):
        on = definition.split(" ON ", 1)[1].split("(", 1)[1]
        cursor.execute(f"CREATE INDEX {floor_table}_{n} ON {floor_table} ({on}")


def peak_rss_mb() -> float:
    """This process's peak resident memory. Linux's VmHWM starts again at exec; ``ru_maxrss`` would also count
    the parent's memory that this process held between its fork and its exec."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_import(job_ids: list[int], batch_size: int | None) -> None:
    """The timed part, in a process of its own, as a worker runs it: the import of the file, then its re-import
    (two jobs the parent created, as the upload API does).

    Prints one JSON line: seconds, counts and this process's peak resident memory, which so holds only what
    the import itself needed, not the benchmark's generated rows or the upload.
    """
    import json

    from api.contacts import services

    kwargs = {"batch_size": batch_size} if batch_size else {}
    started = time.perf_counter()
    job = services.import_job_run(job_id=job_ids[0], **kwargs)
    import_seconds = time.perf_counter() - started
    assert job is not None
    peak_mb = peak_rss_mb()
    # A second import of the same file must change nothing.
    started = time.perf_counter()
    again = services.import_job_run(job_id=job_ids[1], **kwargs)
    reimport_seconds = time.perf_counter() - started
    assert again is not None
    print(json.dumps({"import": import_seconds, "reimport": reimport_seconds, "peak_mb": peak_mb,
                      "job": [job.created_count, job.updated_count, job.unchanged_count, job.error_count],
                      "again": [again.created_count, again.updated_count, again.unchanged_count]}))


def main() -> None:
    import json
    import subprocess

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--run-jobs", help=argparse.SUPPRESS)  # the child process of run_import
    args = parser.parse_args()
    if args.run_jobs:
        run_import([int(i) for i in args.run_jobs.split(",")], args.batch_size)
        return

    call_command("migrate", verbosity=0)
    data, records = generate(args.rows)
    reset()
    bare_seconds = floor(records)
    contacts_floor_seconds = floor(records, indexed=True)
    floor_seconds = floor(records, indexed=True, identities=True)
    identity_cells = sum(1 for r in records for cell in (r[1], r[2]) if cell)
    del records
    from unittest import mock

    from api.contacts import services

    # The jobs are created here, as the upload API does; a worker process runs them (not queued: the child).
    with mock.patch.object(services.transaction, "on_commit"):
        job_ids = [services.import_job_create(file_name="bench.csv", data=data).pk for _ in range(2)]
    command = [sys.executable, __file__, "--run-jobs", ",".join(map(str, job_ids))]
    if args.batch_size:
        command += ["--batch-size", str(args.batch_size)]
    # Same environment: the same database (and, on SQLite, the same data directory).
    child = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)
    result = json.loads(child.stdout.strip().splitlines()[-1])
    import_seconds, (created, updated, unchanged, errors) = result["import"], result["job"]

    print(f"database           {connection.vendor} ({connection.settings_dict['NAME']})")
    print(f"rows               {args.rows:,} ({len(data) / 1e6:.1f} MB CSV)")
    print(f"import             {import_seconds:.2f} s  {args.rows / import_seconds:,.0f} rows/s  "
          f"created {created:,}  updated {updated:,}  unchanged {unchanged:,}  errors {errors:,}")
    keys = ", and the foreign keys," if connection.vendor == "postgresql" else ""
    print(f"floor (bulk copy)  {floor_seconds:.2f} s  {args.rows / floor_seconds:,.0f} rows/s  (the raw rows into "
          f"a table with the indexes, none unique{keys} of contacts_contact, and their {identity_cells:,} phone and "
          "e-mail cells as identity rows into one with those of contacts_contactidentity)")
    print(f"ratio              {import_seconds / floor_seconds:.1f}x (target <= 4x)")
    print(f"contacts alone     {contacts_floor_seconds:.2f} s  (the floor without identity rows, as before they "
          f"existed): the import is {import_seconds / contacts_floor_seconds:.1f}x this")
    print(f"index-free copy    {bare_seconds:.2f} s  (the same rows into a table without indexes or keys): "
          f"the floor is {floor_seconds / bare_seconds:.1f}x this, the import {import_seconds / bare_seconds:.1f}x")
    again = result["again"]
    print(f"re-import          {result['reimport']:.2f} s  created {again[0]}  updated {again[1]}  "
          f"unchanged {again[2]:,}")
    print(f"peak memory        {result['peak_mb']:.0f} MB (peak resident memory of the importing process; target < 300 MB)")


if __name__ == "__main__":
    main()
