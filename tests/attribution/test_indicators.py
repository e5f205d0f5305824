"""The CRM indicators of one demo week, computed by hand (``api.attribution.indicators`` defines them).

The demo week is Monday 16 to Sunday 22 November 2026 (Africa/Douala), H (LTV_CHURN_AFTER_DAYS) = 180
days, so the week starts 180 days after Wed 20 May 2026 00:00:

    sales (net = total - delivery fee)      placed                          as of the week
    Ama     20,000 (+ 1,000 fee)            Tue 17 Nov                      first sale ever: new customer
    Ben     10,000, 30,000                  Thu 1 Oct, Wed 18 Nov           active at the start (Oct < 180 days)
    Carl     5,000                          Thu 21 May 10:00                active at the start (21 May >= 20 May);
                                                                            silence ends Tue 17 Nov 10:00: lost
    Dora     8,000, 12,000                  Sun 1 Mar, Fri 20 Nov           lapsed at the start (1 Mar < 20 May),
                                                                            ordered in the week: reactivated
    Eli      4,000                          Sat 10 Jan                      lapsed at the start, still silent
    (a cancelled order and a free sample in the week count for nothing)

    average basket    (20,000 + 30,000 + 12,000) / 3 sales = 20,666.7 -> 20,667 XAF
    frequency         7 sales in the 365 days before Mon 23 Nov / 5 customers = 1.4
    attrition         1 lost (Carl) / 2 active at the start (Ben, Carl) = 0.5
    reactivation      1 (Dora) / 2 lapsed at the start (Dora, Eli) = 0.5
    new prospects     2 lifecycle moves to prospect in the week (a third on Sun 15 is the week before)
    conversion        1 new customer (Ama) / 2 new prospects = 0.5
    prospects now     3 contacts at the prospect stage

    campaign NOEL: its messages reached Pia, Paul and Pat on Mon 16 09:00 (the recipients' source);
    Pia clicked the tracked link Tue 17, Paul wrote with the code Wed 18, Pat never answered;
    Ama also clicked on Thu 19; one more click on Sun 15 is the week before
        clicks 2 (Pia, Ama), replies with the code 1 (Paul)
        response rate 2 responders (Pia, Paul) / 3 recipients = 0.6667; clicks per recipient 2 / 3 = 0.6667

    file decay over the 12 months before Mon 23 Nov: the live contacts created before 23 Nov 2025 are
    Olga, Omar, Otto, Oumou (an erased one does not count): Olga opted out in June, Oumou's WhatsApp was
    found unreachable in July (2 unreachable); Omar had no touch and no order since (1 stale); Otto was
    touched in September. Decay = 3 / 4 = 0.75, outside the 15-25 % the texts quote.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.utils import timezone

from api.attribution import conf, indicator_inputs, indicators, services
from api.attribution.models import RfmScore, WeeklyIndicators
from api.campaigns import message_recipients
from api.contacts.models import Consent, Contact, ContactEvent
from api.orders.models import GiftBox, OrderLine, Product
from tests.attribution import factories as f

pytestmark = pytest.mark.django_db

MONDAY = date(2026, 11, 16)


def _move(person, when, stage):
    ContactEvent.objects.create(contact=person, at=when, kind="lifecycle_changed", summary="",
                                data={"from": "suspect", "to": stage})


@pytest.fixture
def demo_week(monkeypatch):
    monkeypatch.setattr(conf, "LTV_CHURN_AFTER_DAYS", 180)
    ama, ben, carl, dora, eli = (f.contact() for _ in range(5))
    f.order(ama, f.at("2026-11-17"), revenue=20_000, fee=1_000)
    f.order(ben, f.at("2026-10-01"), revenue=10_000)
    f.order(ben, f.at("2026-11-18"), revenue=30_000)
    f.order(carl, f.at("2026-05-21", 10), revenue=5_000)
    f.order(dora, f.at("2026-03-01"), revenue=8_000)
    f.order(dora, f.at("2026-11-20"), revenue=12_000)
    f.order(eli, f.at("2026-01-10"), revenue=4_000)
    f.order(eli, f.at("2026-11-19"), revenue=9_000, status="cancelled")
    f.order(eli, f.at("2026-11-19"), revenue=9_000, is_sample=True)

    pia, paul, pat = (f.contact(stage="prospect") for _ in range(3))
    _move(pia, f.at("2026-11-16", 11), "prospect")
    _move(paul, f.at("2026-11-21", 11), "prospect")
    _move(pat, f.at("2026-11-15", 11), "prospect")
    _move(ama, f.at("2026-11-17", 12), "customer")

    noel = f.campaign("noel", "whatsapp")
    f.touch(pia, f.at("2026-11-17", 8), camp=noel, channel="web", kind="link_click")
    f.touch(paul, f.at("2026-11-18", 8), camp=noel, channel="whatsapp", kind="inbound_message")
    f.touch(ama, f.at("2026-11-19", 8), camp=noel, channel="web", kind="link_click")
    f.touch(pat, f.at("2026-11-15", 8), camp=noel, channel="web", kind="link_click")
    sent = f.at("2026-11-16", 9)
    monkeypatch.setattr(message_recipients, "_sources",
                        [lambda start, end: [("noel", p.pk, sent) for p in (pia, paul, pat) if start <= sent < end]])

    old = f.at("2025-01-01")
    olga, omar, otto, oumou, gone = (f.contact(created=old) for _ in range(5))
    Contact.objects.filter(pk=olga.pk).update(opted_out_at=f.at("2026-06-01"))
    Consent.objects.create(contact=oumou, channel="whatsapp", unreachable_at=f.at("2026-07-01"))
    Contact.objects.filter(pk=gone.pk).update(erased_at=f.at("2026-02-01"))
    f.touch(otto, f.at("2026-09-01"))
    f.touch(oumou, f.at("2026-09-01"))
    return noel


def test_the_demo_week_s_indicators_are_the_hand_computed_ones(demo_week):
    figures = services.week_indicators_compute(monday=MONDAY)

    assert figures["in_progress"] is False
    assert figures["days_elapsed"] == 7
    assert figures["sales"] == 3
    assert figures["average_basket_xaf"] == 20_667
    assert figures["purchase_frequency"] == 1.4
    assert (figures["active_customers_at_start"], figures["lost_customers"], figures["attrition_rate"]) == (2, 1, 0.5)
    assert (figures["lapsed_customers_at_start"], figures["reactivated_customers"],
            figures["reactivation_rate"]) == (2, 1, 0.5)
    assert (figures["new_prospects"], figures["new_customers"], figures["prospect_to_customer_rate"]) == (2, 1, 0.5)
    assert figures["prospects_now"] == 3
    [noel] = figures["campaigns"]
    assert noel["campaign_id"] == demo_week.pk
    assert noel["campaign_code"] == "NOEL"
    assert (noel["clicks"], noel["replies_with_code"]) == (2, 1)
    assert (noel["recipients"], noel["responders"], noel["response_rate"]) == (3, 2, 0.6667)
    assert noel["clicks_per_recipient"] == 0.6667
    assert noel["click_through_rate"] is None  # no ad impressions known for a WhatsApp campaign
    decay = figures["file_decay"]
    assert (decay["base"], decay["unreachable"], decay["stale"], decay["decay_rate"]) == (4, 2, 1, 0.75)
    assert decay["within_reference"] is False


def test_without_a_source_of_recipients_response_rates_are_unknown_not_zero(demo_week, monkeypatch):
    monkeypatch.setattr(message_recipients, "_sources", [])

    figures = services.week_indicators_compute(monday=MONDAY)

    assert figures["recipients_known"] is False
    [noel] = figures["campaigns"]
    assert noel["clicks"] == 2
    assert noel["recipients"] is None
    assert noel["response_rate"] is None


def test_the_api_serves_the_stored_week_and_recomputes_only_when_its_inputs_move(demo_week, staff_client):
    response = staff_client.get("/api/v1/reports/indicators?week=2026-11-18")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["week_start"] == "2026-11-16"
    assert body["average_basket_xaf"] == 20_667
    stored = WeeklyIndicators.objects.get(week_start=MONDAY)
    assert stored.days == 7
    assert stored.figures["sales"] == 3

    # A new sale in the week: the stored row stays until the refresh sees its inputs moved.
    f.order(f.contact(), f.at("2026-11-22"), revenue=2_000)
    assert staff_client.get("/api/v1/reports/indicators?week=2026-11-16").json()["sales"] == 3
    assert services.week_indicators_refresh(weeks=3, now=f.at("2026-11-30", 12)) >= 1
    assert staff_client.get("/api/v1/reports/indicators?week=2026-11-16").json()["sales"] == 4
    # Nothing moved since: the refresh leaves the stored weeks alone.
    assert services.week_indicators_refresh(weeks=3, now=f.at("2026-11-30", 12)) == 0


def test_the_indicators_endpoint_refuses_a_bad_week_in_the_common_shape(staff_client):
    response = staff_client.get("/api/v1/reports/indicators?week=2026-02-30")

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "validation_error"
    assert body["errors"][0]["field"] == "week"
    assert not WeeklyIndicators.objects.exists()


def test_the_weekly_report_carries_the_week_s_indicators(demo_week, staff_client):
    body = staff_client.get("/api/v1/reports/weekly?week=2026-11-16").json()

    assert body["indicators"]["attrition_rate"] == 0.5
    assert body["indicators"]["file_decay"]["decay_rate"] == 0.75


def test_rfm_gives_each_customer_the_category_they_spent_most_on(db):
    # Ama: a 5,000 liqueur and a 3,000 syrup -> liqueur; Ben: one coffret -> gift_box.
    now = timezone.now()
    ama, ben = f.contact(), f.contact()
    made = f.order(ama, now - timedelta(days=3), revenue=3_000)  # its line: a syrup of 3,000
    liqueur = Product.objects.create(sku="LIQ-1", name="Liqueur", kind="liqueur", price_xaf=5_000)
    OrderLine.objects.create(order=made, product=liqueur, quantity=1, unit_price_xaf=5_000, line_total_xaf=5_000)
    box = GiftBox.objects.create(sku="BOX-1", name="Coffret", price_xaf=15_000)
    boxed = f.order(ben, now - timedelta(days=2), revenue=15_000)
    OrderLine.objects.filter(order=boxed).update(product=None, gift_box=box)

    services.rfm_recompute(now=now)

    assert RfmScore.objects.get(contact_id=ama.pk).top_category == "liqueur"
    assert RfmScore.objects.get(contact_id=ben.pk).top_category == "gift_box"
    assert indicator_inputs.purchase_type_counts() == {"liqueur": 1, "gift_box": 1}


def test_ties_in_spend_go_to_the_first_category_in_alphabetical_order():
    assert indicators.top_category({"syrup": 4_000, "liqueur": 4_000}) == "liqueur"
    assert indicators.top_category({}) == ""


def test_after_a_run_the_default_weeks_are_served_from_the_stored_figures(demo_week, staff_client,
                                                                          django_assert_max_num_queries):
    # The worker's refresh after an attribution run stores the indicators and builds the default weeks'
    # reports; a request then reads only the small fingerprints of the inputs and the stored indicators,
    # no credit, cost or contact rows.
    services.reports_refresh()

    with django_assert_max_num_queries(12) as captured:
        response = staff_client.get("/api/v1/reports/weekly")

    assert response.status_code == 200
    sql = " ".join(query["sql"] for query in captured.captured_queries)
    assert "attribution_attributioncredit" not in sql
    assert "orders_order" not in sql
