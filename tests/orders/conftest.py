"""Fixtures of the orders tests: a small catalog, a customer, partners with API keys."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from api.orders import conf
from api.orders.events import register_order_listener, unregister_order_listener
from api.orders.services import gift_box_create, partner_api_key_create, partner_create, product_create


@pytest.fixture(autouse=True)
def _no_settle(monkeypatch):
    """Polling tests decide the settle window themselves; elsewhere changes show at once."""
    monkeypatch.setattr(conf, "PARTNER_POLL_SETTLE_SECONDS", 0)


@pytest.fixture(autouse=True)
def _no_webhook_kicks(settings):
    """The tests send webhooks themselves; no broker message per change (tests that check the kick turn it on)."""
    settings.PARTNER_WEBHOOKS_KICK = False


@pytest.fixture
def events():
    """Order events delivered after commit, in order."""
    seen: list = []

    def listener(event):
        seen.append(event)

    register_order_listener("tests.orders", listener)
    yield seen
    unregister_order_listener("tests.orders")


@pytest.fixture
def catalog(db):
    ginger = product_create(sku="SIR-GING-50", name="Sirop de gingembre", price_xaf=3500, unit_cost_xaf=1200,
                            volume_ml=500)
    bissap = product_create(sku="SIR-BISS-50", name="Sirop de bissap", price_xaf=3000, unit_cost_xaf=1000,
                            volume_ml=500)
    liqueur = product_create(sku="LIQ-BISS-70", name="Liqueur de bissap", kind="liqueur", tier="premium",
                             price_xaf=9500, unit_cost_xaf=3500)
    old = product_create(sku="SIR-OLD", name="Sirop retiré", price_xaf=2000, active=False)
    box = gift_box_create(sku="COF-DECOUVERTE", name="Coffret Découverte", price_xaf=10000,
                          items=[{"product_id": ginger.pk, "quantity": 1}, {"product_id": bissap.pk, "quantity": 2}])
    return {"ginger": ginger, "bissap": bissap, "liqueur": liqueur, "old": old, "box": box}


@pytest.fixture
def customer(db):
    from api.contacts.services import contact_upsert

    return contact_upsert(phone="+237690112233", name="Mireille Ngo").contact


@pytest.fixture
def make_partner(db):
    def make(name: str, *, discount: int = 10, webhook_url: str = ""):
        partner = partner_create(name=name, contact_person="Serge", discount_percent=discount,
                                 webhook_url=webhook_url)
        key, raw = partner_api_key_create(partner_id=partner.pk, name="test")
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
        partner.client = client
        partner.raw_key = raw
        partner.key = key
        return partner

    return make
