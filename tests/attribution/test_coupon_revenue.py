"""Attribution credits what an order with a coupon really brought: the goods after the coupon's discount.

By hand: two coffrets at 10,000 (cost 4,000 each) with a 10 % coupon and 1,500 of delivery:
goods 20,000, discount 2,000, total 19,500; net revenue 19,500 - 1,500 = 18,000; margin 18,000 - 8,000
= 10,000. The coupon's campaign (a flyer) is the only touch, so every model gives it all of it, and the
weekly report of the order's week shows that revenue and margin on the flyer row.
"""

from __future__ import annotations

import pytest
from django.db.models import Sum

from api.attribution import conf, engine, services
from api.attribution.models import AttributionCredit
from api.campaigns.services import campaign_create, coupon_create
from api.common.businesstime import business_localtime
from api.contacts.services import contact_upsert
from api.orders.services import gift_box_create, order_create, order_status_change, product_create

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_settle(monkeypatch):
    monkeypatch.setattr(conf, "WATERMARK_SETTLE_SECONDS", 0)


def test_an_order_with_a_coupon_is_credited_its_net_revenue_and_margin(staff_client):
    syrup = product_create(sku="SIR-T", name="Sirop", price_xaf=5000, unit_cost_xaf=2000)
    box = gift_box_create(sku="COF-T", name="Coffret", price_xaf=10_000, items=[{"product_id": syrup.pk, "quantity": 2}])
    flyer = campaign_create(name="Flyers Akwa", code="FLYER-T", channel="flyer")
    coupon_create(campaign=flyer, code="AKWA10", kind="percent", value=10)
    buyer = contact_upsert(phone="+237690000301", name="Chantal").contact
    order = order_create(contact_id=buyer.pk, lines=[{"gift_box_id": box.pk, "quantity": 2}], coupon_code="akwa10",
                         delivery_fee_xaf=1500)
    for status in ("confirmed", "preparing", "ready", "out_for_delivery", "delivered"):
        order_status_change(order_id=order.pk, status=status)
    assert (order.subtotal_xaf, order.discount_xaf, order.total_xaf) == (20_000, 2_000, 19_500)

    services.attribution_run(full=True)

    for model in engine.MODELS:
        sums = AttributionCredit.objects.filter(order_id=order.pk, model=model).aggregate(
            r=Sum("revenue_xaf"), m=Sum("margin_xaf"))
        assert (model, sums["r"], sums["m"]) == (model, 18_000, 10_000)
    week = business_localtime(order.created_at).date().isoformat()
    body = staff_client.get(f"/api/v1/reports/weekly?week={week}&model=linear").json()
    flyer_row = next(r for r in body["rows"] if r["channel"] == "flyer")
    assert (flyer_row["revenue_xaf"], flyer_row["margin_xaf"]) == (18_000, 10_000)
