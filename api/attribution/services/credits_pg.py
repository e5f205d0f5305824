"""Writing credits on PostgreSQL: rows encoded as binary COPY data, advisory locks per contact.

The twin of :mod:`.credits` (same signatures: :func:`credit_rows`, :func:`credits_insert`,
:func:`lock_contacts`, :func:`before_delete`); ``tests/attribution/test_full_recompute.py`` runs the
batches and the full run on PostgreSQL and compares their credits with the per-contact rows.

PostgreSQL's binary COPY format: a signature and header, then per row a field count and each field as
its length and big-endian value (-1 for NULL), then a trailer. PostgreSQL parses it about a third
faster than text (no number or timestamp parsing), and times go as integers: no datetime is built or
formatted. Rows are encoded with precompiled structs rather than adapted value by value by psycopg
(several times faster), and what an order's rows share is encoded once.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence

from django.db import connection

from api.attribution import engine
from api.attribution.models import AttributionCredit
from api.attribution.services import inputs_pg
from api.attribution.services.credits import COPY_COLUMNS, CreditRows, order_inputs
from api.attribution.services.facts import Facts, engine_settings

_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_COPY_TRAILER = struct.pack(">h", -1)
_PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01 UTC, PostgreSQL's timestamp origin, in Unix microseconds
_BIN_NULL = struct.pack(">i", -1)
_BIN_INT8 = struct.Struct(">iq")
_BIN_AMOUNTS = struct.Struct(">iqiqidii")  # revenue, margin, weight, touches
_BIN_IDS = struct.Struct(">iqiqi?")  # order, contact, is_first_order
# A sale row's end: is_refund false, no refund id, the order time, order, contact, is_first_order (run id after).
_BIN_SALE_TAIL = struct.Struct(">i?iiqiqiqi?")
_BIN_REFUND = struct.pack(">i?", 1, True)
_BIN_MODELS = {m: struct.pack(">hi", len(COPY_COLUMNS), len(m)) + m.encode() for m in engine.MODELS}

_LOCK_NAMESPACE = 7301  # first key of the advisory locks of attribution (the second is a contact id)


def credit_rows(*, contact_ids: Sequence[int], run_id: int | None) -> CreditRows:
    """The credit rows of ``contact_ids`` as chunks of binary COPY data, read in SQL (:mod:`.inputs_pg`)."""
    counts = [0, 0]
    rows = list(credit_copy(inputs_pg.read_facts(contact_ids), run_id, counts))
    return CreditRows(rows, counts[0], counts[1])


def credit_copy(facts: Facts, run_id: int | None, counts: list[int], chunk_orders: int = 2000) -> Iterator[bytes]:
    """The credit rows of ``facts`` as binary COPY data (``COPY_COLUMNS``), in chunks of ``chunk_orders`` orders.

    ``counts`` receives ``[orders, rows]`` when the last chunk has been taken.
    """
    return credit_copy_from(order_inputs(facts), run_id, counts, chunk_orders)


def credit_copy_from(inputs: Iterator[tuple], run_id: int | None, counts: list[int], chunk_orders: int
                     ) -> Iterator[bytes]:
    """:func:`credit_copy` from order inputs (:func:`.credits.order_inputs`), possibly of several slices of facts."""
    half_life_s = engine_settings().half_life.total_seconds()
    attribute = engine.attribute_window
    int8, amounts = _BIN_INT8.pack, _BIN_AMOUNTS.pack
    run = _BIN_NULL if run_id is None else int8(8, run_id)
    tail = struct.Struct(_BIN_SALE_TAIL.format + ("i" if run_id is None else "iq"))  # with the run id (or NULL)
    run_values = (-1,) if run_id is None else (8, run_id)
    channels: dict[str, bytes] = {}
    campaigns: dict[int | None, bytes] = {None: _BIN_NULL}
    prefix_lists: dict[tuple[str, ...], list[bytes]] = {}
    out: list[bytes] = [_COPY_HEADER]
    orders = rows = 0
    for (order_id, contact_id, placed_us, first, revenue, margin, stated, window, refunds) in inputs:
        sale_tail = tail.pack(1, False, -1, 8, placed_us - _PG_EPOCH_US, 8, order_id, 8, contact_id, 1, first,
                              *run_values)
        for models, sales, back in attribute(revenue, margin, stated, window, refunds, half_life_s=half_life_s):
            bodies = []
            for campaign_id, channel, rev, mar, touches, weight in sales:
                camp = campaigns.get(campaign_id)
                if camp is None:
                    camp = campaigns[campaign_id] = int8(8, campaign_id)
                chan = channels.get(channel)
                if chan is None:
                    chan = channels[channel] = _bin_text(channel[:50])
                bodies.append(camp + chan + amounts(8, rev, 8, mar, 8, weight, 4, touches) + sale_tail)
            if back:
                ids = _BIN_IDS.pack(8, order_id, 8, contact_id, 1, first) + run
                for refund, campaign_id, channel, rev, mar, touches in back:
                    camp = _BIN_NULL if campaign_id is None else int8(8, campaign_id)
                    bodies.append(camp + _bin_text(channel[:50]) + amounts(8, rev, 8, mar, 8, 0.0, 4, touches)
                                  + _BIN_REFUND + int8(8, refund[1]) + int8(8, refund[0] - _PG_EPOCH_US) + ids)
            prefixes = prefix_lists.get(models)
            if prefixes is None:
                prefixes = prefix_lists[models] = [_BIN_MODELS[m] for m in models]
            if len(bodies) == 1:
                # One row for several models: "<m1><row><m2><row>...": a single join.
                out.append(bodies[0].join(prefixes))
                out.append(bodies[0])
            else:
                for prefix in prefixes:
                    for body in bodies:
                        out.append(prefix)
                        out.append(body)
            rows += len(bodies) * len(models)
        orders += 1
        if orders % chunk_orders == 0:
            yield b"".join(out)
            out.clear()
    out.append(_COPY_TRAILER)
    yield b"".join(out)
    counts[:] = [orders, rows]


def _bin_text(text: str) -> bytes:
    encoded = text.encode()
    return struct.pack(">i", len(encoded)) + encoded


def credits_insert(rows: Sequence[bytes] | Sequence[tuple]) -> None:
    """Stream chunks of binary COPY data (:func:`credit_copy`) into the credits table."""
    if not rows:
        return
    with connection.cursor() as cursor:
        raw = cursor.cursor  # the psycopg cursor under Django's wrapper
        with raw.copy(f"COPY {AttributionCredit._meta.db_table} ({', '.join(COPY_COLUMNS)}) FROM STDIN "
                      f"(FORMAT binary)") as copy:
            for chunk in rows:
                copy.write(chunk)


def lock_contacts(contact_ids: Sequence[int]) -> None:
    """Serialise runs on the same contacts until the transaction ends.

    Transaction-level advisory locks, in id order (no deadlock), held in memory: locking the order rows
    instead would write every locked tuple.
    """
    if not contact_ids:
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, k::int) FROM unnest(%s::bigint[]) AS k ORDER BY k",
                       [_LOCK_NAMESPACE, sorted(contact_ids)])


def before_delete() -> None:
    """Make the deletes of old credits in this transaction use the order index.

    During a first full run the table grows from empty: with stale statistics the planner would scan
    it whole for every batch. The deletes always have the order index to use.
    """
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
