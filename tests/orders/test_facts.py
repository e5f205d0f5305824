"""The order facts other apps read: one definition of each count, SQL and ORM forms agreeing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from api.orders import facts
from api.orders.services import order_create, order_refund, order_status_change

pytestmark = pytest.mark.django_db


def _deliver(order_id):
    for status in ("confirmed", "preparing", "ready", "out_for_delivery", "delivered"):
        order_status_change(order_id=order_id, status=status)


@pytest.fixture
def book(catalog, customer):
    """A delivered sale, a refunded one, a cancelled one, a sample and a pending one with two lines."""
    from api.campaigns.services import campaign_create, coupon_create

    # A coupon that only tracks its campaign: unknown codes are refused.
    coupon_create(campaign=campaign_create(name="Ambassadeurs", code="AMB", channel="referral"), code="AMB-1")
    line = [{"product_id": catalog["ginger"].pk, "quantity": 2}]
    delivered = order_create(contact_id=customer.pk, lines=line, delivery_fee_xaf=1000, campaign_code="NOEL25")
    _deliver(delivered.pk)
    refunded = order_create(contact_id=customer.pk, lines=line, delivery_fee_xaf=500, coupon_code="AMB-1")
    _deliver(refunded.pk)
    order_refund(order_id=refunded.pk, amount_xaf=1000)
    cancelled = order_create(contact_id=customer.pk, lines=line)
    order_status_change(order_id=cancelled.pk, status="cancelled")
    sample = order_create(contact_id=customer.pk, lines=line, is_sample=True)
    pending = order_create(contact_id=customer.pk, lines=[*line, {"product_id": catalog["bissap"].pk, "quantity": 1}],
                           self_reported_source="Un ami")
    return {"delivered": delivered, "refunded": refunded, "cancelled": cancelled, "sample": sample,
            "pending": pending}


def test_sales_kept_and_delivered_orders_each_mean_one_thing(book, customer):
    ids = {name: order.pk for name, order in book.items()}
    assert set(facts.orders_sold().values_list("pk", flat=True)) == {ids["delivered"], ids["refunded"],
                                                                     ids["pending"]}
    assert set(facts.orders_kept().values_list("pk", flat=True)) == {ids["delivered"], ids["pending"]}
    assert set(facts.orders_delivered().values_list("pk", flat=True)) == {ids["delivered"], ids["refunded"]}
    assert facts.delivered_order_count(contact_id=customer.pk) == 2
    assert facts.first_delivered_order_id(contact_id=customer.pk) == ids["delivered"]
    assert facts.order_delivery_facts(order_id=ids["sample"]).is_sample
    assert [row[1] for row in facts.kept_order_history()] == [ids["pending"], ids["delivered"]]
    assert facts.contacts_with_order_changes_since(timezone.now() - timedelta(minutes=5)) == {customer.pk}
    assert facts.orders_contact_span() == (customer.pk, customer.pk, 5)


def test_the_portable_facts_give_revenue_and_goods_cost(book, customer, catalog):
    sold = {f.order_id: f for f in facts.sold_order_facts(contact_ids=[customer.pk])}
    delivered = sold[book["delivered"].pk]
    assert delivered.net_revenue_xaf == delivered.total_xaf - 1000 == 7000
    assert delivered.goods_cost_xaf == 2 * catalog["ginger"].unit_cost_xaf
    assert delivered.campaign_code == "NOEL25"
    assert sold[book["pending"].pk].goods_cost_xaf == 2 * 1200 + 1000
    refunds = facts.refund_facts(order_ids=list(sold))
    assert [(r.order_id, r.amount_xaf) for r in refunds] == [(book["refunded"].pk, 1000)]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the SQL form is PostgreSQL's")
def test_the_sql_relations_agree_with_the_portable_form(book, customer):
    for contact_ids, contact_range in (([customer.pk], None), (None, (customer.pk, customer.pk)), (None, None)):
        sql, params = facts.sold_orders_pg(contact_ids=contact_ids, contact_range=contact_range, with_lines=True)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT o.order_id, o.contact_id, o.placed_at, o.total_xaf, o.delivery_fee_xaf, "
                           f"o.net_revenue_xaf, sum(o.line_cost_xaf), o.campaign_code, o.coupon_code, "
                           f"o.self_reported_source FROM ({sql}) o GROUP BY 1, 2, 3, 4, 5, 6, 8, 9, 10 "
                           f"ORDER BY o.contact_id, o.placed_at, o.order_id", params)
            from_sql = [facts.SoldOrderFact(*row[:6], int(row[6]), *row[7:]) for row in cursor.fetchall()]
            plain, plain_params = facts.sold_orders_pg(contact_ids=contact_ids, contact_range=contact_range)
            cursor.execute(f"SELECT count(*) FROM ({plain}) o", plain_params)
            assert cursor.fetchone()[0] == len(from_sql)
            refunds_sql, refund_params = facts.refunds_of_sold_orders_pg(contact_ids=contact_ids,
                                                                         contact_range=contact_range)
            cursor.execute(f"SELECT * FROM ({refunds_sql}) r ORDER BY r.order_id, r.refund_id", refund_params)
            refunds = [facts.RefundFact(*row) for row in cursor.fetchall()]
        portable = facts.sold_order_facts(contact_ids=[customer.pk])
        assert from_sql == portable
        assert refunds == facts.refund_facts(order_ids=[f.order_id for f in portable])
