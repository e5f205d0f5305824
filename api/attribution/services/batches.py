"""Rewriting the credits of a batch of contacts, in one transaction, on any database.

The unit of recomputation is a **contact**: all of a contact's counted orders are rewritten
together, because whether an order is the contact's first (a new customer) depends on the others.
Each batch of contacts is one transaction that locks the contacts, deletes their credits and writes
the new ones: a killed run leaves old or new credits, never half, and the same inputs always give the
same rows. The reading and writing go through :mod:`.credits` or, on PostgreSQL, its twin
:mod:`.credits_pg`.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection, transaction

from api.attribution import conf
from api.attribution.models import AttributionCredit, AttributionRun
from api.attribution.services import credits, credits_pg, inputs

_CHUNK = 5000  # ids per ``IN (...)`` list: well under SQLite's limit of bound parameters


def credits_recompute_contacts(*, contact_ids: Sequence[int], run: AttributionRun | None) -> tuple[int, int]:
    """Rewrite the credits of ``contact_ids`` in one transaction. Returns (orders, credits written)."""
    writer = credits_pg if connection.vendor == "postgresql" else credits
    with transaction.atomic():
        writer.lock_contacts(contact_ids)
        order_ids = inputs.order_ids_of(contact_ids)
        batch = writer.credit_rows(contact_ids=contact_ids, run_id=run.pk if run else None)
        writer.before_delete()
        _delete_old_credits(contact_ids, order_ids)
        writer.credits_insert(batch.rows)
    return batch.orders, batch.written


def _delete_old_credits(contact_ids: Sequence[int], order_ids: list[int]) -> None:
    """Delete the credits of ``order_ids`` (the orders of ``contact_ids``) and of the orders a merge moved
    away from ``contact_ids``.

    Deleted through the order index only (credits have no index by contact: building one cost every
    full run ~170 ms). An order moved to another contact must not keep its old rows under the merged
    one. A merge moves every order of the source to the survivor (``merged_into``, kept pointing at the
    final survivor), so those are among the survivor's orders, and only the rows still under a contact
    of this batch are deleted there (the survivor's own rows wait for its run). The rows of an order
    moved to another contact by hand are deleted when that contact is redone (its order changed, so it
    is dirty). Raw deletes (Django's ``_raw_delete``: one ``DELETE ... WHERE``, no collecting of rows
    first): credits have no dependants and no signals.
    """
    moved = inputs.orders_moved_away(contact_ids)
    for start in range(0, len(order_ids), _CHUNK):
        by_order = AttributionCredit.objects.filter(order_id__in=order_ids[start:start + _CHUNK])
        by_order._raw_delete(by_order.db)
    for start in range(0, len(moved), _CHUNK):
        moved_away = AttributionCredit.objects.filter(order_id__in=moved[start:start + _CHUNK],
                                                      contact_id__in=contact_ids)
        moved_away._raw_delete(moved_away.db)


def credits_recompute(*, contact_ids: Sequence[int], run: AttributionRun) -> tuple[int, int, int]:
    """Rewrite the credits of ``contact_ids`` in batches of ``BATCH_CONTACTS``, each committed on its own.
    Returns (contacts, orders, credits)."""
    orders = written = 0
    for start in range(0, len(contact_ids), conf.BATCH_CONTACTS):
        done_orders, done_credits = credits_recompute_contacts(
            contact_ids=contact_ids[start:start + conf.BATCH_CONTACTS], run=run)
        orders += done_orders
        written += done_credits
    return len(contact_ids), orders, written


def credits_replace_all(*, run: AttributionRun) -> tuple[int, int, int]:
    """A full recompute on any database: every contact with an order or a credit, in batches.
    Returns (contacts, orders, credits).

    The portable twin of :func:`.recompute_pg.credits_replace_all`; ``tests/attribution/
    test_full_recompute.py`` shows the batches give the rows of PostgreSQL's one-transaction run.
    """
    return credits_recompute(contact_ids=inputs.dirty_contacts(None), run=run)
