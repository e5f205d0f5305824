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
from datetime import UTC, datetime, timedelta
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
    products = [total * w for w in weights]
    parts = [p // weight_sum for p in products]
    left = total - sum(parts)
    if left:
        # Largest remainder first, then lowest index (the sort is stable): deterministic.
        for i in sorted(range(n), key=lambda i: -(products[i] % weight_sum))[:left]:
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

#: A touch as the hot path sees it: ``(occurred_us, touch_id, channel, campaign_id)``, the time in
#: integer microseconds since the epoch (plain tuples and ints: a full run handles a million of them).
FastTouch = tuple[int, int, str, "int | None"]
#: A refund as the hot path sees it: ``(refunded_us, refund_id, amount_xaf, anything)``; the last item
#: is the caller's (its time as written back, for instance) and comes back untouched on refund rows.
FastRefund = tuple[int, int, int, object]
#: A sale row: ``(campaign_id, channel, revenue_xaf, margin_xaf, touches, weight)``.
SaleRow = tuple["int | None", str, int, int, int, float]
#: A refund row: ``(refund, campaign_id, channel, revenue_xaf, margin_xaf, touches)``, amounts negative.
RefundRow = tuple[FastRefund, "int | None", str, int, int, int]
#: Models that give the same rows for an order, with those rows (most orders have 0 or 1 touch, and
#: then every tracked model agrees: the rows are computed and written once for all of them).
ModelGroup = tuple[tuple[str, ...], list[SaleRow], list[RefundRow]]

_US = 1_000_000
_SELF_ONLY = (SELF_REPORTED,)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # integer times (microseconds) count from here
_ONE_US = timedelta(microseconds=1)


def to_us(moment: datetime) -> int:
    """An aware datetime as integer microseconds since the epoch (exact, no float)."""
    return (moment - EPOCH) // _ONE_US


def _keyed_rows(window: Sequence[FastTouch], weights: Sequence[int]) -> list[list]:
    """Per-touch weights summed per ``(campaign, channel)``, in the order of each pair's first touch:
    ``[campaign_id, channel, weight, touches]``. Touches weighing nothing make no row."""
    rows: dict[tuple[int | None, str], list] = {}
    for touch, weight in zip(window, weights, strict=True):
        if weight == 0:
            continue
        key = (touch[3], touch[2] or UNKNOWN_CHANNEL)
        row = rows.get(key)
        if row is None:
            rows[key] = [key[0], key[1], weight, 1]
        else:
            row[2] += weight
            row[3] += 1
    return list(rows.values())


def _one_row(campaign_id: int | None, channel: str, touches: int) -> list[list]:
    return [[campaign_id, channel, 1, touches]]


def _decay_weights(window: Sequence[FastTouch], half_life_s: float) -> list[int]:
    """Time-decay weights relative to the youngest touch (see :func:`integer_weights`), from integer times.

    ``(youngest - t) / 10**6`` is exactly ``timedelta.total_seconds()`` of the same difference, so the
    weights are bit for bit those of :func:`integer_weights`.
    """
    if half_life_s <= 0:
        raise ValueError("half_life must be positive")
    youngest = max(t[0] for t in window)
    return [round(math.ldexp(2.0 ** (-((youngest - t[0]) / _US) / half_life_s), 53)) for t in window]


def attribute_window(revenue_xaf: int, margin_xaf: int, stated: str, window: Sequence[FastTouch],
                     refunds: Sequence[FastRefund] = (), *, models: Sequence[str] = MODELS,
                     half_life_s: float = 7 * 86400.0) -> list[ModelGroup]:
    """The credit rows of one order under ``models``, grouped by models that agree.

    ``window`` holds the touches that count (in the lookback window, not after the order), oldest
    first with ties by id, as :data:`FastTouch`; ``stated`` is the normalised source the customer
    gave (or ``""``); ``refunds`` are :data:`FastRefund`. This is the whole rule set of the module
    (see its docstring); :func:`attribute_order` is the same computation on dataclasses and datetimes.
    """
    n = len(window)
    if n <= 1 and not refunds and models is MODELS:
        # Most orders: no touch or one, no refund. Every model gives the same single row, except
        # self-reported when the customer stated a source.
        if n == 0:
            return [(MODELS, [(None, stated or UNKNOWN_CHANNEL, revenue_xaf, margin_xaf, 0, 1.0)], [])]
        campaign_id, channel = window[0][3], window[0][2] or UNKNOWN_CHANNEL
        if stated:
            return [(TRACKED_MODELS, [(campaign_id, channel, revenue_xaf, margin_xaf, 1, 1.0)], []),
                    (_SELF_ONLY, [(None, stated, revenue_xaf, margin_xaf, 0, 1.0)], [])]
        return [(MODELS, [(campaign_id, channel, revenue_xaf, margin_xaf, 1, 1.0)], [])]
    out: list[ModelGroup] = []
    for group_models, rows in _plans(window, stated, models, half_life_s):
        if len(rows) == 1:
            campaign_id, channel, _, touches = rows[0]
            sales: list[SaleRow] = [(campaign_id, channel, revenue_xaf, margin_xaf, touches, 1.0)]
            revenue, margin = [revenue_xaf], [margin_xaf]
        else:
            weights = [row[2] for row in rows]
            weight_sum = sum(weights)
            revenue = allocate_int(revenue_xaf, weights)
            margin = allocate_int(margin_xaf, weights)
            sales = [(row[0], row[1], rev, mar, row[3], row[2] / weight_sum)
                     for row, rev, mar in zip(rows, revenue, margin, strict=True)]
        back = _refund_rows(revenue_xaf, margin_xaf, refunds, rows, revenue, margin) if refunds else []
        out.append((tuple(group_models), sales, back))
    return out


def _plans(window: Sequence[FastTouch], stated: str, models: Sequence[str], half_life_s: float
           ) -> list[tuple[list[str], list[list]]]:
    """The rows of each group of models that agree (:func:`attribute_window` without the amounts):
    ``[(models, [[campaign_id, channel, weight, touches], ...]), ...]``."""
    n = len(window)
    tracked = [m for m in models if m != SELF_REPORTED]
    wants_self = len(tracked) != len(models)
    plans: list[tuple[list[str], list[list]]] = []
    if n == 0:
        plans.append((list(models), _one_row(None, stated or UNKNOWN_CHANNEL, 0)))
    elif n == 1:
        only = window[0]
        rows = _one_row(only[3], only[2] or UNKNOWN_CHANNEL, 1)
        if wants_self and stated:
            plans.append((tracked, rows))
            plans.append(([SELF_REPORTED], _one_row(None, stated, 0)))
        else:
            plans.append((list(models), rows))
    else:
        first, last = window[0], window[-1]
        # Models that agree share one plan: last touch and self-reported without a statement; linear
        # and position-based over two touches (50/50).
        shared: dict[str, tuple[list[str], list[list]]] = {}
        for model in models:
            if model == SELF_REPORTED and stated:
                plans.append(([model], _one_row(None, stated, 0)))
                continue
            if model in (LAST_TOUCH, SELF_REPORTED):
                kind = LAST_TOUCH
            elif model == LINEAR or (model == POSITION_BASED and n == 2):
                kind = LINEAR
            else:
                kind = model
            if kind in shared:
                shared[kind][0].append(model)
                continue
            if kind == FIRST_TOUCH:
                rows = _one_row(first[3], first[2] or UNKNOWN_CHANNEL, 1)
            elif kind == LAST_TOUCH:
                rows = _one_row(last[3], last[2] or UNKNOWN_CHANNEL, 1)
            elif kind == LINEAR:
                rows = _keyed_rows(window, [1] * n)
            elif kind == POSITION_BASED:
                end = 2 * (n - 2)
                rows = _keyed_rows(window, [end] + [1] * (n - 2) + [end])
            elif kind == TIME_DECAY:
                rows = _keyed_rows(window, _decay_weights(window, half_life_s))
            else:
                raise ValueError(f"unknown attribution model {model!r}")
            shared[kind] = ([model], rows)
            plans.append(shared[kind])
    return plans


def attribute_order(order: OrderFacts, touches: Sequence[Touch], *, models: Sequence[str] = MODELS,
                    settings: Settings | None = None) -> list[Credit]:
    """Credit rows of ``order`` under each of ``models``, refunds included.

    For each model the sale rows sum exactly to ``revenue_xaf`` and ``margin_xaf``, and
    the refund rows to minus the refunded revenue and the margin it carried.
    """
    settings = settings or Settings()
    window = touches_in_window(touches, order.placed_at, settings.lookback)
    fast = [(to_us(t.occurred_at), t.touch_id, t.channel, t.campaign_id) for t in window]
    refunds = [(to_us(r.refunded_at), r.refund_id, r.amount_xaf, r) for r in order.refunds]
    by_model: dict[str, list[Credit]] = {}
    for group_models, sales, back in attribute_window(order.revenue_xaf, order.margin_xaf,
                                                      order.self_reported_channel, fast, refunds,
                                                      models=models, half_life_s=settings.half_life.total_seconds()):
        for model in group_models:
            rows = [Credit(order.order_id, model, campaign_id, channel, rev, mar, order.placed_at, touches=count,
                           weight=weight) for campaign_id, channel, rev, mar, count, weight in sales]
            for refund, campaign_id, channel, rev, mar, count in back:
                original = refund[3]
                assert isinstance(original, Refund)
                rows.append(Credit(order.order_id, model, campaign_id, channel, rev, mar, original.refunded_at,
                                   is_refund=True, refund_id=original.refund_id, touches=count))
            by_model[model] = rows
    return [credit for model in models for credit in by_model[model]]


def _refund_rows(revenue_xaf: int, margin_xaf: int, refunds: Sequence[FastRefund], rows: list[list],
                 revenue: list[int], margin: list[int]) -> list[RefundRow]:
    """Negative rows for each refund, in the order the refunds happened."""
    remaining_rev = list(revenue)
    remaining_mar = list(margin)
    refunded = 0  # cumulative revenue refunded so far
    margin_back = 0  # cumulative margin given back so far
    out: list[RefundRow] = []
    total_rev = max(revenue_xaf, 0)
    for refund in sorted(refunds, key=lambda r: (r[0], r[1])):
        amount = max(0, min(refund[2], total_rev - refunded))
        refunded += amount
        # Margin carried by the refunded revenue, cumulative so the whole revenue gives back the whole margin.
        # int(Fraction) truncates towards zero, for a negative margin too.
        target = int(Fraction(margin_xaf * refunded, total_rev)) if total_rev else 0
        margin_step = target - margin_back
        margin_back = target
        rev_parts = allocate_int(amount, [max(r, 0) for r in remaining_rev])
        mar_parts = allocate_int(margin_step, [abs(m) for m in remaining_mar])
        for i, row in enumerate(rows):
            remaining_rev[i] -= rev_parts[i]
            remaining_mar[i] -= mar_parts[i]
            if rev_parts[i] == 0 and mar_parts[i] == 0:
                continue  # a small refund may leave a pair untouched: no empty row
            out.append((refund, row[0], row[1], -rev_parts[i], -mar_parts[i], row[3]))
    return out


def sum_credits(credits: Sequence[Credit], model: str) -> tuple[int, int]:
    """Total revenue and margin of ``model``'s rows (refunds included)."""
    rows = [c for c in credits if c.model == model]
    return sum(c.revenue_xaf for c in rows), sum(c.margin_xaf for c in rows)
