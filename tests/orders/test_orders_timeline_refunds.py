"""The orders timeline source: every refund is an event of its own, a partial one that changes no status too."""

from __future__ import annotations

import pytest

from api.contacts.registry import timeline_sources
from api.contacts.services import contact_upsert
from api.orders.services import (
    gift_box_create,
    order_create,
    order_refund,
    order_status_change,
    product_create,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_webhook_kicks(settings):
    settings.PARTNER_WEBHOOKS_KICK = False


def test_each_refund_is_an_event_with_its_amount_order_and_reason():
    # Given a delivered order refunded twice in part, the second time with no status change
    ginger = product_create(sku="SIR-GING-50", name="Sirop de gingembre", price_xaf=3500, unit_cost_xaf=1200)
    box = gift_box_create(
        sku="COF-GING",
        name="Coffret Gingembre",
        price_xaf=10000,
        items=[{"product_id": ginger.pk, "quantity": 2}],
    )
    contact = contact_upsert(phone="+237690445566", name="Bella Eto'o").contact
    order = order_create(contact_id=contact.pk, lines=[{"gift_box_id": box.pk, "quantity": 2}])
    for status in ("confirmed", "preparing", "ready", "out_for_delivery", "delivered"):
        order_status_change(order_id=order.pk, status=status)
    first = order_refund(order_id=order.pk, amount_xaf=5000, reason="colis abîmé")
    second = order_refund(order_id=order.pk, amount_xaf=2000)

    # When the contact's timeline is read from the orders source
    events = timeline_sources()["orders"](contact.pk, None, 20)

    # Then each refund is there, newest first, dated when it was recorded, with its facts
    refunds = [e for e in events if e.kind == "order_refund"]
    assert [e.data for e in refunds] == [
        {
            "order_id": order.pk,
            "number": order.number,
            "refund_id": second.pk,
            "amount_xaf": 2000,
            "reason": "",
        },
        {
            "order_id": order.pk,
            "number": order.number,
            "refund_id": first.pk,
            "amount_xaf": 5000,
            "reason": "colis abîmé",
        },
    ]
    assert [e.at for e in refunds] == [second.created_at, first.created_at]
    assert refunds[1].summary == f"Refund of 5000 XAF on {order.number} (colis abîmé)"
    # and the order's status moved to refunded only once
    assert [e.data["to"] for e in events if e.kind == "order_status"].count("refunded") == 1
