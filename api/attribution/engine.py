"""Attribution models as pure functions: no Django, no database, no clock.

Given one order (when it was placed, its net revenue and margin in integer XAF, what
the customer said brought them, its refunds) and the contact's tracked touches, each
model returns credit rows that say which campaign / channel earned which share.

Rules, decided here once for every caller:

* **Window.** A touch counts when ``placed_at - lookback <= occurred_at <= placed_at``.
  Touches after the order never count. Touches are ordered by ``(occurred_at, touch_id)``
  so that equal times give the same result on every run.
* **Models.** ``first_touch`` and ``last_touch`` give 100 % to one touch; ``linear``
  splits equally; ``position_based`` gives 40 % to the first, 40 % to the last and
  shares 20 % among the middle ones (one touch takes 100 %, two take 50/50);
  ``time_decay`` weighs a touch ``2 ** (-age / half_life)`` where ``age`` is measured
  from the order time (a touch at the order time weighs 1, one half-life earlier 0.5).
* **Self-reported.** The ``self_reported`` model credits 100 % to the source the
  customer stated (channel = the normalised source, no campaign). When they stated
  nothing it falls back to the last tracked touch, and to ``unknown`` without one.
* **No touch.** For the tracked models, an order with no touch in the window gets one
  row without campaign whose channel is the stated source when there is one (what the
  customer said "stands when no tracked touch exists"), else ``unknown``. Such orders
  are therefore never dropped: reports show them as "no known source".
* **Rounding.** Amounts are split with :func:`allocate` (largest remainder, exact
  integer sums, ties to the earlier touch). Weights are integers in the model's exact
  ratios (time decay: relative to the youngest touch, scaled by 2**53 and rounded), so
  the split is computed in integer arithmetic and never depends on float noise. A negative total (a margin below zero) is
  split by its absolute value and negated, so every share keeps the sign of the total.
* **Rows.** Per-touch shares are summed per ``(campaign, channel)`` in the order of
  the first touch of each pair: an order yields at most one row per pair and model.
* **Refunds.** Each refund yields negative rows on the same pairs, split in proportion
  to what each pair still holds (so a row never goes below zero and a full refund nets
  every row out exactly). The margin given back is the margin in proportion to the
  refunded revenue (``margin * refunded / revenue``, cumulative, truncated towards zero),
  so the refund of the whole revenue gives back the whole margin. A refund larger than
  what remains is capped at what remains.
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from typing import NamedTuple

FIRST_TOUCH = "first_touch"
LAST_TOUCH = "last_touch"
LINEAR = "linear"
POSITION_BASED = "position_based"
TIME_DECAY = "time_decay"
SELF_REPORTED = "self_reported"
MODELS: tuple[str, ...] = (FIRST_TOUCH, LAST_TOUCH, LINEAR, POSITION_BASED, TIME_DECAY, SELF_REPORTED)
TRACKED_MODELS: tuple[str, ...] = MODELS[:-1]

UNKNOWN_CHANNEL = "unknown"

Weight = float | Fraction


class Touch(NamedTuple):
    """One tracked touch of the contact: a click, a message, a visit at a tasting.

    Touches, refunds and credits are named tuples: a run builds millions of them, and a tuple
    is several times cheaper to create than a frozen dataclass.
    """

    touch_id: int
    occurred_at: datetime
    channel: str
    campaign_id: int | None = None


class Refund(NamedTuple):
    refund_id: int
    amount_xaf: int
    refunded_at: datetime


@dataclass(frozen=True)
class OrderFacts:
    """What the engine needs of an order. ``revenue_xaf`` is net revenue, ``margin_xaf`` may be negative."""

    order_id: int
    placed_at: datetime
    revenue_xaf: int
    margin_xaf: int
    self_reported_channel: str = ""
    refunds: tuple[Refund, ...] = ()


@dataclass(frozen=True)
class Settings:
    lookback: timedelta = timedelta(days=30)
    half_life: timedelta = timedelta(days=7)


class Credit(NamedTuple):
    """One credit row: a share of an order (or of a refund, negative) for one model."""

    order_id: int
    model: str
    campaign_id: int | None
    channel: str
    revenue_xaf: int
    margin_xaf: int
    occurred_at: datetime
    is_refund: bool = False
    refund_id: int | None = None
    touches: int = 0
    weight: float = 0.0  # the row's share of the order (0 on refund rows)

    @property
    def key(self) -> tuple[int | None, str]:
        return (self.campaign_id, self.channel)


@dataclass
class _Row:
    campaign_id: int | None
    channel: str
    weight: int = 0
    touches: int = 0


# --- rounding -------------------------------------------------------------------------


def allocate(total: int, weights: Sequence[Weight]) -> list[int]:
    """Split the integer ``total`` in proportion to ``weights``; the parts sum exactly to ``total``.

    Largest-remainder method in exact arithmetic, so that float noise never decides a unit:
    each part gets the floor of its quota, and the units left go to the largest fractional
    remainders, ties to the lower index. A negative total is split by its absolute value and
    negated (every part keeps the sign of the total). Weights must be non-negative; when they
    are all zero the split is equal. Integer weights take a fast path (no fractions).
    """
    if not weights:
        if total:
            raise ValueError("cannot allocate a non-zero total over no weights")
        return []
    if all(type(w) is int for w in weights):
        return allocate_int(total, list(weights))  # type: ignore[arg-type]
    exact = [Fraction(w) for w in weights]
    if any(w < 0 for w in exact):
        raise ValueError("weights must be non-negative")
    # Bring the exact rational weights to a common denominator: integers with the same ratios.
    denominator = math.lcm(*(w.denominator for w in exact))
    return allocate_int(total, [int(w * denominator) for w in exact])


def allocate_int(total: int, weights: list[int]) -> list[int]:
    """:func:`allocate` for non-negative integer weights, in integer arithmetic only."""
    if total < 0:
        return [-part for part in allocate_int(-total, weights)]
    n = len(weights)
    if n == 1:
        return [total]
    if min(weights) < 0:
        raise ValueError("weights must be non-negative")
    weight_sum = sum(weights)
    if weight_sum == 0:
        weights, weight_sum = [1] * n, n
    parts = []
    remainders = []
    for w in weights:
        q, r = divmod(total * w, weight_sum)
        parts.append(q)
        remainders.append(r)
    left = total - sum(parts)
    if left:
        # Largest remainder first, then lowest index: deterministic.
        for i in sorted(range(n), key=lambda i: (-remainders[i], i))[:left]:
            parts[i] += 1
    return parts


# --- touches and weights ----------------------------------------------------------------


def touches_in_window(touches: Sequence[Touch], placed_at: datetime, lookback: timedelta) -> list[Touch]:
    """Touches within ``[placed_at - lookback, placed_at]``, oldest first (ties by id)."""
    start = placed_at - lookback
    return sorted((t for t in touches if start <= t.occurred_at <= placed_at),
                  key=lambda t: (t.occurred_at, t.touch_id))


def integer_weights(model: str, touches: Sequence[Touch], placed_at: datetime,
                    half_life: timedelta = timedelta(days=7)) -> list[int]:
    """Integer weights of each touch (oldest first) under ``model``, in the model's exact ratios.

    Position-based 40/20/40 over n >= 3 touches is ``2(n-2), 1, ..., 1, 2(n-2)`` (times 1/(5(n-2))).
    Time decay weighs ``2 ** (-age / half_life)`` relative to the youngest touch, scaled by 2**53
    and rounded: a touch more than 53 half-lives older than the last one weighs nothing.
    """
    n = len(touches)
    if n == 0:
        return []
    if model == FIRST_TOUCH:
        return [1] + [0] * (n - 1)
    if model in (LAST_TOUCH, SELF_REPORTED):
        return [0] * (n - 1) + [1]
    if model == LINEAR:
        return [1] * n
    if model == POSITION_BASED:
        if n <= 2:
            return [1] * n
        return [2 * (n - 2)] + [1] * (n - 2) + [2 * (n - 2)]
    if model == TIME_DECAY:
        half_life_s = half_life.total_seconds()
        if half_life_s <= 0:
            raise ValueError("half_life must be positive")
        youngest = min(placed_at - t.occurred_at for t in touches)
        return [round(math.ldexp(2.0 ** (-((placed_at - t.occurred_at) - youngest).total_seconds() / half_life_s),
                                 53)) for t in touches]
    raise ValueError(f"unknown attribution model {model!r}")


def model_weights(model: str, touches: Sequence[Touch], placed_at: datetime,
                  half_life: timedelta = timedelta(days=7)) -> list[Fraction]:
    """The weight of each touch (oldest first) under ``model`` as exact fractions summing to 1."""
    weights = integer_weights(model, touches, placed_at, half_life)
    total = sum(weights)
    return [Fraction(w, total) for w in weights]


# --- sources ------------------------------------------------------------------------------

_SOURCE_ALIASES: tuple[tuple[str, str], ...] = (
    # Channel names are those of campaigns (``CampaignChannel``), so that a stated source lines up
    # with the costs of its channel. "Facebook" without a tracked ad is taken as the Page (organic).
    (r"\b(parrain\w*|referral|referred|code promo d'un ami)\b", "referral"),
    (r"\b(ami|amie|amis|friend|friends|bouche|oreille|word of mouth|recommand\w*|famille|family|"
     r"voisin\w*|collegue\w*)\b", "word_of_mouth"),
    (r"\b(fb|facebook|face book|meta)\b", "facebook_page"),
    (r"\b(insta|instagram|ig)\b", "instagram"),
    (r"\b(whatsapp|whats app|wa|watsap|whatsap)\b", "whatsapp"),
    (r"\b(telegram|tg)\b", "telegram"),
    (r"\b(degustation|tasting)\b", "tasting"),
    (r"\b(foire|salon|fair|expo\w*)\b", "fair"),
    (r"\b(flyer|flyers|prospectus|affiche\w*)\b", "flyer"),
    (r"\b(tiktok|tik tok)\b", "tiktok"),
    (r"\b(revendeur|reseller|partenaire|partner|boutique|shop|supermarche)\b", "partner"),
    (r"\b(e-?mail|mail|courriel)\b", "email"),
    (r"\b(radio|tv|tele|television|journal)\b", "offline_media"),
)


@functools.lru_cache(maxsize=4096)
def normalize_source(text: str) -> str:
    """Map what a customer said ("un ami", "Facebook", "la foire") to a channel slug.

    Known words map to a shared channel; anything else becomes a slug of the text, so that
    it still shows as its own line in the reports. Empty text gives ``""``.
    """
    folded = unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode().lower().strip()
    if not folded:
        return ""
    for pattern, channel in _SOURCE_ALIASES:
        if re.search(pattern, folded):
            return channel
    slug = re.sub(r"[^a-z0-9]+", "_", folded).strip("_")
    return slug[:50] or UNKNOWN_CHANNEL


# --- attribution ---------------------------------------------------------------------------


def _rows_for(model: str, order: OrderFacts, window: list[Touch], settings: Settings) -> list[_Row]:
    if model == SELF_REPORTED and order.self_reported_channel:
        return [_Row(None, order.self_reported_channel, 1, 0)]
    if not window:
        return [_Row(None, order.self_reported_channel or UNKNOWN_CHANNEL, 1, 0)]
    weights = integer_weights(model, window, order.placed_at, settings.half_life)
    rows: dict[tuple[int | None, str], _Row] = {}
    for touch, weight in zip(window, weights, strict=True):
        if weight == 0:
            continue
        key = (touch.campaign_id, touch.channel or UNKNOWN_CHANNEL)
        row = rows.get(key)
        if row is None:
            row = rows[key] = _Row(*key)
        row.weight += weight
        row.touches += 1
    return list(rows.values())


def attribute_order(order: OrderFacts, touches: Sequence[Touch], *, models: Sequence[str] = MODELS,
                    settings: Settings | None = None) -> list[Credit]:
    """Credit rows of ``order`` under each of ``models``, refunds included.

    For each model the sale rows sum exactly to ``revenue_xaf`` and ``margin_xaf``, and
    the refund rows to minus the refunded revenue and the margin it carried.
    """
    settings = settings or Settings()
    window = touches_in_window(touches, order.placed_at, settings.lookback)
    credits: list[Credit] = []
    for model in models:
        rows = _rows_for(model, order, window, settings)
        weights = [row.weight for row in rows]
        weight_sum = sum(weights)
        revenue = allocate_int(order.revenue_xaf, weights)
        margin = allocate_int(order.margin_xaf, weights)
        for row, rev, mar in zip(rows, revenue, margin, strict=True):
            credits.append(Credit(order.order_id, model, row.campaign_id, row.channel, rev, mar,
                                  order.placed_at, touches=row.touches, weight=row.weight / weight_sum))
        credits.extend(_refund_credits(order, model, rows, revenue, margin))
    return credits


def _refund_credits(order: OrderFacts, model: str, rows: list[_Row], revenue: list[int],
                    margin: list[int]) -> list[Credit]:
    """Negative rows for each refund, in the order the refunds happened."""
    if not order.refunds:
        return []
    remaining_rev = list(revenue)
    remaining_mar = list(margin)
    refunded = 0  # cumulative revenue refunded so far
    margin_back = 0  # cumulative margin given back so far
    out: list[Credit] = []
    total_rev = max(order.revenue_xaf, 0)
    for refund in sorted(order.refunds, key=lambda r: (r.refunded_at, r.refund_id)):
        amount = max(0, min(refund.amount_xaf, total_rev - refunded))
        refunded += amount
        # Margin carried by the refunded revenue, cumulative so the whole revenue gives back the whole margin.
        # int(Fraction) truncates towards zero, for a negative margin too.
        target = int(Fraction(order.margin_xaf * refunded, total_rev)) if total_rev else 0
        margin_step = target - margin_back
        margin_back = target
        rev_parts = allocate_int(amount, [max(r, 0) for r in remaining_rev])
        mar_parts = allocate_int(margin_step, [abs(m) for m in remaining_mar])
        for i, row in enumerate(rows):
            remaining_rev[i] -= rev_parts[i]
            remaining_mar[i] -= mar_parts[i]
            if rev_parts[i] == 0 and mar_parts[i] == 0:
                continue  # a small refund may leave a pair untouched: no empty row
            out.append(Credit(order.order_id, model, row.campaign_id, row.channel, -rev_parts[i], -mar_parts[i],
                              refund.refunded_at, is_refund=True, refund_id=refund.refund_id,
                              touches=row.touches))
    return out


def sum_credits(credits: Sequence[Credit], model: str) -> tuple[int, int]:
    """Total revenue and margin of ``model``'s rows (refunds included)."""
    rows = [c for c in credits if c.model == model]
    return sum(c.revenue_xaf for c in rows), sum(c.margin_xaf for c in rows)
