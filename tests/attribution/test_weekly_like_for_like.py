"""The weekly report compares like with like, opens on the last complete week, and counts fixed costs.

Today is taken to be Wednesday 25 November 2026 (Africa/Douala): the week of Monday 23 is in progress,
3 days elapsed. One customer per order, no touch (all "unknown"), so every model gives the same totals:

    week of 16 Nov:  Mon 16  10,000   Tue 17  10,000   Fri 20  50,000   -> Mon-Wed 20,000, whole week 70,000
    week of 23 Nov:  Mon 23  15,000   Wed 25  15,000                    -> 30,000 so far
    like with like:  30,000 / 20,000 - 1 = +0.5   (against the whole week it would read -0.57)

Fixed costs of the week of 16 Nov (checked on the closed week): staff 70,000 + delivery 10,000;
a Facebook campaign spent 20,000 on Mon 16; the orders' lines cost 40 % of their price:

    margin 70,000 x 0.6 = 42,000; profit after fixed costs 42,000 - 20,000 - 80,000 = -58,000
    ROI after fixed costs -58,000 / (20,000 + 80,000) = -0.58
    break-even after them (20,000 + 80,000) / 0.6 = 166,667
"""

from __future__ import annotations

from datetime import date

import pytest

from api.attribution import selectors
from api.campaigns.models import FixedCost
from tests.attribution import factories as f

pytestmark = pytest.mark.django_db

TODAY = date(2026, 11, 25)


@pytest.fixture
def two_weeks(monkeypatch):
    monkeypatch.setattr(selectors, "business_today", lambda: TODAY)
    for day, revenue in (("2026-11-16", 10_000), ("2026-11-17", 10_000), ("2026-11-20", 50_000),
                         ("2026-11-23", 15_000), ("2026-11-25", 15_000)):
        f.order(f.contact(), f.at(day), revenue=revenue, cost=revenue * 4 // 10)
    f.cost(f.campaign("fb", "facebook_ads"), "2026-11-16", 20_000)
    f.full_run()


def test_a_week_in_progress_says_so_and_is_compared_with_the_same_days(two_weeks):
    report = selectors.weekly_roi_report(week=date(2026, 11, 24))

    assert report["in_progress"] is True
    assert (report["days_elapsed"], report["compared_days"]) == (3, 3)
    assert report["totals"]["revenue_xaf"] == 30_000
    assert report["totals"]["revenue_change_vs_previous_week"] == 0.5


def test_the_cached_report_compares_the_same_days_too(two_weeks):
    assert selectors.weekly_roi_report_cached(week=date(2026, 11, 23)) == selectors.weekly_roi_report(
        week=date(2026, 11, 23))
    assert selectors.weekly_roi_report_cached(week=date(2026, 11, 23))["totals"][
        "revenue_change_vs_previous_week"] == 0.5


def test_the_api_opens_on_the_last_complete_week(two_weeks, staff_client):
    body = staff_client.get("/api/v1/reports/weekly").json()

    assert body["week_start"] == "2026-11-16"
    assert body["in_progress"] is False
    assert body["days_elapsed"] == 7
    assert body["totals"]["revenue_xaf"] == 70_000


def test_profit_and_roi_after_fixed_costs(two_weeks, staff_client):
    for kind, amount in (("staff", 70_000), ("delivery", 10_000)):
        response = staff_client.post("/api/v1/fixed-costs", {"week": "2026-11-19", "kind": kind,
                                                              "amount_xaf": amount}, format="json")
        assert response.status_code == 201, response.content
        assert response.json()["week_start"] == "2026-11-16"

    totals = staff_client.get("/api/v1/reports/weekly?week=2026-11-16").json()["totals"]

    assert totals["fixed_costs_xaf"] == {"staff": 70_000, "delivery": 10_000, "other": 0}
    assert totals["profit_after_fixed_costs_xaf"] == -58_000
    assert totals["roi_after_fixed_costs"] == -0.58
    assert totals["break_even_revenue_after_fixed_costs_xaf"] == 166_667


def test_a_week_in_progress_counts_its_share_of_the_fixed_costs(two_weeks):
    FixedCost.objects.create(week_start=date(2026, 11, 23), kind="staff", amount_xaf=70_000)

    totals = selectors.weekly_roi_report(week=date(2026, 11, 23))["totals"]

    assert totals["fixed_costs_xaf"]["staff"] == 30_000  # 3 days of 7
