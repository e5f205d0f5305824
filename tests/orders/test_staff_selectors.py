"""The orders reads the back office's order form uses: products on sale and the next statuses."""

from __future__ import annotations

import pytest

from api.contacts.services import contact_upsert
from api.orders.enums import OrderStatus
from api.orders.selectors import order_get, order_next_statuses, product_list
from api.orders.services import order_create, order_status_change, product_create, product_update

pytestmark = pytest.mark.django_db


def test_product_list_can_keep_only_what_is_on_sale():
    ginger = product_create(sku="SIR-G", name="Sirop de gingembre", price_xaf=3500)
    old = product_create(sku="SIR-OLD", name="Ancien sirop", price_xaf=2000)
    product_update(product_id=old.pk, active=False)
    assert set(product_list()) == {ginger, old}
    assert list(product_list(active_only=True)) == [ginger]


def test_next_statuses_follow_the_status_machine_and_end_with_the_order():
    buyer = contact_upsert(phone="+237690112299", name="Mireille").contact
    product = product_create(sku="SIR-G", name="Sirop de gingembre", price_xaf=3500)
    order = order_create(contact_id=buyer.pk, lines=[{"product_id": product.pk, "quantity": 1}])
    assert order_next_statuses(order) == (OrderStatus.CONFIRMED, OrderStatus.CANCELLED)
    order_status_change(order_id=order.pk, status=OrderStatus.CANCELLED)
    assert order_next_statuses(order_get(order_id=order.pk)) == ()
