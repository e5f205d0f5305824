"""From facts to credit rows: what the engine needs per order, the rows it gives, and writing them.

Net revenue = ``total_xaf - delivery_fee_xaf`` (what the goods sold for after discount; the delivery
fee pays the delivery). Margin = net revenue - the unit costs of its lines - (delivery cost - delivery
fee), where the delivery cost is the fee unless ``ATTRIBUTION_DELIVERY_COST_XAF`` sets a flat cost. A
refund takes back its amount (minus the delivery fee when the fee was refunded too). A coupon or
campaign code typed on the order counts as one more touch at the order time.

:func:`credit_rows` and :func:`credits_insert` are the portable twins of those of :mod:`.credits_pg`
(binary COPY on PostgreSQL), with the same signatures; ``tests/attribution/test_full_recompute.py``
shows both write the same credits.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta

from api.attribution import conf, engine
from api.attribution.models import AttributionCredit
from api.attribution.services import inputs
from api.attribution.services.facts import Facts, engine_settings, lookback_us

# Column order of a credit row, for the tuples here and the COPY of :mod:`.credits_pg`: what differs
# between the models of an order comes first, so that the rest of a row is encoded once per order and
# shared by every model.
COPY_COLUMNS = ("model", "campaign_id", "channel", "revenue_xaf", "margin_xaf", "weight", "touches", "is_refund",
                "refund_id", "occurred_at", "order_id", "contact_id", "is_first_order", "run_id")
COPY_ORDER = COPY_COLUMNS.index("order_id")


@dataclass
class CreditRows:
    """Credit rows ready for :func:`credits_insert` (tuples here, COPY chunks in :mod:`.credits_pg`),
    with how many orders they cover and how many rows they are."""

    rows: Sequence[bytes] | Sequence[tuple]
    orders: int
    written: int


def order_inputs(facts: Facts) -> Iterator[tuple]:
    """Per counted order, what the engine needs and what a credit row repeats.

    Yields ``(order_id, contact_id, placed_us, is_first_order, revenue, margin, stated, window, refunds)``
    where ``window`` holds :data:`engine.FastTouch` (oldest first, ties by id) and ``refunds``
    :data:`engine.FastRefund`. A code typed on an order is a touch at that order's time for every order
    of the contact whose window holds it (negative ids never collide with touchpoints).
    """
    # Looked up now, not when the generator starts: by then a COPY may hold the connection.
    return order_inputs_from(facts, typed_codes(facts.orders))


def typed_codes(orders: list[tuple]) -> dict[str, tuple[int, str]]:
    """The campaigns of the coupon and campaign codes typed on ``orders``."""
    return inputs.code_campaigns({o[5] for o in orders} | {o[6] for o in orders})


def order_inputs_from(facts: Facts, by_code: dict[str, tuple[int, str]], contacts: list[int] | None = None
                      ) -> Iterator[tuple]:
    """:func:`order_inputs` with the campaigns of the codes typed on the orders already looked up; counts the
    contacts into ``contacts[0]`` when given."""
    orders = facts.orders
    span = lookback_us()
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
                extra = [t for t in code_touches if placed - span <= t[0] <= placed]
                if extra:
                    window = sorted(window + extra, key=lambda t: (t[0], t[1]))
            refunds = refunds_of(order_id)
            fast_refunds = [(at, refund_id, amount if fee_kept else max(0, amount - fee), None)
                            for at, refund_id, amount, fee_kept in refunds] if refunds else no_touches
            yield (order_id, contact_id, placed, order_id == first_id, revenue, margin, stated, window,
                   fast_refunds)


def credit_rows(*, contact_ids: Sequence[int], run_id: int | None) -> CreditRows:
    """The credit rows of ``contact_ids`` as tuples in ``COPY_COLUMNS`` order (no model instances: fast),
    read through the ORM."""
    half_life_s = engine_settings().half_life.total_seconds()
    epoch = engine.EPOCH
    rows: list[tuple] = []
    for (order_id, contact_id, placed_us, first, revenue, margin, stated, window,
         refunds) in order_inputs(inputs.read_facts(contact_ids)):
        placed_at = epoch + timedelta(microseconds=placed_us)
        for models, sales, back in engine.attribute_window(revenue, margin, stated, window, refunds,
                                                           half_life_s=half_life_s):
            for model in models:
                for campaign_id, channel, rev, mar, touches, weight in sales:
                    rows.append((model, campaign_id, channel[:50], rev, mar, weight, touches, False, None, placed_at,
                                 order_id, contact_id, first, run_id))
                for refund, campaign_id, channel, rev, mar, touches in back:
                    rows.append((model, campaign_id, channel[:50], rev, mar, 0.0, touches, True, refund[1],
                                 epoch + timedelta(microseconds=refund[0]), order_id, contact_id, first, run_id))
    return CreditRows(rows, len({r[COPY_ORDER] for r in rows}), len(rows))


def credits_insert(rows: Sequence[bytes] | Sequence[tuple]) -> None:
    """Bulk insert credit rows given as tuples in ``COPY_COLUMNS`` order."""
    if not rows:
        return
    AttributionCredit.objects.bulk_create([AttributionCredit(**dict(zip(COPY_COLUMNS, row, strict=True)))
                                           for row in rows], batch_size=2000)


def lock_contacts(contact_ids: Sequence[int]) -> None:  # noqa: ARG001 - the twin of credits_pg.lock_contacts
    """Serialise runs on the same contacts until the transaction ends: on SQLite writers already queue on
    the database lock (``IMMEDIATE`` transactions), nothing to do."""


def before_delete() -> None:
    """Nothing to prepare before the old credits are deleted (see :func:`.credits_pg.before_delete`)."""
