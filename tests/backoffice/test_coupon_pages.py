"""Coupons on the staff screens: a coupon made with its kind, value and rules on the campaign page,
an order form that shows the coupon's discount in the total, and a refused coupon shown on its field
with nothing created."""

from __future__ import annotations

import pytest
from django.urls import reverse

from api.campaigns.services import campaign_create, coupon_create
from api.orders.selectors import order_list

pytestmark = pytest.mark.django_db


@pytest.fixture
def foire(db):
    return campaign_create(name="Foire de Douala", code="FOIRE26", channel="fair")


def test_a_coupon_is_made_with_its_kind_value_and_rules(office, foire):
    response = office.post(reverse("backoffice:campaign-detail", args=[foire.pk]), {
        "action": "coupon", "code": "stand", "description": "Au stand", "kind": "fixed", "value": "1000",
        "minimum_order_xaf": "5000", "max_uses": "50", "max_uses_per_customer": "1", "segment": "host"}, follow=True)
    page = response.content.decode()
    assert "Coupon STAND créé." in page
    coupon = foire.coupons.get()
    assert (coupon.kind, coupon.value, coupon.minimum_order_xaf, coupon.max_uses, coupon.max_uses_per_customer,
            coupon.segment) == ("fixed", 1000, 5000, 50, 1, "host")
    assert "−1\u202f000\u00a0FCFA" in page


def test_a_percentage_over_100_is_refused_on_the_form(office, foire):
    response = office.post(reverse("backoffice:campaign-detail", args=[foire.pk]), {
        "action": "coupon", "code": "TROP", "kind": "percent", "value": "150"})
    assert response.status_code == 400
    assert response.context["coupon_form"].errors["value"]
    assert not foire.coupons.exists()


def test_an_order_with_a_coupon_shows_its_discount_in_the_total(office, coffret, foire):
    coupon_create(campaign=foire, code="FOIRE10", kind="percent", value=10)
    response = office.post(reverse("backoffice:order-create"), {
        "customer_phone": "699 12 34 56", "customer_name": "Awa Fotso", "item_0": f"box:{coffret.pk}",
        "quantity_0": "2", "coupon_code": "foire10", "delivery_fee_xaf": "1000", "payment_method": "cash"},
        follow=True)
    order = order_list().get()
    # 2 x 10,000 - 10 % + 1,000 of delivery
    assert (order.discount_xaf, order.total_xaf, order.coupon_code) == (2_000, 19_000, "FOIRE10")
    assert "19\u202f000\u00a0FCFA" in response.content.decode()


def test_a_refused_coupon_shows_on_its_field_and_creates_nothing(office, coffret, foire):
    coupon_create(campaign=foire, code="FOIRE10", kind="percent", value=10, minimum_order_xaf=50_000)
    response = office.post(reverse("backoffice:order-create"), {
        "customer_phone": "699 12 34 56", "customer_name": "Awa Fotso", "item_0": f"box:{coffret.pk}",
        "quantity_0": "1", "coupon_code": "FOIRE10", "payment_method": "cash"})
    assert response.status_code == 400
    assert response.context["form"].errors["coupon_code"]
    assert not order_list().exists()
