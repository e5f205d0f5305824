"""Reports: the weekly ROI report checked by hand, CSV, model comparison, funnel, LTV, cohorts, RFM.

The hand-checked week is Monday 16 to Sunday 22 November 2026 (Africa/Douala), linear model:

    costs:  FB1 (facebook_ads) 6,000 on Mon 16 + 4,000 on Wed 18 = 10,000
            TG1 (telegram)     5,000 on Tue 17
            FLY (flyer)        2,000 on Sat 21, and no order: "cost without orders"
            FB1 5,000 on Mon 9 (previous week)
    orders: Awa   Wed 18 10:00, net 20,000, lines 8,000 -> margin 12,000;
                  touches FB1 (Sun 15) and TG1 (Tue 17) -> linear 10,000 / 6,000 each, weight 0.5
            Bella Thu 19, net 5,000, lines 3,000, said "Facebook" -> facebook_page 5,000 / 2,000
            Chris Fri 20, net 3,000, lines 2,000, nothing known -> unknown 3,000 / 1,000
    facebook_ads: ROAS 10,000 / 10,000 = 1.0; ROI (6,000 - 10,000) / 10,000 = -0.4;
                  CAC 10,000 / 0.5 new customer = 20,000; break-even 10,000 / 0.6 = 16,667
    telegram:     ROAS 2.0; ROI (6,000 - 5,000) / 5,000 = 0.2; CAC 10,000; break-even 8,333
    orders without a source: 1 of 3 -> share 0.3333
"""

from __future__ import annotations

import csv
import io

import pytest
from django.utils import timezone

from api.attribution import services
from api.attribution.models import RfmScore
from tests.attribution import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def week(db):
    fb = f.campaign("fb1", "facebook_ads")
    tg = f.campaign("tg1", "telegram")
    fly = f.campaign("fly", "flyer")
    f.cost(fb, "2026-11-16", 6_000)
    f.cost(fb, "2026-11-18", 4_000)
    f.cost(tg, "2026-11-17", 5_000)
    f.cost(fly, "2026-11-21", 2_000, kind="printing")
    f.cost(fb, "2026-11-09", 5_000)
    awa = f.contact(created=f.at("2026-11-15", 9), segment="host")
    bella = f.contact(created=f.at("2026-11-19", 8), segment="healthy")
    chris = f.contact(created=f.at("2026-11-20", 8))
    f.touch(awa, f.at("2026-11-15"), camp=fb)
    f.touch(awa, f.at("2026-11-17"), camp=tg, channel="telegram", kind="bot_start")
    f.order(awa, f.at("2026-11-18", 10), revenue=20_000, cost=8_000, fee=1_000)
    f.order(bella, f.at("2026-11-19"), revenue=5_000, cost=3_000, source="Facebook")
    f.order(chris, f.at("2026-11-20"), revenue=3_000, cost=2_000)
    services.attribution_run(full=True)
    return {"fb": fb, "tg": tg, "fly": fly, "awa": awa, "bella": bella, "chris": chris}


def _rows(body):
    return {r["channel"]: r for r in body["rows"]}


def test_weekly_report_per_channel_matches_the_hand_check(staff_client, week):
    response = staff_client.get("/api/v1/reports/weekly?week=2026-11-19&model=linear")
    assert response.status_code == 200
    body = response.json()
    assert (body["week_start"], body["week_end"], body["model"]) == ("2026-11-16", "2026-11-22", "linear")
    rows = _rows(body)
    fb = rows["facebook_ads"]
    assert (fb["cost_xaf"], fb["revenue_xaf"], fb["margin_xaf"], fb["orders"], fb["new_customers"]) == (
        10_000, 10_000, 6_000, 0.5, 0.5)
    assert (fb["roas"], fb["roi"], fb["cac_xaf"], fb["break_even_revenue_xaf"]) == (1.0, -0.4, 20_000, 16_667)
    tg = rows["telegram"]
    assert (tg["cost_xaf"], tg["revenue_xaf"], tg["roas"], tg["roi"], tg["cac_xaf"], tg["break_even_revenue_xaf"]) == (
        5_000, 10_000, 2.0, 0.2, 10_000, 8_333)
    assert rows["facebook_page"]["revenue_xaf"] == 5_000
    assert rows["facebook_page"]["roas"] is None
    assert rows["flyer"]["cost_without_orders"] is True
    assert body["unattributed_cost_xaf"] == 2_000
    assert (body["orders_without_source"], body["share_orders_without_source"]) == (1.0, 0.3333)
    totals = body["totals"]
    assert (totals["cost_xaf"], totals["revenue_xaf"], totals["margin_xaf"], totals["orders"],
            totals["new_customers"]) == (17_000, 28_000, 15_000, 3.0, 3.0)
    # Leads: Bella and Chris were created this week without a tracked touch (Awa the week before).
    assert rows["unknown"]["leads"] == 2
    # The previous week had 5,000 of facebook cost and no revenue: the change is not a number.
    assert fb["revenue_change_vs_previous_week"] is None
    assert fb["roas_4_week_average"] == 0.0


def test_weekly_report_per_campaign_and_as_csv(staff_client, week):
    body = staff_client.get("/api/v1/reports/weekly?week=2026-11-16&model=linear&group=campaign").json()
    by_code = {r["campaign_code"]: r for r in body["rows"]}
    assert by_code["FB1"]["revenue_xaf"] == 10_000
    assert by_code["TG1"]["cost_xaf"] == 5_000
    assert by_code[None]["campaign_name"] == "no campaign"
    response = staff_client.get("/api/v1/reports/weekly.csv?week=2026-11-16&model=linear")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    lines = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert lines[-1]["channel"] == "TOTAL"
    assert lines[-1]["revenue_xaf"] == "28000"
    assert {line["channel"] for line in lines} >= {"facebook_ads", "telegram", "flyer", "unknown"}


def test_model_comparison_shows_every_model_side_by_side(staff_client, week):
    body = staff_client.get("/api/v1/reports/model-comparison?week=2026-11-16").json()
    rows = {r["channel"]: {m["model"]: m["revenue_xaf"] for m in r["models"]} for r in body["rows"]}
    # Awa's 20,000: first touch all to facebook, last touch all to telegram, linear half each.
    assert rows["facebook_ads"]["first_touch"] == 20_000
    assert rows["facebook_ads"]["last_touch"] == 0
    assert rows["telegram"]["last_touch"] == 20_000
    assert rows["telegram"]["linear"] == 10_000
    assert rows["facebook_ads"]["time_decay"] + rows["telegram"]["time_decay"] == 20_000


def test_a_bad_model_is_a_400_in_the_common_shape(staff_client, api_client):
    response = staff_client.get("/api/v1/reports/weekly?model=magic")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "model"
    assert api_client.get("/api/v1/reports/weekly").status_code == 401


def test_funnel_counts_stage_entries_and_touches_before_the_first_order(staff_client, week):
    from api.contacts.services import contact_set_lifecycle_stage

    contact_set_lifecycle_stage(contact_id=week["bella"].pk, stage="prospect", reason="test")
    body = staff_client.get("/api/v1/reports/funnel?weeks=2&until=2026-11-16").json()
    this_week = body["weeks"][-1]
    assert this_week["week_start"] == "2026-11-16"
    assert this_week["suspect"] == 2  # Bella and Chris were created this week
    assert this_week["first_orders"] == 3
    # Touches before the first order: Awa 2, Bella 0, Chris 0 -> median 0.
    assert this_week["median_touches_before_first_order"] == 0
    assert body["expected_touches"] == 9


def test_ltv_and_cohorts(staff_client, week, monkeypatch):
    # Reports measure tenure and cohorts up to "now": pin it to Wednesday 25 November 2026.
    monkeypatch.setattr(timezone, "now", lambda: f.at("2026-11-25", 12))
    f.order(week["awa"], f.at("2026-11-24"), revenue=10_000, cost=4_000)
    dan = f.contact()
    f.order(dan, f.at("2026-09-10"), revenue=1_000)
    f.order(dan, f.at("2026-10-05"), revenue=1_000)
    services.attribution_run(full=True)
    body = staff_client.get("/api/v1/reports/ltv?model=first_touch").json()
    assert body["overall"]["customers"] == 4
    assert body["overall"]["orders"] == 6
    assert body["overall"]["revenue_xaf"] == 40_000
    assert "average order value" in body["method"]
    channels = {r["name"]: r for r in body["channels"]}
    # Awa was acquired by facebook (first touch); facebook cost 15,000 in all for 1 new customer.
    assert channels["facebook_ads"]["customers"] == 1
    assert channels["facebook_ads"]["cac_xaf"] == 15_000
    assert channels["facebook_ads"]["ltv_to_cac"] is not None
    top = body["customers"][0]
    assert (top["contact_id"], top["orders"], top["revenue_xaf"]) == (week["awa"].pk, 2, 30_000)
    segments = {r["name"]: r["customers"] for r in body["segments"]}
    assert segments == {"host": 1, "healthy": 1, "unknown": 2}
    cohorts = staff_client.get("/api/v1/reports/cohorts?months=36").json()["cohorts"]
    by_month = {c["cohort"]: c for c in cohorts}
    # Dan first ordered in September and again in October (not in November, the current month).
    assert (by_month["2026-09-01"]["customers"], by_month["2026-09-01"]["retention"]) == (1, [1.0, 1.0, 0.0])
    assert (by_month["2026-11-01"]["customers"], by_month["2026-11-01"]["retention"]) == (3, [1.0])


def test_rfm_scores_are_recomputed_and_filterable(staff_client):
    now = timezone.now()
    best, sleeper = f.rfm_customers(now)
    assert services.rfm_recompute(now=now) == 5
    assert services.rfm_recompute(now=now) == 5  # idempotent
    top = RfmScore.objects.get(contact_id=best.pk)
    assert (top.r_score, top.f_score, top.m_score, top.group) == (5, 5, 5, "champions")
    low = RfmScore.objects.get(contact_id=sleeper.pk)
    assert (low.r_score, low.m_score, low.group) == (1, 1, "hibernating")
    body = staff_client.get("/api/v1/reports/rfm?group=champions").json()
    assert [r["contact_id"] for r in body["results"]] == [best.pk]
    assert body["results"][0]["code"] == "555"


def test_referral_leaderboard(staff_client):
    ambassador = f.contact()
    for revenue in (6_000, 4_000):
        friend = f.contact(referred_by=ambassador)
        f.order(friend, f.at("2026-11-02"), revenue=revenue)
    f.contact(referred_by=ambassador)  # came, did not buy
    services.attribution_run(full=True)
    rows = staff_client.get("/api/v1/reports/referrals/leaderboard").json()
    assert [(r["contact_id"], r["referrals"], r["referred_buyers"], r["referred_revenue_xaf"]) for r in rows] == [
        (ambassador.pk, 3, 2, 10_000)]


def test_the_html_report_has_its_charts_and_tables(staff_client, week):
    response = staff_client.get("/api/v1/reports/weekly.html?week=2026-11-16&model=linear")
    assert response.status_code == 200
    html = response.content.decode()
    for chart in ("chart-roas", "chart-funnel", "chart-cohorts"):
        assert f'id="{chart}"' in html
    assert html.count("data:image/png;base64,") == 3
    assert "model-comparison" in html
    assert "facebook_ads" in html
