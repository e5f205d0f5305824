"""The partner API: keys, prices, orders, isolation, polling without misses, ETag and throttling."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from api.orders import conf
from api.orders.models import Order, PartnerApiKey
from api.orders.services import order_status_change

pytestmark = pytest.mark.django_db


def _order(partner, catalog, phone="+237677445566", reference="R-1", quantity=2):
    response = partner.client.post("/api/v1/partner/orders", {
        "customer": {"phone": phone, "name": "Brice Etoa"},
        "lines": [{"gift_box_id": catalog["box"].pk, "quantity": quantity}], "partner_reference": reference,
    }, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def test_staff_create_a_key_that_is_shown_once_and_stored_hashed(staff_client, make_partner):
    partner = make_partner("Épicerie Akwa")
    response = staff_client.post(f"/api/v1/partners/{partner.pk}/api-keys", {"name": "boutique"}, format="json")
    assert response.status_code == 201
    raw = response.json()["key"]
    stored = PartnerApiKey.objects.get(pk=response.json()["id"])
    assert raw.startswith(stored.prefix + "_")
    assert stored.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in str(stored.__dict__)
    listed = staff_client.get(f"/api/v1/partners/{partner.pk}/api-keys").json()["results"]
    assert all("key" not in k for k in listed)

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    assert client.get("/api/v1/partner/gift-boxes").status_code == 200
    stored.refresh_from_db()
    assert stored.last_used_at is not None

    revoked = staff_client.post(f"/api/v1/partners/{partner.pk}/api-keys/{stored.pk}/revoke")
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"]
    refused = client.get("/api/v1/partner/gift-boxes")
    assert refused.status_code == 401
    assert refused.json()["code"] == "authentication_failed"


def test_bad_keys_and_staff_tokens_do_not_open_the_partner_api(staff_client, make_partner):
    make_partner("Épicerie Akwa")
    wrong = APIClient()
    wrong.credentials(HTTP_AUTHORIZATION="Api-Key cfk_nothing_here")
    assert wrong.get("/api/v1/partner/orders").status_code == 401
    assert APIClient().get("/api/v1/partner/orders").status_code == 401
    assert staff_client.get("/api/v1/partner/orders").status_code in (401, 403)


def test_partner_prices_and_orders_get_the_discount(make_partner, catalog):
    partner = make_partner("Épicerie Akwa", discount=15)
    boxes = partner.client.get("/api/v1/partner/gift-boxes").json()
    assert boxes[0]["price_xaf"] == 10000
    assert boxes[0]["partner_price_xaf"] == 8500
    order = _order(partner, catalog)
    assert (order["subtotal_xaf"], order["discount_xaf"], order["total_xaf"]) == (20000, 3000, 17000)
    assert order["status"] == "pending"
    assert order["customer_name"] == "Brice Etoa"
    stored = Order.objects.get(number=order["number"])
    assert stored.partner_id == partner.pk
    assert stored.sales_channel == "partner"
    products_refused = partner.client.post("/api/v1/partner/orders", {
        "customer": {"phone": "+237677445566"}, "lines": [{"gift_box_id": 999999, "quantity": 1}]}, format="json")
    assert products_refused.status_code == 400


def test_partner_order_creation_is_idempotent_per_partner(make_partner, catalog):
    akwa, bastos = make_partner("Akwa"), make_partner("Bastos")
    body = {"customer": {"phone": "+237677445566"}, "lines": [{"gift_box_id": catalog["box"].pk, "quantity": 1}]}
    first = akwa.client.post("/api/v1/partner/orders", body, format="json", HTTP_IDEMPOTENCY_KEY="order-77")
    again = akwa.client.post("/api/v1/partner/orders", body, format="json", HTTP_IDEMPOTENCY_KEY="order-77")
    assert again.json()["number"] == first.json()["number"]
    other_partner = bastos.client.post("/api/v1/partner/orders", body, format="json", HTTP_IDEMPOTENCY_KEY="order-77")
    assert other_partner.status_code == 201
    assert other_partner.json()["number"] != first.json()["number"]
    assert Order.objects.count() == 2


def test_a_partner_never_sees_another_partners_orders(make_partner, catalog):
    akwa, bastos = make_partner("Akwa"), make_partner("Bastos")
    mine = _order(akwa, catalog)
    theirs = _order(bastos, catalog, phone="+237699887766")
    assert akwa.client.get(f"/api/v1/partner/orders/{mine['number']}").status_code == 200
    hidden = akwa.client.get(f"/api/v1/partner/orders/{theirs['number']}")
    assert hidden.status_code == 404
    assert hidden.json()["code"] == "not_found"
    listed = akwa.client.get("/api/v1/partner/orders").json()["results"]
    assert [o["number"] for o in listed] == [mine["number"]]
    # the staff API does not know partner keys
    assert akwa.client.get("/api/v1/orders").status_code == 401
    assert akwa.client.get(f"/api/v1/orders/{Order.objects.get(number=theirs['number']).pk}").status_code == 401


def test_etag_and_if_none_match(make_partner, catalog):
    partner = make_partner("Akwa")
    order = _order(partner, catalog)
    url = f"/api/v1/partner/orders/{order['number']}"
    first = partner.client.get(url)
    etag = first["ETag"]
    not_modified = partner.client.get(url, HTTP_IF_NONE_MATCH=etag)
    assert not_modified.status_code == 304
    assert not_modified.content == b""
    order_status_change(order_id=Order.objects.get(number=order["number"]).pk, status="confirmed")
    changed = partner.client.get(url, HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200
    assert changed.json()["status"] == "confirmed"
    assert changed["ETag"] != etag


def _poll_all(partner, cursor=None, page_size=7):
    seen, pages = [], 0
    while True:
        params = {"page_size": page_size, **({"cursor": cursor} if cursor else {"updated_since": "2000-01-01T00:00:00Z"})}
        body = partner.client.get("/api/v1/partner/orders", params).json()
        seen += [(o["number"], o["status"]) for o in body["results"]]
        cursor = body["next_cursor"] or cursor
        pages += 1
        if not body["has_more"]:
            return seen, cursor


def test_polling_misses_nothing_and_repeats_nothing_when_many_change_at_once(make_partner, catalog):
    partner = make_partner("Akwa")
    other = make_partner("Bastos")
    numbers = [_order(partner, catalog, reference=f"R-{i}")["number"] for i in range(30)]
    _order(other, catalog)
    # Many orders share one timestamp, as a bulk change would leave them.
    same_instant = timezone.now() - timedelta(seconds=5)
    Order.objects.filter(partner=partner).update(updated_at=same_instant)

    seen, cursor = _poll_all(partner)
    assert sorted(n for n, _s in seen) == sorted(numbers)  # none missed, none repeated, none foreign

    # Then 12 of them change in the same instant: the next polls return exactly those.
    changed = numbers[3:15]
    later = timezone.now() - timedelta(seconds=1)
    Order.objects.filter(number__in=changed).update(status="confirmed", updated_at=later)
    again, cursor = _poll_all(partner, cursor, page_size=5)
    assert sorted(n for n, _s in again) == sorted(changed)
    assert {s for _n, s in again} == {"confirmed"}
    nothing, _ = _poll_all(partner, cursor)
    assert nothing == []


def test_polling_holds_back_changes_that_may_still_be_committing(make_partner, catalog, monkeypatch):
    partner = make_partner("Akwa")
    _order(partner, catalog)
    monkeypatch.setattr(conf, "PARTNER_POLL_SETTLE_SECONDS", 60)
    held = partner.client.get("/api/v1/partner/orders", {"updated_since": "2000-01-01T00:00:00Z"}).json()
    assert held["results"] == []
    assert held["has_more"] is False
    Order.objects.update(updated_at=timezone.now() - timedelta(minutes=2))
    assert len(partner.client.get("/api/v1/partner/orders", {"updated_since": "2000-01-01T00:00:00Z"})
               .json()["results"]) == 1


def test_bad_cursor_and_updated_since_are_400(make_partner):
    partner = make_partner("Akwa")
    assert partner.client.get("/api/v1/partner/orders", {"cursor": "garbage!"}).status_code == 400
    assert partner.client.get("/api/v1/partner/orders", {"updated_since": "yesterday"}).status_code == 400


def test_requests_are_throttled_per_key(make_partner, monkeypatch):
    from django.core.cache import cache

    from api.orders.auth import PartnerKeyThrottle

    monkeypatch.setattr(PartnerKeyThrottle, "THROTTLE_RATES", {"partner": "3/min"})
    cache.clear()
    akwa, bastos = make_partner("Akwa"), make_partner("Bastos")
    statuses = [akwa.client.get("/api/v1/partner/gift-boxes").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = akwa.client.get("/api/v1/partner/gift-boxes")
    assert limited.json()["code"] == "throttled"
    assert int(limited["Retry-After"]) > 0
    assert bastos.client.get("/api/v1/partner/gift-boxes").status_code == 200  # another key, its own budget
    cache.clear()


def test_the_fast_partner_order_rendering_equals_the_declared_fields(make_partner, catalog):
    from api.orders.selectors import partner_order_get
    from api.orders.serializers import PartnerOrderSerializer

    partner = make_partner("Akwa")
    order = partner_order_get(partner=partner, number=_order(partner, catalog)["number"])
    serializer = PartnerOrderSerializer()
    assert serializer.to_representation(order) == serializer.slow_representation(order)


def test_a_deactivated_partner_is_shut_out_at_once_though_its_key_was_cached(staff_client, make_partner):
    partner = make_partner("Akwa")
    assert partner.client.get("/api/v1/partner/orders").status_code == 200  # the key is now cached
    assert staff_client.patch(f"/api/v1/partners/{partner.pk}", {"active": False}, format="json").status_code == 200
    assert partner.client.get("/api/v1/partner/orders").status_code == 401
    assert staff_client.patch(f"/api/v1/partners/{partner.pk}", {"active": True}, format="json").status_code == 200
    assert partner.client.get("/api/v1/partner/orders").status_code == 200


def test_a_partner_discount_change_shows_in_its_prices_at_once(staff_client, make_partner, catalog):
    partner = make_partner("Akwa", discount=10)
    before = partner.client.get("/api/v1/partner/gift-boxes").json()[0]["partner_price_xaf"]
    assert staff_client.patch(f"/api/v1/partners/{partner.pk}", {"discount_percent": 20},
                              format="json").status_code == 200
    after = partner.client.get("/api/v1/partner/gift-boxes").json()[0]["partner_price_xaf"]
    assert after < before


def test_a_partner_orders_a_gift_box_sent_to_someone_else(make_partner, catalog):
    from api.contacts.models import Contact

    partner = make_partner("Akwa")
    response = partner.client.post("/api/v1/partner/orders", {
        "customer": {"phone": "+237677445566", "name": "Brice Etoa"},
        "recipient": {"phone": "+237699887766", "name": "Tante Odile"}, "gift_message": "Bonne fête !",
        "lines": [{"gift_box_id": catalog["box"].pk, "quantity": 1}], "delivery_address": "Bonapriso"},
        format="json")
    assert response.status_code == 201, response.json()
    order = Order.objects.get(number=response.json()["number"])
    buyer, recipient = Contact.objects.get(phone="+237677445566"), Contact.objects.get(phone="+237699887766")
    assert (order.contact_id, order.recipient_id, order.gift_message) == (buyer.pk, recipient.pk, "Bonne fête !")
    assert recipient.lifecycle_stage == "suspect"
    assert recipient.referred_by_id == buyer.pk
    bad = partner.client.post("/api/v1/partner/orders", {
        "customer": {"phone": "+237677445566"}, "recipient": {"phone": "not a phone"},
        "lines": [{"gift_box_id": catalog["box"].pk, "quantity": 1}]}, format="json")
    assert bad.status_code == 400
    assert Order.objects.count() == 1
