"""LTV with a stated method (api/attribution/ltv.py), checked on four customers computed by hand.

The report is taken on Wednesday 25 November 2026 at noon (Douala); a customer is lost after 180 days
without an order; the lifetime ceiling is 3 years; a year is 365.25 days. Every order is placed at
10:00, so the spans below are whole days.

| customer | segment | acquired by (first touch) | orders (net revenue / product cost) | span | lost? |
|---|---|---|---|---|---|
| Awa | host | Facebook ad (FB) | 10 Jan 20,000/8,000; 11 Mar 20,000/8,000 | 60 d | yes: 259 days since |
| Bella | host | Facebook ad (FB) | 26 Oct 30,000/12,000 + 1,000 delivery fee; 6,000 refunded on 30 Oct | 0 d | no: 30 days |
| Chris | healthy | nothing (unknown) | 1 Feb 10,000/5,000 | 0 d | yes: 297 days |
| Dan | healthy | tasting (DEGUST) | 2 Aug, 1 Sep, 1 Nov: 15,000/6,000 each | 91 d | no: 24 days |

Bella's net revenue is 30,000 - 6,000 = 24,000 (the delivery fee is not revenue); her margin 18,000
less the margin the refund carried (18,000 x 6,000 / 30,000 = 3,600) = 14,400. Costs: FB 40,000,
DEGUST 15,000.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from api.attribution import conf, ltv
from tests.attribution import factories as f

pytestmark = pytest.mark.django_db

NOW = f.at("2026-11-25", 12)


@pytest.fixture
def shop(monkeypatch):
    monkeypatch.setattr(conf, "LTV_CHURN_AFTER_DAYS", 180)
    monkeypatch.setattr(conf, "LTV_MAX_LIFETIME_YEARS", 3.0)
    fb = f.campaign("FB", "facebook_ads")
    tasting = f.campaign("DEGUST", "tasting")
    f.cost(fb, "2026-01-05", 40_000)
    f.cost(tasting, "2026-08-01", 15_000)
    awa = f.contact(segment="host")
    f.touch(awa, f.at("2026-01-09"), camp=fb)
    f.order(awa, f.at("2026-01-10"), revenue=20_000, cost=8_000)
    f.order(awa, f.at("2026-03-11"), revenue=20_000, cost=8_000)
    bella = f.contact(segment="host")
    f.touch(bella, f.at("2026-10-25"), camp=fb)
    bought = f.order(bella, f.at("2026-10-26"), revenue=30_000, cost=12_000, fee=1_000)
    f.refund(bought, 6_000, f.at("2026-10-30"))
    chris = f.contact(segment="healthy")
    f.order(chris, f.at("2026-02-01"), revenue=10_000, cost=5_000)
    dan = f.contact(segment="healthy")
    f.touch(dan, f.at("2026-08-01"), camp=tasting, channel="in_person", kind="tasting_visit")
    for day in ("2026-08-02", "2026-09-01", "2026-11-01"):
        f.order(dan, f.at(day), revenue=15_000, cost=6_000)
    f.full_run()
    monkeypatch.setattr(timezone, "now", lambda: NOW)
    return {"awa": awa, "bella": bella, "chris": chris, "dan": dan}


def test_the_ltv_report_matches_the_hand_computation(staff_client, shop):
    body = staff_client.get("/api/v1/reports/ltv?model=first_touch").json()
    assert body["parameters"]["churn_after_days"] == 180
    assert "1 / annual churn" in body["method"]

    # Everyone: 7 orders, net revenue 40,000 + 24,000 + 10,000 + 45,000 = 119,000, margin 24,000 + 14,400
    # + 5,000 + 27,000 = 70,400. Customer-days (span + 180 each): 240 + 180 + 180 + 271 = 871, i.e.
    # 2.38467 customer-years. AOV 119,000 / 7 = 17,000; 7 / 2.38467 = 2.935 orders a year. Awa and Chris
    # are lost: churn 2 / 2.38467 = 0.8387 a year, lifetime 1 / 0.8387 = 1.192 years.
    # LTV = 17,000 x 2.935 x 1.192 = 59,500 (= 119,000 / 2 lost); margin LTV = 70,400 / 2 = 35,200.
    overall = body["overall"]
    assert (overall["customers"], overall["orders"], overall["revenue_xaf"], overall["margin_xaf"]) == (
        4, 7, 119_000, 70_400)
    assert (overall["average_order_value_xaf"], overall["customer_years"], overall["orders_per_year"]) == (
        17_000, 2.385, 2.935)
    assert (overall["lost_customers"], overall["annual_churn_rate"], overall["lifetime_years"]) == (2, 0.8387, 1.192)
    assert (overall["ltv_xaf"], overall["margin_ltv_xaf"]) == (59_500, 35_200)
    # Already spent: 119,000 / 4 = 29,750 per customer (margin 17,600): the LTV is above it.
    assert (overall["revenue_per_customer_xaf"], overall["margin_per_customer_xaf"]) == (29_750, 17_600)
    assert overall["ltv_floor_applied"] is False
    # CAC: 55,000 of costs / 4 new customers = 13,750. LTV:CAC = 35,200 / 13,750 = 2.56; LTV net of
    # acquisition cost = 59,500 - 13,750 = 45,750 (in margin 35,200 - 13,750 = 21,450).
    assert (overall["cac_xaf"], overall["ltv_to_cac"], overall["revenue_ltv_to_cac"]) == (13_750, 2.56, 4.33)
    assert (overall["ltv_net_of_cac_xaf"], overall["margin_ltv_net_of_cac_xaf"]) == (45_750, 21_450)

    segments = {row["name"]: row for row in body["segments"]}
    # Host (Awa, Bella): 64,000 and margin 38,400 over 240 + 180 = 420 customer-days, Awa lost:
    # LTV 64,000 / 1 = 64,000, margin LTV 38,400, lifetime 420 / 365.25 = 1.15 years.
    host = segments["host"]
    assert (host["ltv_xaf"], host["margin_ltv_xaf"], host["lifetime_years"]) == (64_000, 38_400, 1.15)
    # Both came by Facebook: all of FB's 40,000 for 2 new customers, CAC 20,000; LTV:CAC 38,400 / 20,000.
    assert (host["cost_xaf"], host["new_customers"], host["cac_xaf"], host["ltv_to_cac"]) == (40_000, 2, 20_000, 1.92)
    assert host["ltv_net_of_cac_xaf"] == 44_000
    # Healthy (Chris, Dan): 55,000, margin 32,000, Chris lost: LTV 55,000, margin LTV 32,000. Chris cost
    # nothing, Dan the whole tasting (15,000): CAC (0 + 15,000) / 2 = 7,500; LTV:CAC 32,000 / 7,500 = 4.27.
    healthy = segments["healthy"]
    assert (healthy["ltv_xaf"], healthy["margin_ltv_xaf"]) == (55_000, 32_000)
    assert (healthy["cac_xaf"], healthy["ltv_to_cac"], healthy["ltv_net_of_cac_xaf"]) == (7_500, 4.27, 47_500)

    channels = {row["name"]: row for row in body["channels"]}
    assert channels["facebook_ads"]["customers"] == 2
    assert (channels["facebook_ads"]["ltv_xaf"], channels["facebook_ads"]["cac_xaf"]) == (64_000, 20_000)
    # Tasting: Dan alone, not lost, so the lifetime is the 3-year ceiling. 271 customer-days = 0.74196
    # years, 3 / 0.74196 = 4.0434 orders a year: LTV 15,000 x 4.0434 x 3 = 181,951, margin (60 %) 109,171.
    dan = channels["tasting"]
    assert (dan["lifetime_years"], dan["lifetime_bound"], dan["annual_churn_rate"]) == (3.0, "ceiling", 0.0)
    assert (dan["ltv_xaf"], dan["margin_ltv_xaf"]) == (181_951, 109_171)
    assert (dan["cac_xaf"], dan["ltv_to_cac"], dan["ltv_net_of_cac_xaf"]) == (15_000, 7.28, 166_951)
    # Chris came by no known channel: one order, lost, 180 customer-days: churn 2.029 a year, lifetime
    # 0.493 years (the floor, reached by itself), LTV 10,000: what he spent. Free: no CAC, no ratio.
    chris = channels["unknown"]
    assert (chris["ltv_xaf"], chris["lifetime_years"], chris["annual_churn_rate"]) == (10_000, 0.493, 2.0292)
    assert (chris["cac_xaf"], chris["ltv_to_cac"], chris["ltv_net_of_cac_xaf"]) == (0, None, None)

    lost = {row["contact_id"]: row["lost"] for row in body["customers"]}
    assert lost == {shop["awa"].pk: True, shop["bella"].pk: False, shop["chris"].pk: True, shop["dan"].pk: False}


def test_ltv_is_never_below_what_the_customers_already_spent():
    now = datetime(2026, 11, 25, 12, tzinfo=UTC)
    # A customer of five years (1,826 days) with 10 orders of 10,000, still buying, and nobody lost: the
    # formula gives 10,000 x (10 / ((1,826 + 180) / 365.25) = 1.8208 a year) x 3 years (ceiling) = 54,626,
    # less than the 100,000 they have already spent: the LTV is 100,000 (margin: 40,000 spent).
    loyal = ltv.CustomerValue(1, now - timedelta(days=1_826 + 10), now - timedelta(days=10), 10, 100_000, 40_000)
    value = ltv.ltv([loyal], now, churn_after_days=180, max_lifetime_years=3.0)
    assert (value.orders_per_year, value.lifetime_bound) == (1.821, "ceiling")
    assert (value.ltv_xaf, value.margin_ltv_xaf, value.ltv_floor_applied) == (100_000, 40_000, True)


def test_ltv_settings_change_the_figures_as_stated(monkeypatch, shop):
    from api.attribution import selectors

    # A 400-day churn horizon: nobody is lost (Awa 259 days, Chris 297), so the lifetime is the ceiling,
    # here lowered to 2 years. Customer-days: 60 + 0 + 0 + 91 + 4 x 400 = 1,751
    # (4.79398 years); 7 / 4.79398 = 1.4602 orders a year; LTV = 17,000 x 1.4602 x 2 = 49,646.
    monkeypatch.setattr(conf, "LTV_CHURN_AFTER_DAYS", 400)
    monkeypatch.setattr(conf, "LTV_MAX_LIFETIME_YEARS", 2.0)
    overall = selectors.ltv_report(model="first_touch", now=NOW)["overall"]
    assert (overall["lost_customers"], overall["lifetime_years"], overall["lifetime_bound"]) == (0, 2.0, "ceiling")
    assert overall["ltv_xaf"] == 49_646
