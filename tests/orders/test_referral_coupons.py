"""An ambassador's personal referral code typed as an order's coupon (staff API, partner API, back office
service): the friend's first order gets the friend's discount and the ambassador as referrer; every
other use is a 400 that names ``coupon_code``, says why, and changes nothing.

Hand-computed: two ginger syrups at 3,500 = 7,000 of goods; the friend's 10 % = 700 off; with a delivery
fee of 1,000 the total is 7,300. A partner at 10 % on one 10,000 coffret: 1,000 for the partner, then the
friend's 10 % of the goods (1,000) on top = 2,000 off, total 8,000.
"""

from __future__ import annotations

import pytest

from api.contacts.models import Contact, ContactEvent
from api.contacts.services import contact_upsert, referral_code_apply
from api.orders import conf
from api.orders.models import Order
from api.orders.services import order_create, order_status_change

pytestmark = pytest.mark.django_db

FLOW = ["confirmed", "preparing", "ready", "out_for_delivery", "delivered"]


@pytest.fixture(autouse=True)
def _friend_discount(monkeypatch):
    monkeypatch.setattr(conf, "REFERRAL_FRIEND_DISCOUNT_PERCENT", 10)


@pytest.fixture
def ambassador(db):
    return contact_upsert(phone="+237690000201", name="Awa Ndiaye").contact


@pytest.fixture
def friend(db):
    return contact_upsert(phone="+237690000202", name="Brice Tchoua").contact


def _order(client, buyer, catalog, coupon):
    return client.post("/api/v1/orders", {
        "contact_id": buyer.pk, "lines": [{"product_id": catalog["ginger"].pk, "quantity": 2}],
        "coupon_code": coupon, "delivery_fee_xaf": 1000}, format="json")


def _refusal(response) -> str:
    body = response.json()
    assert response.status_code == 400, body
    assert body["code"] == "coupon_invalid"
    [error] = body["errors"]
    assert error["field"] == "coupon_code"
    assert error["message"]
    return error["code"]


def _referrer(contact) -> int | None:
    return Contact.objects.get(pk=contact.pk).referred_by_id


def test_a_friends_first_order_with_the_code_gets_the_discount_and_the_referrer(staff_client, catalog, ambassador,
                                                                                friend):
    response = _order(staff_client, friend, catalog, f" amb-{ambassador.referral_code.lower()} ")

    body = response.json()
    assert response.status_code == 201, body
    assert (body["subtotal_xaf"], body["coupon_discount_xaf"], body["total_xaf"]) == (7000, 700, 7300)
    assert body["coupon_code"] == ambassador.referral_code
    assert _referrer(friend) == ambassador.pk
    event = ContactEvent.objects.get(contact=friend, kind="referred")
    assert event.data["via"] == "order_coupon"


def test_a_new_customer_given_by_phone_is_referred_too(staff_client, catalog, ambassador):
    response = staff_client.post("/api/v1/orders", {
        "customer": {"phone": "+237690000299", "name": "Carine"},
        "lines": [{"product_id": catalog["ginger"].pk, "quantity": 2}], "coupon_code": ambassador.referral_code},
        format="json")

    assert response.status_code == 201, response.json()
    assert response.json()["coupon_discount_xaf"] == 700
    assert Contact.objects.get(phone="+237690000299").referred_by_id == ambassador.pk


def test_an_unknown_code_is_refused_and_nothing_is_made(staff_client, catalog, friend):
    assert _refusal(_order(staff_client, friend, catalog, "ZZZZ2345")) == "unknown"
    assert not Order.objects.exists()
    assert _referrer(friend) is None


def test_the_customers_own_code_is_refused(staff_client, catalog, ambassador):
    assert _refusal(_order(staff_client, ambassador, catalog, ambassador.referral_code)) == "own_referral_code"
    assert not Order.objects.exists()


def test_a_customer_referred_by_someone_else_cannot_take_another_code(staff_client, catalog, ambassador, friend):
    other = contact_upsert(phone="+237690000203", name="Carine Mballa").contact
    assert referral_code_apply(contact_id=friend.pk, code=other.referral_code, via="telegram_start")

    assert _refusal(_order(staff_client, friend, catalog, ambassador.referral_code)) == "already_referred"
    assert _referrer(friend) == other.pk
    assert not Order.objects.exists()


def test_a_friend_who_came_through_the_bot_still_gets_the_discount_with_the_same_code(staff_client, catalog,
                                                                                      ambassador, friend):
    assert referral_code_apply(contact_id=friend.pk, code=ambassador.referral_code, via="telegram_start")

    response = _order(staff_client, friend, catalog, ambassador.referral_code)

    assert response.status_code == 201, response.json()
    assert response.json()["coupon_discount_xaf"] == 700
    assert ContactEvent.objects.filter(contact=friend, kind="referred").count() == 1


def test_a_loop_is_refused(staff_client, catalog, ambassador, friend):
    assert referral_code_apply(contact_id=friend.pk, code=ambassador.referral_code, via="staff")

    # The ambassador orders with the code of the friend they brought.
    assert _refusal(_order(staff_client, ambassador, catalog, friend.referral_code)) == "referral_loop"
    assert _referrer(ambassador) is None


def test_a_returning_customer_cannot_use_a_friends_code(staff_client, catalog, ambassador, friend):
    earlier = order_create(contact_id=friend.pk, lines=[{"product_id": catalog["ginger"].pk, "quantity": 1}])
    for status in FLOW:
        order_status_change(order_id=earlier.pk, status=status)

    assert _refusal(_order(staff_client, friend, catalog, ambassador.referral_code)) == "returning_customer"
    assert _referrer(friend) is None
    assert Order.objects.count() == 1


def test_the_friends_discount_is_for_one_order(staff_client, catalog, ambassador, friend):
    assert _order(staff_client, friend, catalog, ambassador.referral_code).status_code == 201

    assert _refusal(_order(staff_client, friend, catalog, ambassador.referral_code)) == "used_up_for_customer"


def test_a_partner_order_takes_a_referral_code(make_partner, catalog, ambassador):
    partner = make_partner("Épicerie Akwa", discount=10)

    response = partner.client.post("/api/v1/partner/orders", {
        "customer": {"phone": "+237677445566", "name": "Brice Etoa"},
        "lines": [{"gift_box_id": catalog["box"].pk, "quantity": 1}], "coupon_code": ambassador.referral_code,
    }, format="json")

    body = response.json()
    assert response.status_code == 201, body
    assert (body["subtotal_xaf"], body["discount_xaf"], body["total_xaf"]) == (10000, 2000, 8000)
    buyer = Contact.objects.get(phone="+237677445566")
    assert buyer.referred_by_id == ambassador.pk
    assert ContactEvent.objects.get(contact=buyer, kind="referred").data["via"] == "partner_order"


def test_a_partner_order_with_a_bad_code_is_a_400_naming_the_coupon(make_partner, catalog):
    partner = make_partner("Épicerie Akwa", discount=10)

    response = partner.client.post("/api/v1/partner/orders", {
        "customer": {"phone": "+237677445566", "name": "Brice Etoa"},
        "lines": [{"gift_box_id": catalog["box"].pk, "quantity": 1}], "coupon_code": "NOPE-NOPE"}, format="json")

    assert _refusal(response) == "unknown"
    assert not Order.objects.exists()
    assert not Contact.objects.filter(phone="+237677445566").exists()


def test_the_back_office_service_prices_a_referral_code_the_same_way(catalog, ambassador, friend):
    order = order_create(contact_id=friend.pk, lines=[{"product_id": catalog["ginger"].pk, "quantity": 2}],
                         coupon_code=ambassador.referral_code, sales_channel="whatsapp")

    assert (order.coupon_discount_xaf, order.total_xaf) == (700, 6300)
    assert _referrer(friend) == ambassador.pk
