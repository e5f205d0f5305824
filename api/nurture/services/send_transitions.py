"""The state transitions every message the dispatcher sends makes, as plain SQL on nurture's own table.

``start_sending`` moves a batch ``scheduled -> sending`` in one durable statement before any provider
call, carrying the ``sent`` records kept since the batch before (``SentRecords``); ``record_sent`` writes
those alone (before a sleep, at the end of a run); ``unstart`` puts rows started but never handed to the
provider back. Guarded by state and claim token like every transition of ``dispatch``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import connection
from django.utils import timezone

from api.contacts.enums import Channel
from api.nurture.models import OutboundMessage

State = OutboundMessage.State

# The two transitions every sent message makes, as plain SQL on the app's own table: through the ORM
# each cost 0.3-1 ms of CPU to build, more than the statement itself (bench/dispatch.py, 2026-12-03).
# Portable SQL (Django turns %s into SQLite's ?); timestamps go through ``_db_time``.
_TABLE = OutboundMessage._meta.db_table
# ``{ids}`` is the batch's rows: ``id = ANY(%s)`` on PostgreSQL (one array parameter, so that the
# statement's text is the same for any batch and psycopg converts it once), ``id IN (%s, ...)`` elsewhere.
# ``scheduled -> sending`` of a batch, answering which rows it moved (a row cancelled since its claim
# is not among them).
_START_SQL = (f"UPDATE {_TABLE} SET state = %s, claimed_at = %s, attempts = attempts + 1, updated_at = %s "
              "WHERE {ids} AND state = %s AND claim_token = %s RETURNING id")
# A row started but not called (the provider answered 429 to the one before it, the run was
# interrupted, its checks grew stale) is put back as if never started: nobody may have received it.
# Back to the pool due at a time, or (``_KEEP``) back in this run's hand, claim kept.
_UNSTART_SQL = (f"UPDATE {_TABLE} SET state = %s, attempts = attempts - 1, claim_token = '', "
                "claimed_until = NULL, due_at = %s, updated_at = %s WHERE {ids} AND state = %s AND claim_token = %s")
_UNSTART_KEEP_SQL = (f"UPDATE {_TABLE} SET state = %s, attempts = attempts - 1, updated_at = %s "
                     "WHERE {ids} AND state = %s AND claim_token = %s")
# ``sending -> sent``: on PostgreSQL the batch's records in one statement (arrays of ids, provider ids
# and times), elsewhere one statement a row.
_SENT_MANY_SQL = (f"UPDATE {_TABLE} AS m SET state = %s, provider_message_id = v.provider_id, sent_at = v.at, "
                  "claim_token = '', claimed_until = NULL, reason = '', updated_at = v.at "
                  "FROM unnest(%s::bigint[], %s::text[], %s::timestamptz[]) AS v(id, provider_id, at) "
                  "WHERE m.id = v.id AND m.state = %s")
_SENT_SQL = (f"UPDATE {_TABLE} SET state = %s, provider_message_id = %s, sent_at = %s, claim_token = '', "
             "claimed_until = NULL, reason = '', updated_at = %s WHERE id = %s AND state = %s")
# A lone ``sending -> sent`` need not wait for the disk (PostgreSQL ``synchronous_commit = off`` for
# that transaction alone): if the database crashed and lost it, the row would stay ``sending`` and end
# as ``unknown_outcome`` (never resent). ``scheduled -> sending`` stays durable: losing it could let a
# delivered message be sent again.
_RELAXED_PREFIX = "SET LOCAL synchronous_commit TO OFF; "
# A kept ``sent`` record waits through the limiter's pacing (a few ms between messages at full rate),
# but is written before a longer wait, such as the pause after a 429.
_SENT_KEPT_THROUGH_WAIT_SECONDS = 0.5


def _db_time(value: datetime) -> Any:
    return connection.ops.adapt_datetimefield_value(value)


def _several_statements() -> bool:
    """Whether one round trip may carry several statements (PostgreSQL with client-side binding, Django's
    default with psycopg 3); they then run as one implicit transaction."""
    return connection.vendor == "postgresql" and not connection.settings_dict["OPTIONS"].get("server_side_binding")


def _execute(statements: list[tuple[str, list[Any]]], *, returning: bool = False) -> Any:
    """Run statements of this module in one round trip when the database allows it, else one by one;
    returns how many rows the last one changed, or with ``returning`` the first column of its rows."""
    with connection.cursor() as cursor:
        if len(statements) > 1 and _several_statements():
            cursor.execute("; ".join(sql for sql, _ in statements), [p for _, params in statements for p in params])
            for _ in statements[1:]:
                cursor.nextset()
        else:
            for sql, params in statements:
                cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()] if returning else cursor.rowcount


def _batch_sql(sql: str, ids: list[int]) -> tuple[str, list[Any]]:
    """``sql`` with its ``{ids}`` clause for these rows, and that clause's parameters."""
    if connection.vendor == "postgresql":
        return sql.format(ids="id = ANY(%s)"), [ids]
    return sql.format(ids=f"id IN ({', '.join(['%s'] * len(ids))})"), list(ids)


class SentRecords:
    """The ``sending -> sent`` writes of the messages last sent, kept to go with the next statement.

    The next batch's ``scheduled -> sending`` carries them in the same round trip (one durable
    transaction on PostgreSQL), so a batch of sent messages costs one round trip; when the worker is
    about to sleep instead (see ``due_before_sleeping``) and at the end of a run they are written alone
    (``record_sent``). Until then the rows say ``sending``: a worker killed in between leaves them to
    end as ``unknown_outcome``, never resent, as one killed during the call.
    """

    def __init__(self) -> None:
        self.pending: list[tuple[int, str, Any]] = []  # (row, provider's id, sent at)
        self.statuses_expected = False  # a WhatsApp or Messenger record is kept (see due_before_sleeping)

    def add(self, message: OutboundMessage, provider_id: str) -> datetime:
        sent_at = timezone.now()
        self.pending.append((message.pk, provider_id[:100], _db_time(sent_at)))
        self.statuses_expected = self.statuses_expected or message.channel != Channel.TELEGRAM
        return sent_at

    def take(self) -> list[tuple[str, list[Any]]]:
        """The statements that write the kept records (none when none is kept), and forget them."""
        pending, self.pending, self.statuses_expected = self.pending, [], False
        if not pending:
            return []
        if connection.vendor == "postgresql":
            ids, provider_ids, times = (list(column) for column in zip(*pending, strict=True))
            return [(_SENT_MANY_SQL, [State.SENT.value, ids, provider_ids, times, State.SENDING.value])]
        return [(_SENT_SQL, [State.SENT.value, provider_id, at, at, pk, State.SENDING.value])
                for pk, provider_id, at in pending]

    def due_before_sleeping(self, wait: float) -> bool:
        """Whether the kept records must be written before a sleep of ``wait`` seconds: before a long
        one, and before any when one is WhatsApp's or Messenger's, whose statuses look the message up by
        the provider's id (one that overtakes the record still finds it, see ``delivery``)."""
        return bool(self.pending) and (wait > _SENT_KEPT_THROUGH_WAIT_SECONDS or self.statuses_expected)


def record_sent(sent: SentRecords) -> None:
    """Write the kept ``sending -> sent`` now, without waiting for the disk where the database allows it."""
    statements = sent.take()
    if statements and _several_statements():
        statements = [(_RELAXED_PREFIX.rstrip("; "), []), *statements]
    if statements:
        _execute(statements)


def start_sending(ids: list[int], token: str, sent: SentRecords) -> set[int]:
    """``scheduled -> sending`` of a batch of rows (durable, before any provider call), with the kept
    sent records of the batch before; returns the rows that are still ours."""
    started = _db_time(timezone.now())
    sql, batch = _batch_sql(_START_SQL, ids)
    start = [State.SENDING.value, started, started, *batch, State.SCHEDULED.value, token]
    return set(_execute([*sent.take(), (sql, start)], returning=True))


def unstart(ids: list[int], token: str, *, due_at: datetime | None) -> int:
    """Put rows started but never handed to the provider back in the pool, due at ``due_at``; with
    ``due_at=None`` they stay claimed by ``token`` (back in its hand, to be checked again)."""
    now = _db_time(timezone.now())
    if due_at is None:
        sql, batch = _batch_sql(_UNSTART_KEEP_SQL, ids)
        params = [State.SCHEDULED.value, now, *batch, State.SENDING.value, token]
    else:
        sql, batch = _batch_sql(_UNSTART_SQL, ids)
        params = [State.SCHEDULED.value, _db_time(due_at), now, *batch, State.SENDING.value, token]
    return int(_execute([(sql, params)]))
