"""A full recompute on PostgreSQL: every credit rewritten in one transaction that replaces the table.

The twin of :func:`.batches.credits_replace_all` (same signature, same rows: several times faster);
``tests/attribution/test_full_recompute.py`` compares them, and shows that a run failing before the
swap leaves the old credits and that the sliced reading gives the rows of one read.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Iterable
from typing import Any

from django.db import connection, transaction
from psycopg.copy import QueuedLibpqWriter

from api.attribution.models import AttributionCredit, AttributionRun
from api.attribution.services import inputs_pg, slices_pg, table_swap_pg
from api.attribution.services.credits import COPY_COLUMNS, order_inputs_from, typed_codes
from api.attribution.services.credits_pg import credit_copy_from

logger = logging.getLogger(__name__)


def credits_replace_all(*, run: AttributionRun) -> tuple[int, int, int]:
    """Rewrite every credit in one transaction. Returns (contacts, orders, credits).

    The new credits are streamed with COPY into a fresh table without indexes, which then gets the live
    table's indexes and constraints (built once, in bulk: maintaining them row by row costs several times
    more) and takes its place. A killed run rolls back whole, leaving the old credits; readers keep
    reading the old table until the swap, and the ``EXCLUSIVE`` lock keeps any other writer out. A
    psycopg thread sends the COPY data while this one computes the next rows, so that PostgreSQL parses
    and stores them on the other core.
    """
    table = AttributionCredit._meta.db_table
    fresh = f"{table}_next"
    counts = [0, 0]
    started = time.perf_counter()
    outermost = not connection.in_atomic_block
    with transaction.atomic(), connection.cursor() as cursor:
        _prepare(cursor, table, run)
        reader: slices_pg.SliceReader | None = None
        if outermost:
            # Read in slices of contacts on two more connections, on this transaction's snapshot, while this
            # thread computes and writes the slice before. (Nested in a caller's transaction, another
            # connection could not see its uncommitted rows: read everything here first.)
            cursor.execute("SELECT pg_export_snapshot()")
            reader = slices_pg.SliceReader(cursor.fetchone()[0])
            parts: Iterable[tuple] = reader
        else:
            facts = inputs_pg.read_facts(None)
            parts = [(facts, typed_codes(facts.orders))]
        try:
            contacts = _copy_into_fresh(cursor, table, fresh, parts, run.pk, counts)
        finally:
            if reader is not None:
                reader.close()
        written = time.perf_counter()
        table_swap_pg.swap_tables(cursor, table, fresh)
    logger.info("full attribution run %s: read, computed and copied %.2f s, indexed and swapped %.2f s",
                run.pk, written - started, time.perf_counter() - written)
    return contacts, counts[0], counts[1]


def _prepare(cursor: Any, table: str, run: AttributionRun) -> None:
    """Lock the credits table and the run's row, and set this transaction's switches."""
    cursor.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")
    # The run's row cannot be deleted before the commit: the new credits refer to it, and their foreign
    # key is added without checking them (see table_swap_pg.swap_tables).
    cursor.execute(f"SELECT 1 FROM {AttributionRun._meta.db_table} WHERE id = %s FOR KEY SHARE", [run.pk])
    # The reads sort ~100k rows and the index builds sort the new credits: in memory, not on disk.
    cursor.execute("SET LOCAL work_mem = '64MB'")
    cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
    # The commit need not wait for this transaction's few hundred MB of WAL to reach the disk: the run
    # is only marked succeeded by a later, synchronous commit, which flushes it first. A crash before
    # that loses the new credits whole (old ones stay) and the run is redone. (Nested in a caller's
    # transaction, the run row commits with the credits: both or neither.)
    cursor.execute("SET LOCAL synchronous_commit = off")


def _copy_into_fresh(cursor: Any, table: str, fresh: str, parts: Iterable[tuple], run_id: int,
                     counts: list[int]) -> int:
    """Create ``fresh`` like ``table`` and COPY into it the credits of ``parts`` (``(facts, typed codes)``
    per slice). Returns the number of contacts; ``counts`` receives ``[orders, rows]``."""
    cursor.execute(f"DROP TABLE IF EXISTS {fresh}")
    cursor.execute(f"CREATE TABLE {fresh} (LIKE {table} INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING CONSTRAINTS)")
    # The identity numbers the rows from 1 (a new sequence). Drawing 10,000 values at a time, this
    # backend numbers them in memory: the COPY costs PostgreSQL 5 % more than rows sent with their
    # ids (40 % more with a draw per row), and nothing is packed per row here.
    cursor.execute(f"ALTER TABLE {fresh} ALTER COLUMN id SET CACHE 10000")
    contacts = [0]
    inputs = itertools.chain.from_iterable(order_inputs_from(facts, by_code, contacts) for facts, by_code in parts)
    chunks = credit_copy_from(inputs, run_id, counts, 2000)
    raw = cursor.cursor  # the psycopg cursor under Django's wrapper
    # FREEZE: the table is new in this transaction, so its rows can be written already frozen (no
    # later vacuum pass to set their hint bits).
    with raw.copy(f"COPY {fresh} ({', '.join(COPY_COLUMNS)}) FROM STDIN (FORMAT binary, FREEZE)",
                  writer=QueuedLibpqWriter(raw)) as copy:
        for chunk in chunks:
            copy.write(chunk)
    # The next credit (an incremental run, from any connection) is numbered right after these.
    cursor.execute(f"ALTER TABLE {fresh} ALTER COLUMN id SET CACHE 1 RESTART WITH {counts[1] + 1}")
    return contacts[0]
