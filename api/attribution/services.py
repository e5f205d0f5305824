"""Writes of the attribution app: credit runs, RFM scores, lifecycle moves and referral rewards.

The unit of recomputation is a **contact**: all of a contact's counted orders are rewritten
together, because whether an order is the contact's first (a new customer) depends on the
others. Each batch of contacts is one transaction that locks the contacts (advisory locks on
PostgreSQL), deletes their credits and writes the new ones: a killed run leaves old or new
credits, never half, and the same inputs always give the same rows. A full recompute on
PostgreSQL is a single transaction instead, which writes every credit into a fresh table and puts
it in the place of the old one (:func:`_replace_all_credits`): the same rows, several times faster.

Which orders count: every order that is not cancelled and not a free sample, at the time it
was placed (``created_at``). Net revenue = ``total_xaf - delivery_fee_xaf`` (what the goods
sold for after discount; the delivery fee pays the delivery). Margin = net revenue - the unit
costs of its lines - (delivery cost - delivery fee), where the delivery cost is the fee unless
``ATTRIBUTION_DELIVERY_COST_XAF`` sets a flat cost. A refund takes back its amount (minus the
delivery fee when the fee was refunded too).

Tracked touches are the contact's touchpoints except stated sources (``self_reported_source``
kind, which feed the self-reported model instead); a coupon or campaign code typed on the
order counts as one more touch at the order time. A touch's channel is its campaign's channel
when it has a campaign, else the touchpoint's channel.
"""

from __future__ import annotations

import itertools
import logging
import queue
import re
import secrets
import struct
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import F, Q, Sum
from django.utils import timezone

from api.attribution import conf, engine
from api.attribution.enums import RewardKind, RunKind, RunState
from api.attribution.models import AttributionCredit, AttributionRun, ReferralReward, RfmScore
from api.common.errors import ConflictError

logger = logging.getLogger(__name__)

EXCLUDED_STATUSES = ("cancelled",)
_TOUCH_KIND_CHANNEL = {"tasting_visit": "tasting", "fair_visit": "fair", "referral": "referral"}


def _touch_channel(campaign_channel: str | None, kind: str, channel: str) -> str:
    """A touch's channel: its campaign's, else its kind's (tastings, fairs, referrals), else its own."""
    return campaign_channel or _TOUCH_KIND_CHANNEL.get(kind) or channel or engine.UNKNOWN_CHANNEL


# :func:`_touch_channel` in SQL, for touchpoint ``t`` and its campaign ``tc`` (the same table of kinds).
_PG_TOUCH_CHANNEL = ("COALESCE(NULLIF(tc.channel, ''), CASE t.kind "
                     + " ".join(f"WHEN '{kind}' THEN '{channel}'" for kind, channel in _TOUCH_KIND_CHANNEL.items())
                     + f" END, NULLIF(t.channel, ''), '{engine.UNKNOWN_CHANNEL}') AS channel")


def engine_settings() -> engine.Settings:
    return engine.Settings(lookback=timedelta(days=conf.LOOKBACK_DAYS),
                           half_life=timedelta(days=conf.TIME_DECAY_HALF_LIFE_DAYS))


def _lookback_us() -> int:
    """The lookback window in integer microseconds, the unit of the order and touch tuples."""
    return engine_settings().lookback // timedelta(microseconds=1)


def counted_orders():
    """Orders that attribution, LTV and RFM count (not cancelled, not samples)."""
    from api.orders.models import Order

    return Order.objects.exclude(status__in=EXCLUDED_STATUSES).filter(is_sample=False)


# --- loading facts --------------------------------------------------------------------------
#
# Facts are read as plain tuples, in two shapes shared by both databases:
#
# * an order: ``(order_id, contact_id, placed_us, total_xaf, delivery_fee_xaf, campaign_code, coupon_code,
#   self_reported_source, contact's self_reported_source, cost of its lines)``, sorted by contact, then time
#   and id. Times are integer microseconds since the epoch: exact, cheap to compare and to write back;
# * the tracked touches in each order's lookback window: ``{order_id: [(occurred_us, touch_id, channel,
#   campaign_id), ...]}`` (:data:`engine.FastTouch`, the channel already the touch's, see
#   :func:`_touch_channel`), oldest first (ties by id);
# * refunds: ``{order_id: [(refunded_us, refund_id, amount_xaf, delivery_fee_kept), ...]}``.
#
# PostgreSQL finds the windows itself (a hash join of orders and touchpoints: a tenth of the touchpoints
# fall in some order's window, so Python never sees the rest); SQLite reads the contacts' touches and
# filters them here. :func:`_order_inputs` then does the rest the same way for both.

@dataclass
class _Facts:
    orders: list[tuple]
    windows: dict[int, list[tuple]]
    refunds: dict[int, list[tuple]]
    stated: dict[int, str]  # contact -> source stated on a capture form (a ``self_reported_source`` touchpoint)


def _code_campaigns(codes: set[str]) -> dict[str, tuple[int, str]]:
    """``{CODE: (campaign_id, channel)}`` for campaign tracking codes and coupon codes."""
    from api.campaigns.models import Campaign, Coupon

    codes = {c.strip().upper() for c in codes if c and c.strip()}
    if not codes:
        return {}
    found = {code: (pk, channel) for code, pk, channel in
             Campaign.objects.filter(code__in=codes).values_list("code", "pk", "channel")}
    for code, pk, channel in Coupon.objects.filter(code__in=codes - set(found)).values_list(
            "code", "campaign_id", "campaign__channel"):
        found[code] = (pk, channel)
    return found


def _stated_sources(contact_ids: Sequence[int] | None, contact_range: tuple[int, int] | None = None
                    ) -> dict[int, str]:
    """A stated source recorded as a touchpoint (capture forms): the latest one that says something stands.

    For ``contact_ids``, or the contacts ``lo <= id <= hi`` of ``contact_range``, or everyone.
    """
    from api.campaigns.models import Touchpoint

    qs = Touchpoint.objects.filter(kind="self_reported_source")
    if contact_ids is not None:
        qs = qs.filter(contact_id__in=contact_ids)
    if contact_range is not None:
        qs = qs.filter(contact_id__gte=contact_range[0], contact_id__lte=contact_range[1])
    stated: dict[int, str] = {}
    for contact_id, details, campaign_channel, channel in (
            qs.order_by("occurred_at", "pk").values_list("contact_id", "details", "campaign__channel", "channel")):
        text = (details or {}).get("self_reported_source") or campaign_channel or channel
        stated[contact_id] = engine.normalize_source(str(text)) or stated.get(contact_id, "")
    return stated


def _pg_where(contact_ids: Sequence[int] | None, contact_range: tuple[int, int] | None = None
              ) -> tuple[str, list[Any]]:
    """The SQL condition on orders ``o`` of :func:`counted_orders` (not cancelled, not samples), for
    ``contact_ids`` or the contacts ``lo <= id <= hi`` of ``contact_range`` when given."""
    where = "NOT o.is_sample AND o.status <> ALL(%s)"
    params: list[Any] = [list(EXCLUDED_STATUSES)]
    if contact_range is not None:
        where += " AND o.contact_id >= %s AND o.contact_id <= %s"
        params.extend(contact_range)
    if contact_ids is not None:
        where += " AND o.contact_id = ANY(%s)"
        params.append(list(contact_ids))
    return where, params


def _pg_orders(cursor: Any, where: str, params: list[Any]) -> list[tuple]:
    """The orders of ``where`` as the order tuples of this module, sorted by contact, time and id."""
    from api.contacts.models import Contact
    from api.orders.models import Order, OrderLine

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


def _pg_windows(cursor: Any, where: str, params: list[Any], *, probe: bool) -> dict[int, list[tuple]]:
    """The tracked touches in the window of each order of ``where``: ``{order_id: [engine.FastTouch, ...]}``
    oldest first (ties by id).

    The window rule of the engine, ``placed - lookback <= occurred <= placed``, is the join condition.
    ``probe``: look each order's window up in the touchpoint (contact, time) index, which costs in
    proportion to the orders asked for; else one hash join over every touchpoint, the fastest for many.
    """
    from api.campaigns.models import Campaign, Touchpoint
    from api.orders.models import Order

    lookback = engine_settings().lookback.total_seconds()
    at = "(EXTRACT(EPOCH FROM t.occurred_at) * 1000000)::bigint AS at"
    window = ("t.contact_id = o.contact_id AND t.occurred_at <= o.created_at "
              "AND t.occurred_at >= o.created_at - make_interval(secs => %s) AND t.kind <> 'self_reported_source'")
    orders, touchpoints = Order._meta.db_table, Touchpoint._meta.db_table
    campaigns = f"LEFT JOIN {Campaign._meta.db_table} tc ON tc.id = t.campaign_id"
    if probe:
        # OFFSET 0 keeps the subquery a subquery: flattened, the planner would hash every touchpoint again.
        # The campaigns are joined to the touches found (a cached lookup per campaign), and the orders are
        # walked in contact order (their index by contact, not a scan of every order by id).
        cursor.execute(f"SELECT o.id, t.at, t.id, {_PG_TOUCH_CHANNEL}, t.campaign_id FROM {orders} o "
                       f"CROSS JOIN LATERAL (SELECT {at}, t.id, t.kind, t.channel, t.campaign_id FROM {touchpoints} t "
                       f"WHERE {window} OFFSET 0) t "
                       f"{campaigns} WHERE {where} ORDER BY o.contact_id, o.id, t.at, t.id", [lookback, *params])
    else:
        cursor.execute(f"SELECT o.id, {at}, t.id, {_PG_TOUCH_CHANNEL}, t.campaign_id FROM {orders} o "
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


def _pg_refunds(cursor: Any, where: str, params: list[Any]) -> dict[int, list[tuple]]:
    from api.orders.models import Order, Refund

    cursor.execute(
        f"SELECT r.order_id, (EXTRACT(EPOCH FROM r.created_at) * 1000000)::bigint, r.id, r.amount_xaf, "
        f"r.delivery_fee_kept FROM {Refund._meta.db_table} r "
        f"JOIN {Order._meta.db_table} o ON o.id = r.order_id WHERE {where}", params)
    refunds: dict[int, list[tuple]] = defaultdict(list)
    for row in cursor.fetchall():
        refunds[row[0]].append(row[1:])
    return refunds


def _pg_facts(contact_ids: Sequence[int] | None) -> _Facts:
    """Every counted order (of ``contact_ids``, or all) and its window of touches, in four queries.

    Times come as integer microseconds (exact ``EXTRACT(EPOCH ...)`` on numeric): no datetime object is
    built per row, here or when the credits are written back.
    """
    where, params = _pg_where(contact_ids)
    with connection.cursor() as cursor:
        # Compiling these queries (JIT) costs tens of milliseconds and saves nothing. (Callers hold a
        # transaction: the setting ends with it.)
        cursor.execute("SET LOCAL jit = off")
        orders = _pg_orders(cursor, where, params)
        windows = _pg_windows(cursor, where, params, probe=contact_ids is not None)
        refunds = _pg_refunds(cursor, where, params)
    return _Facts(orders, windows, refunds, _stated_sources(contact_ids))


def _orm_facts(contact_ids: Sequence[int]) -> _Facts:
    """:func:`_pg_facts` through the ORM, for any database: the windows are filtered here."""
    from api.campaigns.models import Touchpoint
    from api.orders.models import OrderLine, Refund

    to_us = engine.to_us
    fields = ("pk", "contact_id", "created_at", "total_xaf", "delivery_fee_xaf", "campaign_code", "coupon_code",
              "self_reported_source", "contact__self_reported_source")
    rows = list(counted_orders().filter(contact_id__in=contact_ids).order_by().values_list(*fields))
    order_ids = [r[0] for r in rows]
    costs: dict[int, int] = defaultdict(int)
    refunds: dict[int, list[tuple]] = defaultdict(list)
    for start in range(0, len(order_ids), 5000):
        chunk = order_ids[start:start + 5000]
        for order_id, cost in (OrderLine.objects.filter(order_id__in=chunk).values("order_id")
                               .annotate(cost=Sum(F("unit_cost_xaf") * F("quantity")))
                               .values_list("order_id", "cost").order_by()):
            costs[order_id] = int(cost or 0)
        for pk, order_id, amount, fee_kept, created_at in Refund.objects.filter(order_id__in=chunk).values_list(
                "pk", "order_id", "amount_xaf", "delivery_fee_kept", "created_at").order_by():
            refunds[order_id].append((to_us(created_at), pk, amount, fee_kept))
    orders = sorted(((pk, contact_id, to_us(created_at), total, fee, campaign_code, coupon_code, said,
                      contact_said, costs.get(pk, 0))
                     for pk, contact_id, created_at, total, fee, campaign_code, coupon_code, said, contact_said
                     in rows), key=lambda o: (o[1], o[2], o[0]))
    windows: dict[int, list[tuple]] = {}
    if orders:
        lookback = engine_settings().lookback
        earliest = min(r[2] for r in rows) - lookback
        latest = max(r[2] for r in rows)
        touches: dict[int, list[tuple]] = defaultdict(list)
        for pk, contact_id, campaign_id, campaign_channel, channel, kind, occurred_at in (
                Touchpoint.objects.filter(contact_id__in=contact_ids, occurred_at__gte=earliest,
                                          occurred_at__lte=latest).exclude(kind="self_reported_source")
                .values_list("pk", "contact_id", "campaign_id", "campaign__channel", "channel", "kind", "occurred_at")
                .order_by()):
            touches[contact_id].append((to_us(occurred_at), pk, _touch_channel(campaign_channel, kind, channel),
                                        campaign_id))
        lookback_us = _lookback_us()
        for contact_touches in touches.values():
            contact_touches.sort(key=lambda t: (t[0], t[1]))
        for order in orders:
            placed = order[2]
            window = [t for t in touches.get(order[1], ()) if placed - lookback_us <= t[0] <= placed]
            if window:
                windows[order[0]] = window
    return _Facts(orders, windows, refunds, _stated_sources(contact_ids))


def _order_inputs(facts: _Facts) -> Iterator[tuple]:
    """Per counted order, what the engine needs and what a credit row repeats.

    Yields ``(order_id, contact_id, placed_us, is_first_order, revenue, margin, stated, window, refunds)``
    where ``window`` holds :data:`engine.FastTouch` (oldest first, ties by id) and ``refunds``
    :data:`engine.FastRefund`.

    Net revenue = total - delivery fee; margin = revenue - line costs - (delivery cost - fee). A coupon or
    campaign code typed on an order is a touch at that order's time for every order of the contact whose
    window holds it (negative ids never collide with touchpoints).
    """
    # Looked up now, not when the generator starts: by then a COPY may hold the connection.
    return _order_inputs_from(facts, _typed_codes(facts.orders))


def _typed_codes(orders: list[tuple]) -> dict[str, tuple[int, str]]:
    """The campaigns of the coupon and campaign codes typed on ``orders``."""
    return _code_campaigns({o[5] for o in orders} | {o[6] for o in orders})


def _order_inputs_from(facts: _Facts, by_code: dict[str, tuple[int, str]], contacts: list[int] | None = None
                       ) -> Iterator[tuple]:
    """:func:`_order_inputs` with the campaigns of the codes typed on the orders already looked up; counts the
    contacts into ``contacts[0]`` when given."""
    orders = facts.orders
    lookback_us = _lookback_us()
    delivery_cost = conf.DELIVERY_COST_XAF
    normalize = engine.normalize_source
    windows_of, refunds_of, stated_of = facts.windows.get, facts.refunds.get, facts.stated.get
    no_touches: list[tuple] = []
    i, n = 0, len(orders)
    while i < n:
        contact_id = orders[i][1]
        j = i + 1
        while j < n and orders[j][1] == contact_id:
            j += 1
        contact_orders = orders[i:j]
        i = j
        if contacts is not None:
            contacts[0] += 1
        code_touches: list[tuple] = []
        if by_code:
            for order in contact_orders:
                for code in (order[6], order[5]):  # the coupon first, then the campaign code
                    hit = by_code.get((code or "").strip().upper())
                    if hit:
                        code_touches.append((order[2], -order[0], hit[1], hit[0]))
                        break
        first_id = contact_orders[0][0]
        stated_here = stated_of(contact_id, "")
        for (order_id, _, placed, total, fee, _, _, said, contact_said, cost) in contact_orders:
            revenue = total - fee if total > fee else 0
            # The delivery costs what was charged for it unless a flat cost is set.
            margin = revenue - cost if delivery_cost < 0 else revenue - cost - (delivery_cost - fee)
            stated = (said and normalize(said)) or (contact_said and normalize(contact_said)) or stated_here
            window = windows_of(order_id) or no_touches
            if code_touches:
                extra = [t for t in code_touches if placed - lookback_us <= t[0] <= placed]
                if extra:
                    window = sorted(window + extra, key=lambda t: (t[0], t[1]))
            refunds = refunds_of(order_id)
            fast_refunds = [(at, refund_id, amount if fee_kept else max(0, amount - fee), None)
                            for at, refund_id, amount, fee_kept in refunds] if refunds else no_touches
            yield (order_id, contact_id, placed, order_id == first_id, revenue, margin, stated, window,
                   fast_refunds)


# --- computing ---------------------------------------------------------------------------------


def _credits_for(contact_ids: Sequence[int], run: AttributionRun | None) -> list[tuple]:
    """Credit rows of ``contact_ids`` as tuples in ``_COPY_COLUMNS`` order (no model instances: fast)."""
    half_life_s = engine_settings().half_life.total_seconds()
    run_id = run.pk if run else None
    rows: list[tuple] = []
    for (order_id, contact_id, placed_us, first, revenue, margin, stated, window,
         refunds) in _order_inputs(_orm_facts(contact_ids)):
        placed_at = engine.EPOCH + timedelta(microseconds=placed_us)
        for models, sales, back in engine.attribute_window(revenue, margin, stated, window, refunds,
                                                           half_life_s=half_life_s):
            for model in models:
                for campaign_id, channel, rev, mar, touches, weight in sales:
                    rows.append((model, campaign_id, channel[:50], rev, mar, weight, touches, False, None, placed_at,
                                 order_id, contact_id, first, run_id))
                for refund, campaign_id, channel, rev, mar, touches in back:
                    rows.append((model, campaign_id, channel[:50], rev, mar, 0.0, touches, True, refund[1],
                                 engine.EPOCH + timedelta(microseconds=refund[0]), order_id, contact_id, first, run_id))
    return rows


# COPY column order of the fast path: what differs between the models of an order comes first, so that the
# rest of a row is encoded once per order and shared by every model.
_COPY_COLUMNS = ("model", "campaign_id", "channel", "revenue_xaf", "margin_xaf", "weight", "touches", "is_refund",
                 "refund_id", "occurred_at", "order_id", "contact_id", "is_first_order", "run_id")
_COPY_ORDER = _COPY_COLUMNS.index("order_id")
# PostgreSQL's binary COPY format: a signature and header, then per row a field count and each field as its
# length and big-endian value (-1 for NULL), then a trailer. PostgreSQL parses it about a third faster than
# text (no number or timestamp parsing), and times go as integers: no datetime is built or formatted.
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
_BIN_MODELS = {m: struct.pack(">hi", len(_COPY_COLUMNS), len(m)) + m.encode() for m in engine.MODELS}


def _credit_copy(facts: _Facts, run_id: int | None, counts: list[int], chunk_orders: int = 2000) -> Iterator[bytes]:
    """The credit rows of ``facts`` as binary COPY data (``_COPY_COLUMNS``), in chunks of ``chunk_orders`` orders.

    Rows are encoded here with precompiled structs rather than adapted value by value by psycopg
    (several times faster), and what an order's rows share once. ``counts`` receives ``[orders, rows]``
    when the last chunk has been taken.
    """
    return _credit_copy_from(_order_inputs(facts), run_id, counts, chunk_orders)


def _credit_copy_from(inputs: Iterator[tuple], run_id: int | None, counts: list[int], chunk_orders: int
                      ) -> Iterator[bytes]:
    """:func:`_credit_copy` from order inputs (:func:`_order_inputs`), possibly of several slices of facts."""
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


_LOCK_NAMESPACE = 7301  # first key of the advisory locks of attribution (the second is a contact id)


def _lock_contacts(contact_ids: Sequence[int]) -> None:
    """Serialise runs on the same contacts until the transaction ends.

    PostgreSQL: transaction-level advisory locks, in id order (no deadlock), held in memory: locking
    the order rows instead would write every locked tuple. SQLite: writers already queue on the
    database lock (``IMMEDIATE`` transactions), nothing to do.
    """
    if connection.vendor != "postgresql" or not contact_ids:
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, k::int) FROM unnest(%s::bigint[]) AS k ORDER BY k",
                       [_LOCK_NAMESPACE, sorted(contact_ids)])


def _recompute_contacts(contact_ids: Sequence[int], run: AttributionRun | None) -> tuple[int, int]:
    """Rewrite the credits of ``contact_ids`` in one transaction. Returns (orders, credits written)."""
    from api.contacts.models import Contact
    from api.orders.models import Order

    with transaction.atomic():
        _lock_contacts(contact_ids)
        order_ids = list(Order.objects.filter(contact_id__in=contact_ids).values_list("pk", flat=True).order_by())
        rows: list[bytes] | list[tuple]
        if connection.vendor == "postgresql":
            counts = [0, 0]
            rows = list(_credit_copy(_pg_facts(contact_ids), run.pk if run else None, counts))
            orders, written = counts
            # During a first full run the table grows from empty: with stale statistics the planner
            # would scan it whole for every batch. The deletes below always have the order index to use.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL enable_seqscan = off")
        else:
            rows = _credits_for(contact_ids, run)
            orders, written = len({r[_COPY_ORDER] for r in rows}), len(rows)
        # Deleted through the order index only (credits have no index by contact: building one cost every
        # full run ~170 ms). The old rows of these contacts are those of their orders, plus those of the
        # orders a merge moved away from them: an order moved to another contact must not keep its old rows
        # under the merged one. A merge moves every order of the source to the survivor (``merged_into``,
        # kept pointing at the final survivor), so those are among the survivor's orders, and only the rows
        # still under a contact of this batch are deleted there (the survivor's own rows wait for its run).
        # The rows of an order moved to another contact by hand are deleted when that contact is redone
        # (its order changed, so it is dirty). Raw deletes: credits have no dependants and no signals.
        moved_to = Contact.objects.filter(pk__in=contact_ids, merged_into__isnull=False).values("merged_into_id")
        moved = list(Order.objects.filter(contact_id__in=moved_to).exclude(contact_id__in=contact_ids)
                     .values_list("pk", flat=True).order_by())
        for start in range(0, len(order_ids), 5000):
            by_order = AttributionCredit.objects.filter(order_id__in=order_ids[start:start + 5000])
            by_order._raw_delete(by_order.db)
        for start in range(0, len(moved), 5000):
            moved_away = AttributionCredit.objects.filter(order_id__in=moved[start:start + 5000],
                                                          contact_id__in=contact_ids)
            moved_away._raw_delete(moved_away.db)
        _insert_credits(rows)
    return orders, written


def _insert_credits(rows: Sequence[bytes] | Sequence[tuple]) -> None:
    """Write credit rows: chunks of binary COPY data (:func:`_credit_copy`) on PostgreSQL, else tuples in
    ``_COPY_COLUMNS`` order, bulk inserted."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        AttributionCredit.objects.bulk_create([AttributionCredit(**dict(zip(_COPY_COLUMNS, row, strict=True)))
                                               for row in rows], batch_size=2000)
        return
    with connection.cursor() as cursor:
        raw = cursor.cursor  # the psycopg cursor under Django's wrapper
        with raw.copy(f"COPY {AttributionCredit._meta.db_table} ({', '.join(_COPY_COLUMNS)}) FROM STDIN "
                      f"(FORMAT binary)") as copy:
            for chunk in rows:
                copy.write(chunk)


def _replace_all_credits(run: AttributionRun) -> tuple[int, int, int]:
    """A full recompute on PostgreSQL: every credit rewritten in one transaction. Returns (contacts, orders,
    credits).

    The new credits are streamed with COPY into a fresh table without indexes, which then gets the live
    table's indexes and constraints (built once, in bulk: maintaining them row by row costs several times
    more) and takes its place. A killed run rolls back whole, leaving the old credits; readers keep
    reading the old table until the swap, and the ``EXCLUSIVE`` lock keeps any other writer out. A
    psycopg thread sends the COPY data while this one computes the next rows, so that PostgreSQL parses
    and stores them on the other core.
    """
    from psycopg.copy import QueuedLibpqWriter

    table = AttributionCredit._meta.db_table
    fresh = f"{table}_next"
    counts = [0, 0]
    started = time.perf_counter()
    outermost = not connection.in_atomic_block
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")
        # The run's row cannot be deleted before the commit: the new credits refer to it, and their foreign
        # key is added without checking them (see _swap_tables).
        cursor.execute(f"SELECT 1 FROM {AttributionRun._meta.db_table} WHERE id = %s FOR KEY SHARE", [run.pk])
        # The reads sort ~100k rows and the index builds sort the new credits: in memory, not on disk.
        cursor.execute("SET LOCAL work_mem = '64MB'")
        cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
        # The commit need not wait for this transaction's few hundred MB of WAL to reach the disk: the run
        # is only marked succeeded by a later, synchronous commit, which flushes it first. A crash before
        # that loses the new credits whole (old ones stay) and the run is redone. (Nested in a caller's
        # transaction, the run row commits with the credits: both or neither.)
        cursor.execute("SET LOCAL synchronous_commit = off")
        reader: _SliceReader | None = None
        if outermost:
            # Read in slices of contacts on two more connections, on this transaction's snapshot, while this
            # thread computes and writes the slice before. (Nested in a caller's transaction, another
            # connection could not see its uncommitted rows: read everything here first.)
            cursor.execute("SELECT pg_export_snapshot()")
            reader = _SliceReader(cursor.fetchone()[0])
            parts: Iterable[tuple] = reader
        else:
            facts = _pg_facts(None)
            parts = [(facts, _typed_codes(facts.orders))]
        try:
            cursor.execute(f"DROP TABLE IF EXISTS {fresh}")
            cursor.execute(f"CREATE TABLE {fresh} (LIKE {table} INCLUDING DEFAULTS INCLUDING IDENTITY "
                           f"INCLUDING CONSTRAINTS)")
            # The identity numbers the rows from 1 (a new sequence). Drawing 10,000 values at a time, this
            # backend numbers them in memory: the COPY costs PostgreSQL 5 % more than rows sent with their
            # ids (40 % more with a draw per row), and nothing is packed per row here.
            cursor.execute(f"ALTER TABLE {fresh} ALTER COLUMN id SET CACHE 10000")
            contacts = [0]
            inputs = itertools.chain.from_iterable(_order_inputs_from(facts, by_code, contacts)
                                                   for facts, by_code in parts)
            chunks = _credit_copy_from(inputs, run.pk, counts, 2000)
            raw = cursor.cursor
            # FREEZE: the table is new in this transaction, so its rows can be written already frozen (no
            # later vacuum pass to set their hint bits).
            with raw.copy(f"COPY {fresh} ({', '.join(_COPY_COLUMNS)}) FROM STDIN (FORMAT binary, FREEZE)",
                          writer=QueuedLibpqWriter(raw)) as copy:
                for chunk in chunks:
                    copy.write(chunk)
            # The next credit (an incremental run, from any connection) is numbered right after these.
            cursor.execute(f"ALTER TABLE {fresh} ALTER COLUMN id SET CACHE 1 RESTART WITH {counts[1] + 1}")
        finally:
            if reader is not None:
                reader.close()
        written = time.perf_counter()
        _swap_tables(cursor, table, fresh)
    logger.info("full attribution run %s: read, computed and copied %.2f s, indexed and swapped %.2f s",
                run.pk, written - started, time.perf_counter() - written)
    return contacts[0], counts[0], counts[1]


class _SliceReader:
    """Reads the facts of a full run in threads, each on its own connection bound to the run's snapshot,
    and hands them over slice by slice (ranges of contact ids, in order): PostgreSQL reads the next slices
    while the caller computes the one before.

    Each slice's queries cost about in proportion to it (orders by their contact index, windows by an index
    probe per order), so the first slice, small, comes at once, and slicing adds little work (each reader
    also counts the orders once, to size the slices). ``READERS`` connections read alternate slices: the
    reading is PostgreSQL's work (index probes and joins), about as long as the caller's computing, and a
    connection works on one core only. Iterating gives ``(facts, typed codes)`` per slice; an error in a
    thread is raised there. ``close()`` stops the threads and closes their connections.
    """

    FIRST_SLICE = 1_000  # orders (about) in the first slice: the caller waits for it
    SLICE_ORDERS = 20_000  # orders (about) in a slice at most; the sizes double up to it
    READERS = 2

    def __init__(self, snapshot: str) -> None:
        if not re.fullmatch(r"[0-9A-F-]+", snapshot):  # an id like 00000003-0000001B-1
            raise ValueError(f"unexpected snapshot id {snapshot!r}")
        self._snapshot = snapshot
        # Slice i goes through queue i % READERS; a reader puts None when it has no slice left.
        self._queues: list[queue.Queue[tuple | BaseException | None]] = [
            queue.Queue(maxsize=1) for _ in range(self.READERS)]
        self._stop = threading.Event()
        self._errors: list[BaseException] = []
        # Everyone's stated sources, read once (one scan of the touchpoints rather than one per slice) by the
        # reader of the second slice once it has handed that slice over; until then each slice reads its own.
        self._stated: dict[int, str] | None = None
        self._threads = [threading.Thread(target=self._run, args=(k,), name=f"attribution-reader-{k}", daemon=True)
                         for k in range(self.READERS)]
        for thread in self._threads:
            thread.start()

    def _put(self, reader: int, item: tuple | BaseException | None) -> None:
        while not self._stop.is_set():
            try:
                self._queues[reader].put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def _run(self, reader: int) -> None:
        from api.orders.models import Order

        # Django connections are per thread: this is a new one, closed below.
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                cursor.execute(f"SET TRANSACTION SNAPSHOT '{self._snapshot}'")  # a utility statement: no parameters
                cursor.execute("SET LOCAL work_mem = '64MB'")
                cursor.execute("SET LOCAL jit = off")
                cursor.execute(f"SELECT min(contact_id), max(contact_id), count(*) FROM {Order._meta.db_table}")
                low, high, count = cursor.fetchone()
                contacts_per_order = (high - low + 1) / count if count else 0
                index, bound, size = 0, low, self.FIRST_SLICE
                while count and bound <= high and not self._stop.is_set():
                    top = min(high, bound + max(1, int(size * contacts_per_order)) - 1)
                    if index % self.READERS == reader:
                        where, params = _pg_where(None, (bound, top))
                        orders = _pg_orders(cursor, where, params)
                        stated = self._stated
                        facts = _Facts(orders, _pg_windows(cursor, where, params, probe=True),
                                       _pg_refunds(cursor, where, params),
                                       _stated_sources(None, (bound, top)) if stated is None else stated)
                        self._put(reader, (facts, _typed_codes(orders)))
                        if index == 1 and top < high and not self._stop.is_set():  # for the slices still to come
                            self._stated = _stated_sources(None)
                    index, bound, size = index + 1, top + 1, min(2 * size, self.SLICE_ORDERS)
            self._put(reader, None)
        except BaseException as exc:  # handed to the caller's thread
            self._errors.append(exc)
            self._put(reader, exc)
        finally:
            connection.close()

    def __iter__(self) -> Iterator[tuple]:
        for index in itertools.count():
            item = self._queues[index % self.READERS].get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise self._errors[0]
            yield item

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()


def _swap_tables(cursor: Any, table: str, fresh: str) -> None:
    """Give ``fresh`` the indexes and constraints of ``table`` (read from the catalog, so whatever a
    migration adds is kept, under the same names), then drop ``table`` and rename ``fresh`` to it."""
    cursor.execute(
        "SELECT i.relname, pg_get_indexdef(x.indexrelid), x.indisunique, c.conname, c.contype "
        "FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
        "LEFT JOIN pg_constraint c ON c.conindid = x.indexrelid AND c.conrelid = x.indrelid "
        "WHERE x.indrelid = %s::regclass ORDER BY x.indisprimary DESC, i.relname", [table])
    indexes = cursor.fetchall()
    cursor.execute("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                   "WHERE conrelid = %s::regclass AND contype = 'f' ORDER BY conname", [table])
    foreign_keys = cursor.fetchall()
    renames = []
    for n, (name, definition, unique, constraint, kind) in enumerate(indexes):
        temporary = f"{fresh[:40]}_{n}"  # index names are unique per schema: the old ones still exist
        method = definition.split(" USING ", 1)[1]
        cursor.execute(f"CREATE {'UNIQUE ' if unique else ''}INDEX {temporary} ON {fresh} USING {method}")
        if constraint and kind in ("p", "u"):
            cursor.execute(f"ALTER TABLE {fresh} ADD CONSTRAINT {temporary} "
                           f"{'PRIMARY KEY' if kind == 'p' else 'UNIQUE'} USING INDEX {temporary}")
            renames.append(f"ALTER TABLE {table} RENAME CONSTRAINT {temporary} TO {constraint}")
        else:
            renames.append(f"ALTER INDEX {temporary} RENAME TO {name}")
    for name, definition in foreign_keys:
        # Constraint names are unique per table: the final name can be used at once. The run_id key is
        # added NOT VALID: validating it is one anti-join over all the new rows (~85 ms) that cannot fail.
        # Every row of the fresh table was written by this transaction with the id of this run, whose row
        # exists and is locked FOR KEY SHARE by :func:`_replace_all_credits` until the commit (so no one
        # can delete it meanwhile). NOT VALID only skips the check of the rows already there: later writes
        # are checked, and a VALIDATE CONSTRAINT would pass. Any other key is validated.
        trusted = definition.startswith("FOREIGN KEY (run_id)") and not definition.endswith("NOT VALID")
        cursor.execute(f"ALTER TABLE {fresh} ADD CONSTRAINT {name} {definition}{' NOT VALID' if trusted else ''}")
    cursor.execute(f"DROP TABLE {table}")
    cursor.execute(f"ALTER TABLE {fresh} RENAME TO {table}")
    for statement in renames:
        cursor.execute(statement)
    cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
    sequence = cursor.fetchone()[0]
    if sequence and sequence.split(".")[-1] != f"{table}_id_seq":
        cursor.execute(f"ALTER SEQUENCE {sequence} RENAME TO {table}_id_seq")


def _dirty_contacts(since: datetime | None) -> list[int]:
    """Contacts with an order, a refund or a touchpoint written after ``since`` (all with an order when None)."""
    from api.campaigns.models import Touchpoint
    from api.orders.models import Order, Refund

    if since is None:
        return sorted(set(Order.objects.values_list("contact_id", flat=True).distinct())
                      | set(AttributionCredit.objects.values_list("contact_id", flat=True).distinct()))
    ids: set[int] = set()
    ids.update(Order.objects.filter(Q(updated_at__gt=since) | Q(created_at__gt=since))
               .values_list("contact_id", flat=True).distinct())
    ids.update(Refund.objects.filter(created_at__gt=since).values_list("order__contact_id", flat=True).distinct())
    touched = set(Touchpoint.objects.filter(Q(updated_at__gt=since) | Q(created_at__gt=since))
                  .values_list("contact_id", flat=True).distinct())
    if touched:
        # Only contacts with an order need new credits; the others have nothing to attribute yet.
        touched_list = list(touched)
        for start in range(0, len(touched_list), 5000):
            ids.update(Order.objects.filter(contact_id__in=touched_list[start:start + 5000])
                       .values_list("contact_id", flat=True).distinct())
    return sorted(ids)


def attribution_run(*, full: bool = False, contact_ids: Iterable[int] | None = None) -> AttributionRun | None:
    """Compute credits for what changed since the last successful run (or everything with ``full``).

    Idempotent: the same inputs give the same rows; a second run right after finds little or
    nothing to do. Returns None when another run is in progress (a recent ``running`` row).
    Each batch of contacts is committed on its own; the watermark moves only when the whole
    run succeeded, so a killed run is redone from the old watermark.
    """
    now = timezone.now()
    with transaction.atomic():
        running = AttributionRun.objects.select_for_update().filter(
            state=RunState.RUNNING, started_at__gt=now - timedelta(seconds=conf.RUN_STALE_AFTER_SECONDS))
        if running.exists():
            return None
        last = (AttributionRun.objects.filter(state=RunState.SUCCEEDED, watermark__isnull=False)
                .order_by("-watermark").first())
        run = AttributionRun.objects.create(kind=RunKind.FULL if full or last is None else RunKind.INCREMENTAL,
                                            started_at=now)
    try:
        if contact_ids is None and run.kind == RunKind.FULL and connection.vendor == "postgresql":
            # Everything is rewritten: one transaction that replaces the whole table is faster than
            # batches that each delete and insert through the indexes.
            contacts, orders, credits = _replace_all_credits(run)
        else:
            if contact_ids is not None:
                todo = sorted(set(contact_ids))
            else:
                todo = _dirty_contacts(None if run.kind == RunKind.FULL or last is None else last.watermark)
            orders = credits = 0
            for start in range(0, len(todo), conf.BATCH_CONTACTS):
                done_orders, done_credits = _recompute_contacts(todo[start:start + conf.BATCH_CONTACTS], run)
                orders += done_orders
                credits += done_credits
            contacts = len(todo)
        run.state = RunState.SUCCEEDED
        run.contacts_processed, run.orders_processed, run.credits_written = contacts, orders, credits
        if contact_ids is None:
            run.watermark = now - timedelta(seconds=conf.WATERMARK_SETTLE_SECONDS)
    except Exception as exc:
        logger.exception("attribution run %s failed", run.pk)
        run.state = RunState.FAILED
        run.error = f"{exc.__class__.__name__}: {exc}"[:500]
    run.finished_at = timezone.now()
    run.save()
    return run


def attribution_run_request(*, full: bool) -> AttributionRun:
    """Staff asked for a run now: refuse (409) while one is in progress, else run it."""
    run = attribution_run(full=full)
    if run is None:
        raise ConflictError("An attribution run is already in progress.", code="run_in_progress")
    return run


# --- RFM -------------------------------------------------------------------------------------------


def rfm_recompute(*, now: datetime | None = None) -> int:
    """Recompute every contact's RFM scores over the last ``RFM_PERIOD_DAYS`` (idempotent, nightly).

    Contacts without a counted order in the period lose their row. Returns the number scored.
    """
    from api.attribution import metrics

    now = now or timezone.now()
    since = now - timedelta(days=conf.RFM_PERIOD_DAYS)
    revenue: dict[int, int] = defaultdict(int)
    last: dict[int, datetime] = {}
    count: dict[int, int] = defaultdict(int)
    for contact_id, created_at, total, fee, refunded in (
            counted_orders().filter(created_at__gte=since, created_at__lte=now)
            .values_list("contact_id", "created_at", "total_xaf", "delivery_fee_xaf", "refunded_xaf")
            .iterator(chunk_size=5000)):
        revenue[contact_id] += max(0, total - fee - refunded)
        count[contact_id] += 1
        if contact_id not in last or created_at > last[contact_id]:
            last[contact_id] = created_at
    facts = [metrics.RfmFacts(cid, (now - last[cid]).days, count[cid], revenue[cid]) for cid in count]
    scores = metrics.rfm_scores(facts)
    with transaction.atomic():
        RfmScore.objects.all().delete()
        RfmScore.objects.bulk_create([
            RfmScore(contact_id=s.contact_id, recency_days=s.recency_days, frequency=s.frequency,
                     monetary_xaf=s.monetary_xaf, r_score=s.r, f_score=s.f, m_score=s.m, group=s.group,
                     period_days=conf.RFM_PERIOD_DAYS, computed_at=now, created_at=now)
            for s in scores], batch_size=2000)
    return len(scores)


# --- lifecycle and referrals -------------------------------------------------------------------


def _delivered_count(contact_id: int) -> int:
    from api.orders.models import Order

    return Order.objects.filter(contact_id=contact_id, is_sample=False).filter(
        Q(status="delivered") | Q(delivered_at__isnull=False)).exclude(status="cancelled").count()


def _shared_link(contact_id: int) -> bool:
    """The contact shared their referral link: someone arrived with it."""
    from api.contacts.models import Contact

    return Contact.objects.filter(referred_by_id=contact_id).exists()


def _brought_a_buyer(contact_id: int) -> bool:
    from api.orders.models import Order

    return Order.objects.filter(contact__referred_by_id=contact_id, is_sample=False).filter(
        Q(status="delivered") | Q(delivered_at__isnull=False)).exists()


def _good_feedback(contact_id: int) -> bool:
    from api.orders.models import Feedback

    return Feedback.objects.filter(contact_id=contact_id, rating__gte=conf.AMBASSADOR_MIN_RATING).exists()


def lifecycle_update_from_orders(*, contact_id: int) -> str | None:
    """Move the contact's stage from the facts: 1 delivered order -> customer, 2 -> repeat customer,
    a repeat customer who brought a buyer (or rated >= 4 and shared their link) -> ambassador.

    Never moves a contact down (an ambassador stays one) and leaves a stage staff set by hand
    (``contact_set_lifecycle_stage`` ignores automatic moves then). Returns the stage asked for.
    """
    from api.contacts.models import Contact
    from api.contacts.services import contact_set_lifecycle_stage

    contact = Contact.objects.filter(pk=contact_id).values("lifecycle_stage", "lifecycle_stage_locked").first()
    if contact is None or contact["lifecycle_stage_locked"]:
        return None
    delivered = _delivered_count(contact_id)
    if delivered == 0:
        return None
    target, reason = "customer", "first order delivered"
    if delivered >= 2:
        target, reason = "repeat_customer", f"{delivered} orders delivered"
        if _brought_a_buyer(contact_id):
            target, reason = "ambassador", "brought a friend who bought"
        elif _good_feedback(contact_id) and _shared_link(contact_id):
            target, reason = "ambassador", "rated us 4+ and shared their link"
    rank = ["suspect", "prospect", "inactive", "customer", "repeat_customer", "ambassador"]
    current = contact["lifecycle_stage"]
    if current == target or (current in rank and rank.index(current) > rank.index(target)):
        return None
    contact_set_lifecycle_stage(contact_id=contact_id, stage=target, reason=reason, automatic=True)
    return target


def lifecycle_sweep_inactive(*, now: datetime | None = None) -> int:
    """Make contacts inactive after ``LIFECYCLE_INACTIVE_AFTER_DAYS`` without an order or a reply.

    A reply is an inbound touchpoint (message, bot start, ad referral); staff-locked stages and
    contacts already inactive are left alone. Returns how many moved. Idempotent.
    """
    from api.campaigns.models import Touchpoint
    from api.contacts.models import Contact
    from api.contacts.services import contact_set_lifecycle_stage
    from api.orders.models import Order

    now = now or timezone.now()
    cutoff = now - timedelta(days=conf.INACTIVE_AFTER_DAYS)
    candidates = Contact.objects.filter(created_at__lt=cutoff, lifecycle_stage_locked=False,
                                        merged_into__isnull=True, erased_at__isnull=True).exclude(
        lifecycle_stage="inactive")
    recent_orders = Order.objects.filter(created_at__gte=cutoff).values("contact_id")
    recent_replies = Touchpoint.objects.filter(occurred_at__gte=cutoff).values("contact_id")
    ids = list(candidates.exclude(pk__in=recent_orders).exclude(pk__in=recent_replies)
               .exclude(last_seen_at__gte=cutoff).values_list("pk", flat=True)[:5000])
    for contact_id in ids:
        contact_set_lifecycle_stage(contact_id=contact_id, stage="inactive",
                                    reason=f"no order and no reply for {conf.INACTIVE_AFTER_DAYS} days")
    return len(ids)


def referral_reward_grant(*, order_id: int) -> ReferralReward | None:
    """Reward the referrer when ``order_id`` is the referred contact's first delivered order.

    One reward per referred contact (unique row): a replayed event grants nothing more.
    The reward is a discount code for the referrer's next order or points (``REFERRAL_REWARD_KIND``).
    """
    from api.contacts.services import contact_event_record
    from api.orders.models import Order

    order = Order.objects.filter(pk=order_id).values("contact_id", "contact__referred_by_id", "status",
                                                     "delivered_at", "is_sample").first()
    if order is None or order["contact__referred_by_id"] is None or order["is_sample"]:
        return None
    if order["status"] != "delivered" and order["delivered_at"] is None:
        return None
    first = (Order.objects.filter(contact_id=order["contact_id"], is_sample=False)
             .filter(Q(status="delivered") | Q(delivered_at__isnull=False))
             .order_by("delivered_at", "created_at", "pk").values_list("pk", flat=True).first())
    if first != order_id:
        return None
    referrer_id = order["contact__referred_by_id"]
    kind = conf.REFERRAL_REWARD_KIND if conf.REFERRAL_REWARD_KIND in RewardKind.values else RewardKind.DISCOUNT
    with transaction.atomic():
        reward, created = ReferralReward.objects.get_or_create(
            referred_id=order["contact_id"],
            defaults={"referrer_id": referrer_id, "order_id": order_id, "kind": kind,
                      "code": f"AMB-{secrets.token_hex(3).upper()}" if kind == RewardKind.DISCOUNT else "",
                      "discount_percent": conf.REFERRAL_DISCOUNT_PERCENT if kind == RewardKind.DISCOUNT else 0,
                      "points": conf.REFERRAL_POINTS if kind == RewardKind.POINTS else 0})
        if created:
            what = (f"discount code {reward.code} (-{reward.discount_percent} %)" if kind == RewardKind.DISCOUNT
                    else f"{reward.points} points")
            contact_event_record(contact_id=referrer_id, kind="referral_reward",
                                 summary=f"Earned {what}: a referred friend's first order was delivered",
                                 data={"referred_id": order["contact_id"], "order_id": order_id,
                                       "reward_id": reward.pk})
    return reward if created else None


def order_event_handle(*, kind: str, order_id: int, contact_id: int, status: str) -> dict[str, Any]:
    """React to an order event: lifecycle moves and referral rewards (credits follow via the watermark)."""
    result: dict[str, Any] = {}
    if status == "delivered" or kind in ("feedback", "status_changed"):
        result["stage"] = lifecycle_update_from_orders(contact_id=contact_id)
    if status == "delivered":
        reward = referral_reward_grant(order_id=order_id)
        result["reward_id"] = reward.pk if reward else None
        # The referrer may now be an ambassador (they brought a buyer).
        from api.contacts.models import Contact

        referrer = Contact.objects.filter(pk=contact_id).values_list("referred_by_id", flat=True).first()
        if referrer:
            result["referrer_stage"] = lifecycle_update_from_orders(contact_id=referrer)
    return result


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


def order_event_listener(event: Any) -> None:
    """Registered with ``api.orders.events``: runs after the order's transaction committed.

    Lifecycle and rewards are a few indexed queries, so they run inline (like the other apps'
    listeners); credits follow on the next incremental run through the order's ``updated_at``.
    """
    if event.is_sample:
        return
    if event.kind in ("status_changed", "feedback", "refunded") or event.status == "delivered":
        order_event_handle(kind=event.kind, order_id=event.order_id, contact_id=event.contact_id,
                           status=event.status)


# --- weekly summary to the staff chat --------------------------------------------------------------


def weekly_summary_text(report: dict[str, Any]) -> str:
    """A short caption: totals, the three best channels by revenue, and the share without source."""
    totals = report["totals"]
    lines = [f"Semaine du {report['week_start']:%d/%m/%Y} ({report['model']})",
             f"Coût {totals['cost_xaf']:,} XAF · CA {totals['revenue_xaf']:,} XAF · marge {totals['margin_xaf']:,} XAF"
             .replace(",", " "),
             f"ROAS {totals['roas'] if totals['roas'] is not None else '–'} · "
             f"CAC {totals['cac_xaf'] if totals['cac_xaf'] is not None else '–'} XAF · "
             f"{totals['orders']:g} commandes, {totals['new_customers']:g} nouveaux clients"]
    for row in report["rows"][:3]:
        lines.append(f"• {row['channel']}: {row['revenue_xaf']:,} XAF, ROAS "
                     f"{row['roas'] if row['roas'] is not None else '–'}".replace(",", " "))
    share = report["share_orders_without_source"]
    if share:
        lines.append(f"{share:.0%} des commandes sans origine connue : demandez d'où vient le client !")
    return "\n".join(lines)[:1024]


def weekly_summary_send(*, week: date | None = None) -> Any:
    """Send the summary of the finished week (the one before ``week``'s Monday by default) with the
    ROAS chart to ``TELEGRAM_STAFF_CHAT_ID``. A no-op without chat or bot token.

    At most once per week: the row is committed as ``sending`` first; a row found ``sending`` (an
    interrupted send) is marked ``unknown_outcome`` instead of sending twice. Rate limits and
    transient errors put the row back so the task's retry sends it.
    """
    from django.conf import settings

    from api.attribution import charts, selectors
    from api.attribution.enums import SummaryState
    from api.attribution.metrics import week_start
    from api.attribution.models import WeeklySummary
    from integrations.errors import RateLimited, TransientError

    chat, token = str(settings.TELEGRAM_STAFF_CHAT_ID or ""), settings.TELEGRAM_BOT_TOKEN
    if not chat or not token:
        return None
    monday = week_start(week) if week else selectors.current_week() - timedelta(weeks=1)
    with transaction.atomic():
        summary, created = WeeklySummary.objects.select_for_update().get_or_create(week_start=monday)
        if not created:
            if summary.state == SummaryState.SENDING:
                summary.state = SummaryState.UNKNOWN_OUTCOME
                summary.save(update_fields=["state"])
            return summary
    report = selectors.weekly_roi_report(week=monday)
    from integrations.telegram import TelegramClient

    client = TelegramClient(token, base_url=settings.TELEGRAM_API_BASE_URL)
    try:
        client.send_photo(chat, charts.roas_chart(report), caption=weekly_summary_text(report))
    except (RateLimited, TransientError):
        summary.delete()  # nothing went out: the retry starts afresh
        raise
    except Exception as exc:
        summary.state, summary.error = SummaryState.FAILED, f"{exc.__class__.__name__}: {exc}"[:500]
        summary.save(update_fields=["state", "error"])
        return summary
    summary.state, summary.sent_at = SummaryState.SENT, timezone.now()
    summary.save(update_fields=["state", "sent_at"])
    return summary
