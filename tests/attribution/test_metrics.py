"""Report arithmetic: business weeks, ratios, RFM quintiles and groups, LTV."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from api.attribution import metrics
from api.common import businesstime


def test_weeks_start_on_monday_midnight_in_douala():
    # The reports' weeks are the business weeks of api.common.businesstime.
    assert businesstime.week_start(date(2026, 11, 22)) == date(2026, 11, 16)  # a Sunday
    start, end = businesstime.week_bounds(date(2026, 11, 16))
    # Douala is UTC+1: the week starts on Sunday 23:00 UTC.
    assert start.astimezone(UTC) == datetime(2026, 11, 15, 23, 0, tzinfo=UTC)
    assert end - start == timedelta(days=7)


def test_ratios_are_none_without_a_denominator():
    roi = metrics.roi_figures(cost=0, revenue=5_000, margin=2_000, new_customers=0)
    assert (roi.roas, roi.roi, roi.cac) == (None, None, None)
    loss = metrics.roi_figures(cost=1_000, revenue=2_000, margin=-100, new_customers=2)
    # A negative margin can never pay the cost back: no break-even revenue.
    assert (loss.roas, loss.roi, loss.cac, loss.break_even_revenue_xaf) == (2.0, -1.1, 500, None)
    assert metrics.change(120, 100) == 0.2
    assert metrics.change(120, 0) is None


def test_quintiles_keep_ties_together():
    ordered = [1, 1, 1, 1, 1, 2, 3, 4, 5, 6]
    assert [metrics.quintile(v, ordered) for v in (1, 2, 3, 5, 6)] == [1, 3, 4, 5, 5]


def test_rfm_groups():
    assert metrics.rfm_group(5, 5, 5) == "champions"
    assert metrics.rfm_group(3, 4, 2) == "loyal"
    assert metrics.rfm_group(5, 1, 1) == "new"
    assert metrics.rfm_group(1, 5, 5) == "cannot_lose"
    assert metrics.rfm_group(2, 4, 2) == "at_risk"
    assert metrics.rfm_group(1, 1, 1) == "hibernating"


def test_ltv_is_aov_times_orders_per_year_times_lifetime():
    now = datetime(2026, 11, 25, tzinfo=UTC)
    year_ago = now - timedelta(days=365)
    # One customer: 4 orders of 10,000 over the last year (first a year ago, last today), still buying.
    value = metrics.ltv([metrics.CustomerValue(1, year_ago, now, 4, 40_000, 16_000)], now)
    # Customer-years (365 + 180 days) / 365.25 = 1.4921: 4 / 1.4921 = 2.6807 orders a year. Nobody is lost
    # yet, so the lifetime is the 3-year ceiling: 10,000 x 2.6807 x 3 = 80,422; margin rate 0.4.
    assert value.average_order_value_xaf == 10_000
    assert (value.lifetime_years, value.lifetime_bound) == (3.0, "ceiling")
    assert value.ltv_xaf == 80_422
    assert value.margin_ltv_xaf == 32_169
    assert metrics.ltv([], now).ltv_xaf is None
