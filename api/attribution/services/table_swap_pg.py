"""Putting a freshly written credits table in the place of the live one, on PostgreSQL.

Used by :func:`.recompute_pg.credits_replace_all`; ``tests/attribution/test_full_recompute.py`` checks
that the table keeps its indexes and constraints under the same names and that a run failing before
the swap leaves the old table.
"""

from __future__ import annotations

from typing import Any


def swap_tables(cursor: Any, table: str, fresh: str) -> None:
    """Give ``fresh`` the indexes and constraints of ``table`` (read from the catalog, so whatever a
    migration adds is kept, under the same names), then drop ``table`` and rename ``fresh`` to it.

    Assumes the caller's transaction holds ``table`` locked and wrote ``fresh``.
    """
    renames = _copy_indexes(cursor, table, fresh)
    _copy_foreign_keys(cursor, table, fresh)
    cursor.execute(f"DROP TABLE {table}")
    cursor.execute(f"ALTER TABLE {fresh} RENAME TO {table}")
    for statement in renames:
        cursor.execute(statement)
    cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
    sequence = cursor.fetchone()[0]
    if sequence and sequence.split(".")[-1] != f"{table}_id_seq":
        cursor.execute(f"ALTER SEQUENCE {sequence} RENAME TO {table}_id_seq")


def _copy_indexes(cursor: Any, table: str, fresh: str) -> list[str]:
    """Build ``table``'s indexes (and primary key and unique constraints) on ``fresh`` under temporary
    names. Returns the statements that give them their final names once ``table`` is gone."""
    cursor.execute(
        "SELECT i.relname, pg_get_indexdef(x.indexrelid), x.indisunique, c.conname, c.contype "
        "FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
        "LEFT JOIN pg_constraint c ON c.conindid = x.indexrelid AND c.conrelid = x.indrelid "
        "WHERE x.indrelid = %s::regclass ORDER BY x.indisprimary DESC, i.relname", [table])
    renames = []
    for n, (name, definition, unique, constraint, kind) in enumerate(cursor.fetchall()):
        temporary = f"{fresh[:40]}_{n}"  # index names are unique per schema: the old ones still exist
        method = definition.split(" USING ", 1)[1]
        cursor.execute(f"CREATE {'UNIQUE ' if unique else ''}INDEX {temporary} ON {fresh} USING {method}")
        if constraint and kind in ("p", "u"):
            cursor.execute(f"ALTER TABLE {fresh} ADD CONSTRAINT {temporary} "
                           f"{'PRIMARY KEY' if kind == 'p' else 'UNIQUE'} USING INDEX {temporary}")
            renames.append(f"ALTER TABLE {table} RENAME CONSTRAINT {temporary} TO {constraint}")
        else:
            renames.append(f"ALTER INDEX {temporary} RENAME TO {name}")
    return renames


def _copy_foreign_keys(cursor: Any, table: str, fresh: str) -> None:
    """Add ``table``'s foreign keys to ``fresh`` under their final names."""
    cursor.execute("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                   "WHERE conrelid = %s::regclass AND contype = 'f' ORDER BY conname", [table])
    for name, definition in cursor.fetchall():
        # Constraint names are unique per table: the final name can be used at once. The run_id key is
        # added NOT VALID: validating it is one anti-join over all the new rows (~85 ms) that cannot fail.
        # Every row of the fresh table was written by this transaction with the id of this run, whose row
        # exists and is locked FOR KEY SHARE by :func:`.recompute_pg.credits_replace_all` until the commit
        # (so no one can delete it meanwhile). NOT VALID only skips the check of the rows already there:
        # later writes are checked, and a VALIDATE CONSTRAINT would pass. Any other key is validated.
        trusted = definition.startswith("FOREIGN KEY (run_id)") and not definition.endswith("NOT VALID")
        cursor.execute(f"ALTER TABLE {fresh} ADD CONSTRAINT {name} {definition}{' NOT VALID' if trusted else ''}")
