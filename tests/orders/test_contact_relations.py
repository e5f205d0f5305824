"""Orders follow their contact: a merge moves them, an erase anonymises them but keeps amounts,
the privacy export lists them."""

from __future__ import annotations

import pytest

from api.orders.models import Order
from api.orders.services import complaint_create, order_create

pytestmark = pytest.mark.django_db


def _order(catalog, contact_id, **extra):
    return order_create(contact_id=contact_id, lines=[{"product_id": catalog["ginger"].pk, "quantity": 2}],
                        delivery_address="Rue 1.234, Bonapriso", neighbourhood="Bonapriso", delivery_fee_xaf=1000,
                        **extra)


def test_a_merge_moves_orders_gifts_and_complaints(catalog, customer):
    from api.contacts.services import contact_merge, contact_upsert

    duplicate = contact_upsert(phone="+237655000111", name="Mireille (WhatsApp)").contact
    bought = _order(catalog, duplicate.pk)
    gift = _order(catalog, customer.pk, recipient={"phone": "+237655000222", "name": "Cousine"})
    complaint = complaint_create(order_id=bought.pk, text="Bouteille fêlée")
    contact_merge(target_id=customer.pk, source_id=duplicate.pk)
    bought.refresh_from_db()
    complaint.refresh_from_db()
    assert bought.contact_id == customer.pk
    assert complaint.contact_id == customer.pk
    assert Order.objects.filter(contact=customer).count() == 2
    assert gift.recipient_id != customer.pk


def test_an_erase_keeps_amounts_and_drops_addresses(catalog, customer):
    from api.contacts.services import contact_erase
    from api.orders.models import Refund

    order = _order(catalog, customer.pk)
    refund = Refund.objects.create(order=order, amount_xaf=3000, reason="Mme Ndongo: bouteille cassée à Bonapriso")
    contact_erase(contact_id=customer.pk)
    order.refresh_from_db()
    refund.refresh_from_db()
    assert (order.total_xaf, order.subtotal_xaf) == (8000, 7000)
    assert order.delivery_address == ""
    assert order.neighbourhood == ""
    assert (refund.amount_xaf, refund.reason) == (3000, "")  # the money stays in the books, her words go


def test_the_privacy_export_lists_the_orders(catalog, customer):
    from api.orders.selectors import orders_export

    order = _order(catalog, customer.pk)
    exported = orders_export(customer.pk)
    assert exported[0]["number"] == order.number
    assert exported[0]["lines"][0]["quantity"] == 2
