"""The reads of :mod:`.inputs` that attribution makes in SQL on PostgreSQL, for speed.

PostgreSQL finds the order windows itself (a hash join of orders and touchpoints, or an index probe
per order: a tenth of the touchpoints fall in some order's window, so Python never sees the rest) and
gives times as integer microseconds (exact ``EXTRACT(EPOCH ...)`` on numeric): no datetime object is
built per row, here or when the credits are written back.

:func:`read_facts` is the twin of :func:`api.attribution.services.inputs.read_facts`, with the same
signature and the same rows; ``tests/attribution/test_full_recompute.py``
(``test_the_sql_reading_gives_the_facts_of_the_portable_reading``) proves them equal. The SQL names
the tables and columns of other apps listed in each function's docstring.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from django.db import connection

from api.attribution import engine
from api.attribution.services.facts import (
    EXCLUDED_STATUSES,
    STATED_KIND,
    TOUCH_KIND_CHANNEL,
    Facts,
    engine_settings,
)
from api.attribution.services.inputs import stated_sources
from api.campaigns.models import Campaign, Touchpoint
from api.contacts.models import Contact
from api.orders.models import Order, OrderLine, Refund

# :func:`.facts.touch_channel` in SQL, for touchpoint ``t`` and its campaign ``tc`` (the same table of kinds).
_TOUCH_CHANNEL = ("COALESCE(NULLIF(tc.channel, ''), CASE t.kind "
                  + " ".join(f"WHEN '{kind}' THEN '{channel}'" for kind, channel in TOUCH_KIND_CHANNEL.items())
                  + f" END, NULLIF(t.channel, ''), '{engine.UNKNOWN_CHANNEL}') AS channel")


def counted_where(contact_ids: Sequence[int] | None, contact_range: tuple[int, int] | None = None
                  ) -> tuple[str, list[Any]]:
    """The SQL condition on orders ``o`` of :func:`.inputs.counted_orders` (not cancelled, not samples),
    for ``contact_ids`` or the contacts ``lo <= id <= hi`` of ``contact_range`` when given.
    Columns: ``orders_order`` is_sample, status, contact_id."""
    where = "NOT o.is_sample AND o.status <> ALL(%s)"
    params: list[Any] = [list(EXCLUDED_STATUSES)]
    if contact_range is not None:
        where += " AND o.contact_id >= %s AND o.contact_id <= %s"
        params.extend(contact_range)
    if contact_ids is not None:
        where += " AND o.contact_id = ANY(%s)"
        params.append(list(contact_ids))
    return where, params


def read_orders(cursor: Any, where: str, params: list[Any]) -> list[tuple]:
    """The orders of ``where`` as order tuples (see :mod:`.facts`), sorted by contact, time and id.

    Columns: ``orders_order`` id, contact_id, created_at, total_xaf, delivery_fee_xaf, campaign_code,
    coupon_code, self_reported_source; ``contacts_contact`` id, self_reported_source; ``orders_orderline``
    order_id, unit_cost_xaf, quantity.
    """
    # The lines are joined, not summed per order in SQL: an aggregate (a lookup per order or a GROUP BY)
    # costs PostgreSQL a third more than the whole plain join, and an order with several lines, whose rows
    # come one after the other, is summed below.
    cursor.execute(
        f"SELECT o.id, o.contact_id, (EXTRACT(EPOCH FROM o.created_at) * 1000000)::bigint, "
        f"o.total_xaf, o.delivery_fee_xaf, o.campaign_code, o.coupon_code, o.self_reported_source, "
        f"c.self_reported_source, COALESCE(l.unit_cost_xaf::bigint * l.quantity, 0) "
        f"FROM {Order._meta.db_table} o JOIN {Contact._meta.db_table} c ON c.id = o.contact_id "
        f"LEFT JOIN {OrderLine._meta.db_table} l ON l.order_id = o.id "
        f"WHERE {where} ORDER BY o.contact_id, o.created_at, o.id", params)
    orders: list[tuple] = []
    previous = None
    for row in cursor.fetchall():
        if row[0] == previous:
            orders[-1] = (*orders[-1][:9], orders[-1][9] + row[9])
        else:
            orders.append(row)
            previous = row[0]
    return orders


def read_windows(cursor: Any, where: str, params: list[Any], *, probe: bool) -> dict[int, list[tuple]]:
    """The tracked touches in the window of each order of ``where``: ``{order_id: [engine.FastTouch, ...]}``
    oldest first (ties by id).

    The window rule of the engine, ``placed - lookback <= occurred <= placed``, is the join condition.
    ``probe``: look each order's window up in the touchpoint (contact, time) index, which costs in
    proportion to the orders asked for; else one hash join over every touchpoint, the fastest for many.
    Columns: ``orders_order`` id, contact_id, created_at; ``campaigns_touchpoint`` id, contact_id,
    occurred_at, kind, channel, campaign_id; ``campaigns_campaign`` id, channel.
    """
    lookback = engine_settings().lookback.total_seconds()
    at = "(EXTRACT(EPOCH FROM t.occurred_at) * 1000000)::bigint AS at"
    window = ("t.contact_id = o.contact_id AND t.occurred_at <= o.created_at "
              f"AND t.occurred_at >= o.created_at - make_interval(secs => %s) AND t.kind <> '{STATED_KIND}'")
    orders, touchpoints = Order._meta.db_table, Touchpoint._meta.db_table
    campaigns = f"LEFT JOIN {Campaign._meta.db_table} tc ON tc.id = t.campaign_id"
    if probe:
        # OFFSET 0 keeps the subquery a subquery: flattened, the planner would hash every touchpoint again.
        # The campaigns are joined to the touches found (a cached lookup per campaign), and the orders are
        # walked in contact order (their index by contact, not a scan of every order by id).
        cursor.execute(f"SELECT o.id, t.at, t.id, {_TOUCH_CHANNEL}, t.campaign_id FROM {orders} o "
                       f"CROSS JOIN LATERAL (SELECT {at}, t.id, t.kind, t.channel, t.campaign_id FROM {touchpoints} t "
                       f"WHERE {window} OFFSET 0) t "
                       f"{campaigns} WHERE {where} ORDER BY o.contact_id, o.id, t.at, t.id", [lookback, *params])
    else:
        cursor.execute(f"SELECT o.id, {at}, t.id, {_TOUCH_CHANNEL}, t.campaign_id FROM {orders} o "
                       f"JOIN {touchpoints} t ON {window} {campaigns} "
                       f"WHERE {where} ORDER BY o.id, at, t.id", [lookback, *params])
    windows: dict[int, list[tuple]] = {}
    for row in cursor.fetchall():
        found = windows.get(row[0])
        if found is None:
            windows[row[0]] = [row[1:]]
        else:
            found.append(row[1:])
    return windows


def read_refunds(cursor: Any, where: str, params: list[Any]) -> dict[int, list[tuple]]:
    """The refunds of the orders of ``where``: ``{order_id: [(refunded_us, refund_id, amount_xaf,
    delivery_fee_kept), ...]}``. Columns: ``orders_refund`` order_id, created_at, id, amount_xaf,
    delivery_fee_kept; ``orders_order.id``."""
    cursor.execute(
        f"SELECT r.order_id, (EXTRACT(EPOCH FROM r.created_at) * 1000000)::bigint, r.id, r.amount_xaf, "
        f"r.delivery_fee_kept FROM {Refund._meta.db_table} r "
        f"JOIN {Order._meta.db_table} o ON o.id = r.order_id WHERE {where}", params)
    refunds: dict[int, list[tuple]] = defaultdict(list)
    for row in cursor.fetchall():
        refunds[row[0]].append(row[1:])
    return refunds


def read_facts(contact_ids: Sequence[int] | None) -> Facts:
    """Every counted order (of ``contact_ids``, or all) and its window of touches, in four queries.

    Callers hold a transaction (the ``SET LOCAL`` ends with it).
    """
    where, params = counted_where(contact_ids)
    with connection.cursor() as cursor:
        # Compiling these queries (JIT) costs tens of milliseconds and saves nothing.
        cursor.execute("SET LOCAL jit = off")
        orders = read_orders(cursor, where, params)
        windows = read_windows(cursor, where, params, probe=contact_ids is not None)
        refunds = read_refunds(cursor, where, params)
    return Facts(orders, windows, refunds, stated_sources(contact_ids))


def order_contact_span(cursor: Any) -> tuple[int, int, int]:
    """``(lowest contact id, highest contact id, number of orders)`` over every order (``(0, 0, 0)``
    without any), to size the slices of a full run. Columns: ``orders_order.contact_id``."""
    cursor.execute(f"SELECT min(contact_id), max(contact_id), count(*) FROM {Order._meta.db_table}")
    low, high, count = cursor.fetchone()
    return low or 0, high or 0, count
