"""The reads of :mod:`.inputs` that attribution makes in SQL on PostgreSQL, for speed.

PostgreSQL finds the order windows itself (a hash join of orders and touchpoints, or an index probe
per order: a tenth of the touchpoints fall in some order's window, so Python never sees the rest) and
gives times as integer microseconds (exact ``EXTRACT(EPOCH ...)`` on numeric): no datetime object is
built per row, here or when the credits are written back.

:func:`read_facts` is the twin of :func:`api.attribution.services.inputs.read_facts`, with the same
signature and the same rows; ``tests/attribution/test_full_recompute.py``
(``test_the_sql_reading_gives_the_facts_of_the_portable_reading``) proves them equal. The SQL names
no table or column of another app: it composes the relations those apps publish, the sales and
their refunds (``api.orders.facts.sold_orders_pg``, ``refunds_of_sold_orders_pg``), the contacts
(``api.contacts.selectors.contact_facts_sql``) and the window of touches before each order
(``api.campaigns.touches.pg_touch_window``), each used through its documented columns.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection

from api.attribution.services.facts import Facts, engine_settings
from api.attribution.services.inputs import stated_sources
from api.campaigns import touches
from api.contacts import selectors as contacts
from api.orders import facts as orders


@dataclass(frozen=True)
class Sales:
    """Which counted orders (the orders app's sales) to read: those of ``contact_ids``, or of the contacts
    ``lo <= id <= hi`` of ``contact_range``, or all (both None)."""

    contact_ids: Sequence[int] | None = None
    contact_range: tuple[int, int] | None = None

    def relation(self, *, with_lines: bool = False) -> tuple[str, list[Any]]:
        """The sales as the SQL of a relation and its parameters (``api.orders.facts.sold_orders_pg``)."""
        return orders.sold_orders_pg(contact_ids=self.contact_ids, contact_range=self.contact_range,
                                     with_lines=with_lines)

    def refunds(self) -> tuple[str, list[Any]]:
        """Their refunds as the SQL of a relation (``api.orders.facts.refunds_of_sold_orders_pg``)."""
        return orders.refunds_of_sold_orders_pg(contact_ids=self.contact_ids, contact_range=self.contact_range)


def counted_sales(contact_ids: Sequence[int] | None, contact_range: tuple[int, int] | None = None) -> Sales:
    """The counted orders (not cancelled, not samples) of ``contact_ids`` or of the contacts
    ``lo <= id <= hi`` of ``contact_range`` when given, for :func:`read_orders` and the others."""
    return Sales(None if contact_ids is None else list(contact_ids), contact_range)


def read_orders(cursor: Any, sales: Sales) -> list[tuple]:
    """The orders of ``sales`` as order tuples (see :mod:`.facts`), sorted by contact, time and id."""
    # The lines are joined, not summed per order in SQL: an aggregate (a lookup per order or a GROUP BY)
    # costs PostgreSQL a third more than the whole plain join, and an order with several lines, whose rows
    # come one after the other, is summed below.
    sql, params = sales.relation(with_lines=True)
    cursor.execute(
        f"SELECT o.order_id, o.contact_id, (EXTRACT(EPOCH FROM o.placed_at) * 1000000)::bigint, "
        f"o.total_xaf, o.delivery_fee_xaf, o.campaign_code, o.coupon_code, o.self_reported_source, "
        f"c.self_reported_source, o.line_cost_xaf "
        f"FROM ({sql}) o JOIN {contacts.contact_facts_sql()} c ON c.contact_id = o.contact_id "
        f"ORDER BY o.contact_id, o.placed_at, o.order_id", params)
    rows: list[tuple] = []
    previous = None
    for row in cursor.fetchall():
        if row[0] == previous:
            rows[-1] = (*rows[-1][:9], rows[-1][9] + row[9])
        else:
            rows.append(row)
            previous = row[0]
    return rows


def read_windows(cursor: Any, sales: Sales, *, probe: bool) -> dict[int, list[tuple]]:
    """The tracked touches in the window of each order of ``sales``: ``{order_id: [engine.FastTouch, ...]}``
    oldest first (ties by id).

    The window and the channel of a touch are campaigns' (``touches.pg_touch_window``), joined to the
    relation of sales. ``probe``: look each order's window up in the touchpoint (contact, time) index,
    which costs in proportion to the orders asked for; else one hash join over every touchpoint, the
    fastest for many.
    """
    sql, params = sales.relation()
    window = touches.pg_touch_window(contact="o.contact_id", placed="o.placed_at",
                                     lookback=engine_settings().lookback, probe=probe)
    # With ``probe`` the orders are walked in contact order (their index by contact, not a scan of every
    # order by id); the relation's WHERE comes before the join's placeholders in the text.
    order = "o.contact_id, o.order_id" if probe else "o.order_id"
    cursor.execute(f"SELECT o.order_id, {window.columns} FROM ({sql}) o {window.join} "
                   f"ORDER BY {order}, {window.order}", [*params, *window.params])
    windows: dict[int, list[tuple]] = {}
    for row in cursor.fetchall():
        found = windows.get(row[0])
        if found is None:
            windows[row[0]] = [row[1:]]
        else:
            found.append(row[1:])
    return windows


def read_refunds(cursor: Any, sales: Sales) -> dict[int, list[tuple]]:
    """The refunds of the orders of ``sales``: ``{order_id: [(refunded_us, refund_id, amount_xaf,
    delivery_fee_kept), ...]}``."""
    sql, params = sales.refunds()
    cursor.execute(
        f"SELECT r.order_id, (EXTRACT(EPOCH FROM r.refunded_at) * 1000000)::bigint, r.refund_id, r.amount_xaf, "
        f"r.delivery_fee_kept FROM ({sql}) r", params)
    refunds: dict[int, list[tuple]] = defaultdict(list)
    for row in cursor.fetchall():
        refunds[row[0]].append(row[1:])
    return refunds


def read_facts(contact_ids: Sequence[int] | None) -> Facts:
    """Every counted order (of ``contact_ids``, or all) and its window of touches, in four queries.

    Callers hold a transaction (the ``SET LOCAL`` ends with it).
    """
    sales = counted_sales(contact_ids)
    with connection.cursor() as cursor:
        # Compiling these queries (JIT) costs tens of milliseconds and saves nothing.
        cursor.execute("SET LOCAL jit = off")
        rows = read_orders(cursor, sales)
        windows = read_windows(cursor, sales, probe=contact_ids is not None)
        refunds = read_refunds(cursor, sales)
    return Facts(rows, windows, refunds, stated_sources(contact_ids))


def order_contact_span() -> tuple[int, int, int]:
    """``(lowest contact id, highest contact id, number of orders)`` over every order (``(0, 0, 0)``
    without any), to size the slices of a full run (on the connection of the calling thread)."""
    low, high, count = orders.orders_contact_span()
    return low or 0, high or 0, count
