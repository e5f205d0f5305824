"""Replenishment reaches every customer, and the predicted reorder date is in the contact's API and
filters the contact list."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from api.contacts.models import Contact
from api.contacts.services import referral_codes_new
from api.nurture.models import NurtureProfile, OutboundMessage
from api.nurture.services import replenishment_plan
from api.orders.models import Order
from tests.nurture.conftest import make_contact

pytestmark = pytest.mark.django_db

CUSTOMERS = 3000


def _customers(count):
    """``count`` customers written at once (no channel: a reminder due to them would find no way)."""
    codes = referral_codes_new(count)
    Contact.objects.bulk_create([Contact(name=f"Client {i}", referral_code=codes[i]) for i in range(count)],
                                batch_size=1000)


def test_replenishment_reaches_customer_2500_of_3000():
    now = timezone.now()
    _customers(2499)
    late = make_contact(2500, first_name="Awa")  # Telegram and consent: a reminder can reach her
    _customers(CUSTOMERS - 2500)
    ids = list(Contact.objects.order_by("pk").values_list("pk", flat=True))
    assert len(ids) == CUSTOMERS
    assert ids.index(late.pk) == 2499  # customer #2,500 by id, beyond the 2,000 the old plan looked at
    orders = []
    for n, contact_id in enumerate(ids):
        # Everyone orders every 10 days and is due in 5 days, except customer #2,500: due today.
        ago = (60, 30) if contact_id == late.pk else (15, 5)
        orders += [Order(number=f"R-{n}-{d}", contact_id=contact_id, created_at=now - timedelta(days=d)) for d in ago]
    Order.objects.bulk_create(orders, batch_size=2000)

    assert replenishment_plan(now=now) == 1
    assert replenishment_plan(now=now) == 0  # once per last order

    message = OutboundMessage.objects.get(idempotency_key__startswith="replenish:")
    assert message.contact_id == late.pk
    assert "Awa" in message.text
    assert NurtureProfile.objects.filter(replenishment_due_at__isnull=False).count() == CUSTOMERS
    assert NurtureProfile.objects.get(contact=late).replenishment_due_at == now
    a_customer = NurtureProfile.objects.get(contact_id=ids[2700])
    assert a_customer.replenishment_due_at == now + timedelta(days=5)


def test_a_new_order_moves_the_predicted_date_at_the_next_plan():
    now = timezone.now()
    contact = make_contact(51)
    for d in (40, 20):
        Order.objects.create(number=f"M-{d}", contact=contact, created_at=now - timedelta(days=d))
    replenishment_plan(now=now)
    assert NurtureProfile.objects.get(contact=contact).replenishment_due_at == now
    Order.objects.create(number="M-0", contact=contact, created_at=now)
    replenishment_plan(now=now)
    assert NurtureProfile.objects.get(contact=contact).replenishment_due_at == now + timedelta(days=20)


def test_the_reorder_date_is_in_the_contact_api_and_filters_the_list(staff_client):
    now = timezone.now().replace(microsecond=0)
    soon, later, never = make_contact(61), make_contact(62), make_contact(63)
    NurtureProfile.objects.create(contact=soon, replenishment_due_at=now + timedelta(days=3))
    NurtureProfile.objects.create(contact=later, replenishment_due_at=now + timedelta(days=30))

    detail = staff_client.get(f"/api/v1/contacts/{soon.pk}").json()
    plain = staff_client.get(f"/api/v1/contacts/{never.pk}").json()
    week = (now + timedelta(days=7)).isoformat().replace("+00:00", "Z")
    due_this_week = staff_client.get("/api/v1/contacts", {"reorder_due_before": week})
    due_after = staff_client.get("/api/v1/contacts", {"reorder_due_after": week})
    bad = staff_client.get("/api/v1/contacts", {"reorder_due_before": "next tuesday"})

    assert detail["attributes"]["reorder_due_at"].startswith((now + timedelta(days=3)).date().isoformat())
    assert plain["attributes"] == {"reorder_due_at": None}
    assert due_this_week.status_code == 200
    assert [c["id"] for c in due_this_week.json()["results"]] == [soon.pk]
    assert due_this_week.json()["results"][0]["attributes"]["reorder_due_at"] is not None
    assert [c["id"] for c in due_after.json()["results"]] == [later.pk]
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "reorder_due_before"
