"""The orders demo seeder: a catalog, partners and a year of orders, quickly and consistently."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.db.models import Max, Min
from django.utils import timezone

from api.orders.demo import seed_orders
from api.orders.models import GiftBox, Order, OrderCounter, Partner, Product
from api.orders.services import order_create

pytestmark = pytest.mark.django_db


def test_demo_orders_cover_a_year_and_numbers_continue(customer):
    summary = seed_orders(rng=random.Random(7))
    assert "1500 orders" in summary
    assert Product.objects.filter(name="Crème de café de l'Ouest").exists()
    assert GiftBox.objects.count() >= 4
    assert Partner.objects.count() == 5
    span = Order.objects.aggregate(first=Min("created_at"), last=Max("created_at"))
    assert span["last"] - span["first"] > timedelta(days=300)
    assert span["last"] <= timezone.now()
    assert set(Order.objects.values_list("status", flat=True)) >= {"delivered", "cancelled", "refunded", "pending"}
    for order in Order.objects.prefetch_related("lines")[:200]:
        assert order.subtotal_xaf == sum(line.line_total_xaf for line in order.lines.all())
        assert order.total_xaf == order.subtotal_xaf - order.discount_xaf + order.delivery_fee_xaf
    # a live order continues the demo's numbering
    year = timezone.localdate().year
    last = OrderCounter.objects.get(year=year).last
    product = Product.objects.filter(active=True).first()
    order = order_create(contact_id=customer.pk, lines=[{"product_id": product.pk, "quantity": 1}])
    assert order.number == f"CF-{year}-{last + 1:06d}"
