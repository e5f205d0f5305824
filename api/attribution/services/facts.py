"""The facts attribution reads, as plain tuples, and the rules both readers apply to them.

Facts are read as plain tuples, in shapes shared by both databases (:mod:`.inputs` reads them
through the ORM, :mod:`.inputs_pg` in SQL on PostgreSQL), from what the orders, campaigns and contacts
apps publish:

* an order: ``(order_id, contact_id, placed_us, total_xaf, delivery_fee_xaf, campaign_code, coupon_code,
  self_reported_source, contact's self_reported_source, cost of its lines)``, sorted by contact, then time
  and id. Times are integer microseconds since the epoch: exact, cheap to compare and to write back;
* the tracked touches in each order's lookback window: ``{order_id: [(occurred_us, touch_id, channel,
  campaign_id), ...]}`` (:data:`engine.FastTouch`, the channel already the touch's, see
  ``api.campaigns.touches.touch_channel``), oldest first (ties by id);
* refunds: ``{order_id: [(refunded_us, refund_id, amount_xaf, delivery_fee_kept), ...]}``;
* stated sources: ``{contact_id: normalised source}`` from capture forms.

Which orders count: the orders app's sales, every order that is not cancelled and not a free sample
(``api.orders.facts.orders_sold``). Tracked touches are the contact's touchpoints except stated
sources (``self_reported_source`` kind, which feed the self-reported model instead): campaigns' rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from api.attribution import conf, engine
from api.orders.facts import SALE_EXCLUDED_STATUSES

# Orders in these statuses are not counted (nor are free samples): the orders app's sales.
EXCLUDED_STATUSES: tuple[str, ...] = SALE_EXCLUDED_STATUSES


@dataclass
class Facts:
    """The counted orders of some contacts and what attribution needs about them (shapes above)."""

    orders: list[tuple]
    windows: dict[int, list[tuple]]
    refunds: dict[int, list[tuple]]
    stated: dict[int, str]  # contact -> source stated on a capture form (a ``self_reported_source`` touchpoint)


def engine_settings() -> engine.Settings:
    """The engine's lookback window and time-decay half-life, from the app's settings."""
    return engine.Settings(lookback=timedelta(days=conf.LOOKBACK_DAYS),
                           half_life=timedelta(days=conf.TIME_DECAY_HALF_LIFE_DAYS))


def lookback_us() -> int:
    """The lookback window in integer microseconds, the unit of the order and touch tuples."""
    return engine_settings().lookback // timedelta(microseconds=1)
