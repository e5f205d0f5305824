"""Coupons with real value: a percentage or an amount off the goods, within a minimum, dates, use limits,
a segment and some items; an order with a coupon it may not use is a 400 that names why and changes nothing.

Hand-computed cases, with a syrup at 3,333 XAF (so that a percentage does not fall on a whole franc),
a syrup at 3,000 and a coffret at 10,000:

    10 % of one 3,333 syrup            = 333.3  -> 333 off; + 1,000 delivery = total 4,000
    2,000 XAF off one 3,333 syrup      -> 2,000 off; total 1,333 + 1,000 delivery = 2,333
    5,000 XAF off one 3,333 syrup      -> 3,333 off (never more than the goods); total = the 1,000 delivery
    10 % on coffrets, coffret + syrup  -> 10 % of 10,000 = 1,000 off; the syrup is not discounted
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.utils import timezone

from api.campaigns import services
from api.common.businesstime import business_localtime
from api.common.errors import NotFoundError
from api.contacts.services import contact_upsert
from api.orders.coupons import CouponLine, CouponRefused, CouponRequest
from api.orders.selectors import order_list
from api.orders.services import gift_box_create, order_status_change, product_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(db):
    odd = product_create(sku="SIR-ODD", name="Sirop de goyave", price_xaf=3333, unit_cost_xaf=1000)
    bissap = product_create(sku="SIR-BISS", name="Sirop de bissap", price_xaf=3000, unit_cost_xaf=1000)
    box = gift_box_create(sku="COF-NOEL", name="Coffret Noël", price_xaf=10000,
                          items=[{"product_id": odd.pk, "quantity": 1}, {"product_id": bissap.pk, "quantity": 2}])
    return {"odd": odd, "bissap": bissap, "box": box}


@pytest.fixture
def campaign(make_campaign):
    return make_campaign(code="FLYER-AKWA", channel="flyer")


@pytest.fixture
def awa(db):
    return contact_upsert(phone="+237690000101", name="Awa", segment="host").contact


@pytest.fixture
def bella(db):
    return contact_upsert(phone="+237690000102", name="Bella", segment="healthy").contact


def _coupon(campaign, code="BIENVENUE", **rules):
    return services.coupon_create(campaign=campaign, code=code, **rules)


def _order(client, buyer, lines, coupon="BIENVENUE", fee=1000):
    return client.post("/api/v1/orders", {"contact_id": buyer.pk, "lines": lines, "coupon_code": coupon,
                                          "delivery_fee_xaf": fee}, format="json")


def _one(item, quantity=1):
    key = "gift_box_id" if hasattr(item, "items") else "product_id"
    return {key: item.pk, "quantity": quantity}


def _money(response):
    body = response.json()
    assert response.status_code == 201, body
    return body["subtotal_xaf"], body["discount_xaf"], body["coupon_discount_xaf"], body["total_xaf"]


def _refusal(response):
    body = response.json()
    assert response.status_code == 400, body
    assert body["code"] == "coupon_invalid"
    [error] = body["errors"]
    assert error["field"] == "coupon_code"
    return error["code"]


# --- what a coupon takes off -------------------------------------------------------------------------


def test_a_percentage_is_rounded_down_to_the_franc_and_the_code_is_any_case(staff_client, shop, campaign, awa):
    _coupon(campaign, kind="percent", value=10)
    response = _order(staff_client, awa, [_one(shop["odd"])], coupon=" bienvenue ")
    assert _money(response) == (3333, 333, 333, 4000)
    assert response.json()["coupon_code"] == "BIENVENUE"


def test_a_fixed_amount_comes_off_the_goods_never_off_the_delivery(staff_client, shop, campaign, awa, bella):
    _coupon(campaign, code="MOINS2000", kind="fixed", value=2000)
    _coupon(campaign, code="MOINS5000", kind="fixed", value=5000)
    assert _money(_order(staff_client, awa, [_one(shop["odd"])], coupon="MOINS2000")) == (3333, 2000, 2000, 2333)
    # 5,000 off goods of 3,333: the goods are free, the delivery is still paid
    assert _money(_order(staff_client, bella, [_one(shop["odd"])], coupon="MOINS5000")) == (3333, 3333, 3333, 1000)


def test_a_coupon_of_no_value_only_tracks_its_campaign(staff_client, shop, campaign, awa):
    _coupon(campaign)  # as every coupon made before coupons had a value
    assert _money(_order(staff_client, awa, [_one(shop["odd"])])) == (3333, 0, 0, 4333)


def test_a_coupon_adds_to_the_discount_staff_gave_within_the_goods(staff_client, shop, campaign, awa):
    _coupon(campaign, kind="fixed", value=3000)
    response = staff_client.post("/api/v1/orders", {
        "contact_id": awa.pk, "lines": [_one(shop["odd"])], "coupon_code": "BIENVENUE", "discount_xaf": 1000,
        "delivery_fee_xaf": 500}, format="json")
    # 1,000 given by staff, then the coupon's 3,000 capped at the 2,333 left of the goods
    assert _money(response) == (3333, 3333, 2333, 500)


def test_a_product_restriction_discounts_only_its_lines(staff_client, shop, campaign, awa):
    _coupon(campaign, code="NOEL10", kind="percent", value=10, gift_box_ids=[shop["box"].pk])
    _coupon(campaign, code="COFFRETOFFERT", kind="fixed", value=50_000, gift_box_ids=[shop["box"].pk])
    both = [_one(shop["box"]), _one(shop["odd"])]
    assert _money(_order(staff_client, awa, both, coupon="NOEL10")) == (13333, 1000, 1000, 13333)
    # a fixed amount too stays within the lines it covers: 10,000, not the 13,333 of the order
    assert _money(_order(staff_client, awa, both, coupon="COFFRETOFFERT")) == (13333, 10000, 10000, 4333)
    assert _refusal(_order(staff_client, awa, [_one(shop["odd"])], coupon="NOEL10")) == "no_eligible_product"


# --- when it may be used -----------------------------------------------------------------------------


def test_the_minimum_compares_the_goods_without_the_delivery_fee(staff_client, shop, campaign, awa):
    _coupon(campaign, kind="percent", value=10, minimum_order_xaf=10_000)
    # 3 x 3,333 = 9,999 of goods (11,999 with the delivery): below the minimum
    assert _refusal(_order(staff_client, awa, [_one(shop["odd"], 3)], fee=2000)) == "below_minimum"
    # 9,999 + 3,000 = 12,999 of goods: 10 % = 1,299.9 -> 1,299
    assert _money(_order(staff_client, awa, [_one(shop["odd"], 3), _one(shop["bissap"])])) == (12999, 1299, 1299,
                                                                                                  12700)


def test_dates_are_days_of_the_business_time_zone_both_included(campaign, shop, awa):
    now = timezone.now()
    today = business_localtime(now).date()
    first = _coupon(campaign, code="DEMAIN", value=10, starts_on=today + timedelta(days=1))
    last = _coupon(campaign, code="HIER", value=10, ends_on=today - timedelta(days=1))
    _coupon(campaign, code="AUJOURDHUI", value=10, starts_on=today, ends_on=today)
    # 23:30 UTC on 30 November is already 1 December, 00:30, in Douala
    late = datetime(2026, 11, 30, 23, 30, tzinfo=UTC)
    december = _coupon(campaign, code="DECEMBRE", value=10, starts_on=date(2026, 12, 1), ends_on=date(2026, 12, 31))
    november = _coupon(campaign, code="NOVEMBRE", value=10, ends_on=date(2026, 11, 30))

    def ask(code, at=None):
        request = CouponRequest(code=code, contact_id=awa.pk, goods_total_xaf=3333, at=at or now,
                                lines=(CouponLine(shop["odd"].pk, None, 3333),))
        try:
            return services.coupon_discount(request).discount_xaf
        except CouponRefused as refused:
            return refused.reason

    assert (ask(first.code), ask(last.code), ask("AUJOURDHUI")) == ("not_started", "expired", 333)
    assert (ask(december.code, late), ask(november.code, late)) == (333, "expired")
    assert ask(december.code, late - timedelta(hours=1)) == "not_started"  # 30 November, 23:30 in Douala


def test_a_switched_off_coupon_is_no_longer_valid(staff_client, shop, campaign, awa):
    coupon = _coupon(campaign, value=10)
    services.coupon_update(coupon=coupon, active=False)
    assert _refusal(_order(staff_client, awa, [_one(shop["odd"])])) == "expired"


def test_the_total_limit_counts_orders_not_cancelled(staff_client, shop, campaign, awa, bella):
    _coupon(campaign, value=10, max_uses=2)
    first = _order(staff_client, awa, [_one(shop["odd"])]).json()
    _money(_order(staff_client, bella, [_one(shop["odd"])]))
    assert _refusal(_order(staff_client, bella, [_one(shop["odd"])])) == "used_up"
    # Awa cancels: her use is given back
    order_status_change(order_id=first["id"], status="cancelled")
    assert _money(_order(staff_client, bella, [_one(shop["odd"])])) == (3333, 333, 333, 4000)


def test_the_per_customer_limit_counts_by_contact(staff_client, shop, campaign, awa, bella):
    _coupon(campaign, value=10, max_uses_per_customer=1)
    _money(_order(staff_client, awa, [_one(shop["odd"])]))
    assert _refusal(_order(staff_client, awa, [_one(shop["bissap"])])) == "used_up_for_customer"
    assert _money(_order(staff_client, bella, [_one(shop["odd"])])) == (3333, 333, 333, 4000)


def test_a_segment_restriction_checks_the_buyers_segment(staff_client, shop, campaign, awa, bella):
    _coupon(campaign, value=10, segment="host")
    assert _refusal(_order(staff_client, bella, [_one(shop["odd"])])) == "wrong_segment"
    assert _money(_order(staff_client, awa, [_one(shop["odd"])])) == (3333, 333, 333, 4000)


@pytest.mark.parametrize(("code", "rules", "reason"), [
    ("INCONNU", None, "unknown"),
    ("BIENVENUE", {"ends_on": date(2020, 1, 31)}, "expired"),
    ("BIENVENUE", {"starts_on": date(2099, 1, 1)}, "not_started"),
    ("BIENVENUE", {"max_uses": 1}, "used_up"),
    ("BIENVENUE", {"max_uses_per_customer": 1}, "used_up_for_customer"),
    ("BIENVENUE", {"minimum_order_xaf": 50_000}, "below_minimum"),
    ("BIENVENUE", {"segment": "reseller"}, "wrong_segment"),
    ("BIENVENUE", {"product_ids": "bissap"}, "no_eligible_product"),
])
def test_each_refusal_is_a_400_naming_why_that_changes_nothing(staff_client, shop, campaign, code, rules, reason):
    # Given a coupon with one rule, and for the use limits an order that already used it
    buyer = contact_upsert(phone="+237690000199", name="Déjà venue").contact
    if rules is not None:
        if rules.get("product_ids") == "bissap":
            rules = {"product_ids": [shop["bissap"].pk]}
        _coupon(campaign, value=10, **rules)
    if reason.startswith("used_up"):
        _money(_order(staff_client, buyer, [_one(shop["odd"])]))
    orders_before = order_list().count()
    # When a new customer orders with it
    response = staff_client.post("/api/v1/orders", {
        "customer": {"phone": "+237690000200", "name": "Nouvelle"} if reason != "used_up_for_customer"
        else {"phone": "+237690000199"},
        "lines": [_one(shop["odd"])], "coupon_code": code.lower()}, format="json")
    # Then it is refused, naming why, and neither the order nor the new customer exists
    assert _refusal(response) == reason
    assert response.json()["reason"] == reason
    assert order_list().count() == orders_before
    with pytest.raises(NotFoundError):
        contact_upsert(phone="+237690000200", create=False)


def test_a_sample_keeps_its_coupon_for_attribution_without_a_discount(shop, campaign, awa):
    from api.orders.services import order_create

    _coupon(campaign, value=10, max_uses=1)
    sample = order_create(contact_id=awa.pk, lines=[_one(shop["odd"])], coupon_code="BIENVENUE", is_sample=True)
    assert (sample.total_xaf, sample.coupon_discount_xaf, sample.coupon_code) == (0, 0, "BIENVENUE")
    # and it took no use of the coupon
    order = order_create(contact_id=awa.pk, lines=[_one(shop["odd"])], coupon_code="BIENVENUE")
    assert order.coupon_discount_xaf == 333


# --- the coupons API ---------------------------------------------------------------------------------------


def test_a_coupon_is_created_with_its_value_and_rules_and_listed(staff_client, shop, campaign):
    response = staff_client.post("/api/v1/coupons", {
        "campaign_id": campaign.pk, "code": "noel10", "kind": "percent", "value": 10, "minimum_order_xaf": 15000,
        "starts_on": "2026-12-01", "ends_on": "2026-12-31", "max_uses": 200, "max_uses_per_customer": 1,
        "segment": "host", "gift_box_ids": [shop["box"].pk]}, format="json")
    assert response.status_code == 201, response.json()
    listed = staff_client.get("/api/v1/coupons").json()["results"]
    assert [{k: c[k] for k in ("code", "kind", "value", "minimum_order_xaf", "starts_on", "ends_on", "max_uses",
                               "max_uses_per_customer", "segment", "product_ids", "gift_box_ids")} for c in listed] == [
        {"code": "NOEL10", "kind": "percent", "value": 10, "minimum_order_xaf": 15000, "starts_on": "2026-12-01",
         "ends_on": "2026-12-31", "max_uses": 200, "max_uses_per_customer": 1, "segment": "host",
         "product_ids": [], "gift_box_ids": [shop["box"].pk]}]
    changed = staff_client.patch(f"/api/v1/coupons/{response.json()['id']}", {"kind": "fixed", "value": 2500},
                                 format="json")
    assert (changed.json()["kind"], changed.json()["value"], changed.json()["max_uses"]) == ("fixed", 2500, 200)


@pytest.mark.parametrize(("body", "field"), [
    ({"kind": "percent", "value": 101}, "value"),
    ({"kind": "free"}, "kind"),
    ({"starts_on": "2026-12-31", "ends_on": "2026-12-01"}, "ends_on"),
    ({"product_ids": [999999]}, "product_ids"),
    ({"gift_box_ids": [999999]}, "gift_box_ids"),
    ({"max_uses": 0}, "max_uses"),
    ({"segment": "tourists"}, "segment"),
])
def test_a_wrong_rule_is_a_400_naming_its_field_and_creates_nothing(staff_client, campaign, body, field):
    response = staff_client.post("/api/v1/coupons", {"campaign_id": campaign.pk, "code": "MAUVAIS", **body},
                                 format="json")
    assert response.status_code == 400
    assert field in {e["field"] for e in response.json()["errors"]}
    assert staff_client.get("/api/v1/coupons").json()["results"] == []


def test_a_switch_to_a_percentage_over_100_is_refused(campaign):
    coupon = _coupon(campaign, kind="fixed", value=500)
    with pytest.raises(Exception, match="at most 100"):
        services.coupon_update(coupon=coupon, kind="percent")
    coupon.refresh_from_db()
    assert (coupon.kind, coupon.value) == ("fixed", 500)
