"""Fixtures of the back office tests: a staff member signed in, a small catalog, a coupon."""

from __future__ import annotations

import pytest

from api.campaigns.services import campaign_create, coupon_create
from api.contacts.services import contact_upsert
from api.orders.services import gift_box_create, product_create

STAFF_PASSWORD = "pw-staff-123"


@pytest.fixture(autouse=True)
def _no_webhook_kicks(settings):
    """No broker message per order change: these tests look at pages, not at partner webhooks."""
    settings.PARTNER_WEBHOOKS_KICK = False


@pytest.fixture
def staff(db, django_user_model):
    return django_user_model.objects.create_user(username="awa", password=STAFF_PASSWORD, is_staff=True)


@pytest.fixture
def office(client, staff):
    """A Django test client signed in as staff, in the back office's default language."""
    client.force_login(staff)
    return client


@pytest.fixture
def coffret(db):
    ginger = product_create(sku="SIR-GING-50", name="Sirop de gingembre", price_xaf=3500, unit_cost_xaf=1200)
    bissap = product_create(sku="SIR-BISS-50", name="Sirop de bissap", price_xaf=3000, unit_cost_xaf=1000)
    return gift_box_create(sku="COF-DECOUVERTE", name="Coffret Découverte", price_xaf=10000,
                           items=[{"product_id": ginger.pk, "quantity": 1}, {"product_id": bissap.pk, "quantity": 2}])


@pytest.fixture
def coupon(db):
    campaign = campaign_create(name="Foire de Douala", code="FOIRE26", channel="fair")
    return coupon_create(campaign=campaign, code="BIENVENUE")


@pytest.fixture
def customer(db):
    return contact_upsert(phone="+237690112233", name="Mireille Ngo", city="Douala").contact
