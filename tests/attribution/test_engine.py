"""The attribution engine: hand-computed fixtures for every model, and properties (hypothesis).

The fixture order is placed at T with net revenue 10,000 XAF and margin 3,001 XAF (odd on
purpose, so that rounding shows). Touches, oldest first:

    A  T-40 d  facebook  campaign 1   -> outside the 30-day window, never counts
    B  T-21 d  facebook  campaign 1
    C  T-14 d  whatsapp  campaign 2
    D  T-7 d   telegram  no campaign
    E  T       facebook  campaign 3   (at the order time: counts)
    F  T+1 d   whatsapp  campaign 2   -> after the order, never counts

So B, C, D, E are the four touches in the window.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.attribution import engine
from api.attribution.engine import (
    MODELS,
    OrderFacts,
    Refund,
    Settings,
    Touch,
    allocate,
    attribute_order,
    model_weights,
    normalize_source,
)

T = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)

TOUCHES = [
    Touch(1, T - 40 * DAY, "facebook", 1),
    Touch(2, T - 21 * DAY, "facebook", 1),
    Touch(3, T - 14 * DAY, "whatsapp", 2),
    Touch(4, T - 7 * DAY, "telegram", None),
    Touch(5, T, "facebook", 3),
    Touch(6, T + DAY, "whatsapp", 2),
]
B, C, D, E = (1, "facebook"), (2, "whatsapp"), (None, "telegram"), (3, "facebook")
ORDER = OrderFacts(order_id=7, placed_at=T, revenue_xaf=10_000, margin_xaf=3_001)


def split(order, model, touches=TOUCHES, **kwargs):
    """{(campaign, channel): (revenue, margin)} of the sale rows of ``model``."""
    rows = attribute_order(order, touches, models=[model], **kwargs)
    return {c.key: (c.revenue_xaf, c.margin_xaf) for c in rows if not c.is_refund}


# --- allocate --------------------------------------------------------------------------


def test_allocate_gives_leftover_units_to_the_largest_remainders_then_the_lowest_index():
    # 10 / 3 = 3.33 each: one unit left, all remainders equal -> the first part.
    assert allocate(10, [1, 1, 1]) == [4, 3, 3]
    # quotas 0.7, 1.4, 4.9 -> floors 0, 1, 4 (5); two left to remainders .9 (third) then .7 (first).
    assert allocate(7, [0.1, 0.2, 0.7]) == [1, 1, 5]
    # A negative total is split by its absolute value and negated.
    assert allocate(-10, [1, 1, 1]) == [-4, -3, -3]
    assert allocate(0, [1, 2]) == [0, 0]
    # All-zero weights split equally.
    assert allocate(5, [0, 0]) == [3, 2]
    assert allocate(0, []) == []


def test_allocate_refuses_negative_weights_and_a_total_without_parts():
    with pytest.raises(ValueError):
        allocate(10, [1, -1])
    with pytest.raises(ValueError):
        allocate(10, [])


# --- one fixture per model ---------------------------------------------------------------


def test_first_touch_credits_the_oldest_touch_in_the_window():
    # A is 40 days old (outside the window): B, the next one, takes everything.
    assert split(ORDER, "first_touch") == {B: (10_000, 3_001)}


def test_last_touch_credits_the_touch_at_the_order_time_not_the_one_after():
    # E is at T (counts), F is one day after the order (never counts).
    assert split(ORDER, "last_touch") == {E: (10_000, 3_001)}


def test_linear_splits_equally_with_the_leftover_unit_to_the_first_touch():
    # 10,000 / 4 = 2,500 each. Margin 3,001 / 4 = 750.25: floors 750 x 4 = 3,000, one unit
    # left, equal remainders -> the earliest touch B gets 751.
    assert split(ORDER, "linear") == {B: (2_500, 751), C: (2_500, 750), D: (2_500, 750), E: (2_500, 750)}


def test_position_based_gives_40_20_40():
    # 40 % / 10 % / 10 % / 40 %: revenue 4,000 / 1,000 / 1,000 / 4,000.
    # Margin quotas 1,200.4 / 300.1 / 300.1 / 1,200.4: floors sum to 3,000, one unit left,
    # remainders tie at .4 between B and E -> B (earlier) gets 1,201.
    assert split(ORDER, "position_based") == {B: (4_000, 1_201), C: (1_000, 300), D: (1_000, 300), E: (4_000, 1_200)}


def test_position_based_with_one_and_two_touches():
    one = [Touch(1, T - DAY, "facebook", 1)]
    assert split(ORDER, "position_based", one) == {(1, "facebook"): (10_000, 3_001)}
    two = [Touch(1, T - 2 * DAY, "facebook", 1), Touch(2, T - DAY, "whatsapp", 2)]
    # 50/50; margin 1,500.5 each -> the leftover unit to the first.
    assert split(ORDER, "position_based", two) == {(1, "facebook"): (5_000, 1_501), (2, "whatsapp"): (5_000, 1_500)}


def test_time_decay_halves_the_weight_every_seven_days():
    # Ages 21, 14, 7, 0 days -> raw weights 1/8, 1/4, 1/2, 1 (sum 15/8) -> 1/15, 2/15, 4/15, 8/15.
    # Revenue quotas 666.67, 1,333.33, 2,666.67, 5,333.33: floors 9,998, two units left to the
    # .67 remainders (B and D) -> 667, 1,333, 2,667, 5,333.
    # Margin quotas 200.07, 400.13, 800.27, 1,600.53: floors 3,000, one unit to E (.53) -> 1,601.
    assert split(ORDER, "time_decay") == {B: (667, 200), C: (1_333, 400), D: (2_667, 800), E: (5_333, 1_601)}


def test_time_decay_half_life_is_configurable():
    touches = [Touch(1, T - 14 * DAY, "facebook", 1), Touch(2, T, "whatsapp", 2)]
    # Half-life 14 days: weights 1/2 and 1 -> 1/3 and 2/3.
    weights = model_weights("time_decay", touches, T, half_life=timedelta(days=14))
    assert weights == [Fraction(1, 3), Fraction(2, 3)]
    got = split(ORDER, "time_decay", touches, settings=Settings(half_life=timedelta(days=14)))
    # 3,333.33 / 6,666.67 -> 3,333 / 6,667; margin 1,000.33 / 2,000.67 -> 1,000 / 2,001.
    assert got == {(1, "facebook"): (3_333, 1_000), (2, "whatsapp"): (6_667, 2_001)}


def test_lookback_is_configurable():
    # With 10 days only D (7 d) and E (0 d) count: first touch is D.
    assert split(ORDER, "first_touch", settings=Settings(lookback=10 * DAY)) == {D: (10_000, 3_001)}


def test_self_reported_credits_what_the_customer_said_even_with_touches():
    said = OrderFacts(7, T, 10_000, 3_001, self_reported_channel=normalize_source("Un ami m'en a parlé"))
    assert split(said, "self_reported") == {(None, "word_of_mouth"): (10_000, 3_001)}
    # The tracked models ignore the statement while tracked touches exist.
    assert split(said, "last_touch") == {E: (10_000, 3_001)}


def test_self_reported_without_a_statement_falls_back_to_the_last_touch():
    assert split(ORDER, "self_reported") == {E: (10_000, 3_001)}


def test_an_order_without_touch_in_the_window_gets_one_row_without_campaign():
    outside = [TOUCHES[0], TOUCHES[-1]]  # 40 days before and one day after
    for model in MODELS:
        assert split(ORDER, model, outside) == {(None, "unknown"): (10_000, 3_001)}
    said = OrderFacts(7, T, 10_000, 3_001, self_reported_channel="facebook_page")
    for model in MODELS:
        # What the customer said stands when no tracked touch exists.
        assert split(said, model, outside) == {(None, "facebook_page"): (10_000, 3_001)}


def test_touches_of_one_campaign_and_channel_make_one_row():
    touches = [Touch(1, T - 3 * DAY, "facebook", 1), Touch(2, T - 2 * DAY, "whatsapp", 2),
               Touch(3, T - DAY, "facebook", 1)]
    rows = attribute_order(ORDER, touches, models=["linear"])
    # 3,333.33 x 3 -> 3,334 (first), 3,333, 3,333; the two facebook touches add up to 6,667.
    assert {c.key: (c.revenue_xaf, c.touches) for c in rows} == {(1, "facebook"): (6_667, 2),
                                                                  (2, "whatsapp"): (3_333, 1)}


def test_a_negative_margin_is_split_with_its_sign():
    loss = OrderFacts(7, T, 1_000, -1_001)
    two = [Touch(1, T - 2 * DAY, "facebook", 1), Touch(2, T - DAY, "whatsapp", 2)]
    # -1,001 / 2 = -500.5 each: -501 to the first, -500 to the second.
    assert split(loss, "linear", two) == {(1, "facebook"): (500, -501), (2, "whatsapp"): (500, -500)}


def test_refunds_reverse_the_credit_in_proportion_and_a_full_refund_nets_out():
    refunded = OrderFacts(7, T, 10_000, 3_001, refunds=(Refund(1, 2_500, T + DAY), Refund(2, 7_500, T + 2 * DAY)))
    rows = attribute_order(refunded, TOUCHES, models=["linear"])
    first = {c.key: (c.revenue_xaf, c.margin_xaf) for c in rows if c.refund_id == 1}
    # Refund 1: 2,500 over what each pair holds (2,500 each) -> 625 each. Margin carried:
    # 3,001 x 2,500 / 10,000 = 750.25 -> 750, split over 751/750/750/750: quotas 187.69,
    # 187.44 x 3 -> floors 748, two units to B (.69) then C (.44, earliest of the ties).
    assert first == {B: (-625, -188), C: (-625, -188), D: (-625, -187), E: (-625, -187)}
    assert all(c.occurred_at == T + DAY for c in rows if c.refund_id == 1)
    second = {c.key: (c.revenue_xaf, c.margin_xaf) for c in rows if c.refund_id == 2}
    # Refund 2 is the rest: every pair gives back what it still holds.
    assert second == {B: (-1_875, -563), C: (-1_875, -562), D: (-1_875, -563), E: (-1_875, -563)}
    net: dict = {}
    for c in rows:
        rev, mar = net.get(c.key, (0, 0))
        net[c.key] = (rev + c.revenue_xaf, mar + c.margin_xaf)
    assert set(net.values()) == {(0, 0)}


def test_a_refund_above_the_revenue_is_capped():
    over = OrderFacts(7, T, 1_000, 400, refunds=(Refund(1, 5_000, T + DAY),))
    assert engine.sum_credits(attribute_order(over, TOUCHES, models=["last_touch"]), "last_touch") == (0, 0)


def test_normalize_source():
    assert normalize_source("Facebook") == "facebook_page"
    assert normalize_source("Mon parrain") == "referral"
    assert normalize_source("un flyer") == "flyer"
    assert normalize_source("  par un AMI ") == "word_of_mouth"
    assert normalize_source("Dégustation au marché") == "tasting"
    assert normalize_source("La foire de Douala") == "fair"
    assert normalize_source("Radio Balafon") == "offline_media"
    assert normalize_source("Église St Jean") == "eglise_st_jean"
    assert normalize_source("") == ""


# --- properties -------------------------------------------------------------------------------

touch_st = st.builds(
    lambda i, hours, channel, campaign: Touch(i, T - timedelta(hours=hours), channel, campaign),
    st.integers(1, 10_000),
    st.integers(-48, 40 * 24),
    st.sampled_from(["facebook", "whatsapp", "telegram", "tasting"]),
    st.one_of(st.none(), st.integers(1, 5)),
)


@st.composite
def orders(draw):
    revenue = draw(st.integers(0, 5_000_000))
    margin = draw(st.integers(-revenue - 10_000, revenue))
    amounts = draw(st.lists(st.integers(0, max(revenue, 1)), max_size=4))
    refunds = tuple(Refund(i + 1, a, T + timedelta(days=i + 1)) for i, a in enumerate(amounts))
    said = draw(st.sampled_from(["", "facebook", "word_of_mouth"]))
    return OrderFacts(1, T, revenue, margin, said, refunds)


@settings(max_examples=300, deadline=None)
@given(order=orders(), touches=st.lists(touch_st, max_size=12, unique_by=lambda t: t.touch_id),
       half_life_days=st.integers(1, 30))
def test_credits_sum_exactly_keep_their_sign_and_refunds_net_out(order, touches, half_life_days):
    conf = Settings(half_life=timedelta(days=half_life_days))
    credits = attribute_order(order, touches, settings=conf)
    refunded = min(sum(r.amount_xaf for r in order.refunds), order.revenue_xaf)
    for model in MODELS:
        sales = [c for c in credits if c.model == model and not c.is_refund]
        refunds = [c for c in credits if c.model == model and c.is_refund]
        assert sales, "every order has at least one credit row per model"
        assert sum(c.revenue_xaf for c in sales) == order.revenue_xaf
        assert sum(c.margin_xaf for c in sales) == order.margin_xaf
        assert all(c.revenue_xaf >= 0 for c in sales)
        assert all(c.margin_xaf * order.margin_xaf >= 0 for c in sales)  # same sign as the total
        assert all(c.revenue_xaf <= 0 for c in refunds)
        assert all(c.margin_xaf * order.margin_xaf <= 0 for c in refunds)
        assert -sum(c.revenue_xaf for c in refunds) == refunded
        net: dict = {}
        for c in sales + refunds:
            rev, mar = net.get(c.key, (0, 0))
            net[c.key] = (rev + c.revenue_xaf, mar + c.margin_xaf)
        assert all(rev >= 0 for rev, _ in net.values())  # a refund never takes back more than a row holds
        if order.revenue_xaf > 0 and refunded == order.revenue_xaf:
            assert set(net.values()) == {(0, 0)}, "a full refund nets every row out"


@settings(max_examples=100, deadline=None)
@given(order=orders(), touches=st.lists(touch_st, max_size=8, unique_by=lambda t: t.touch_id), seed=st.randoms())
def test_the_same_inputs_in_any_order_give_the_same_rows(order, touches, seed):
    shuffled = list(touches)
    seed.shuffle(shuffled)
    assert attribute_order(order, touches) == attribute_order(order, shuffled)


@settings(max_examples=300, deadline=None)
@given(total=st.integers(-10**9, 10**9), weights=st.lists(st.floats(0, 1e6), min_size=1, max_size=20))
def test_allocate_sums_exactly_and_stays_within_one_unit_of_each_quota(total, weights):
    parts = allocate(total, weights)
    assert sum(parts) == total
    exact = [Fraction(w) for w in weights]
    weight_sum = sum(exact) or None
    for part, w in zip(parts, exact, strict=True):
        quota = total * w / weight_sum if weight_sum else Fraction(total, len(weights))
        assert abs(part - quota) < 1
        assert part * total >= 0
