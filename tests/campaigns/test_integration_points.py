"""How campaigns plugs into the other apps: contacts registry, orders listener, demo data, secrets."""

from __future__ import annotations

import random
from datetime import date

import pytest

from api.campaigns import services
from api.campaigns.demo import seed_campaigns
from api.campaigns.models import Campaign, CampaignCost, SyncCursor, Touchpoint
from api.contacts.registry import contact_relations, timeline_sources
from api.contacts.services import contact_merge
from api.orders.events import order_listeners
from integrations.errors import PermanentError
from tests.fakes.graph_server import FakeGraph

pytestmark = pytest.mark.django_db


def test_touchpoints_are_a_contact_relation_and_a_timeline_source():
    assert any(r.model is Touchpoint and r.field_name == "contact" for r in contact_relations())
    assert "campaigns.touchpoint" in timeline_sources()
    assert order_listeners().get("campaigns") is services.order_event_listener


def test_a_rejected_token_never_shows_in_errors(meta_settings, make_campaign):
    meta_settings.META_ACCESS_TOKEN = "EAAB-very-secret-token"
    meta_settings.META_APP_SECRET = "app-secret-value"
    with FakeGraph(access_token="another-token", campaigns=1, days=2, start=date(2026, 1, 1)) as fake:
        meta_settings.META_GRAPH_BASE_URL = fake.base_url
        with pytest.raises(PermanentError) as info:
            services.facebook_ads_sync(today=date(2026, 1, 2), sleep=lambda s: None)
    stored = SyncCursor.objects.get().last_error
    for text in (str(info.value), stored):
        assert "EAAB-very-secret-token" not in text
        assert "app-secret-value" not in text
    assert "token" in stored


def test_the_demo_seeder_puts_touches_before_orders(make_contact):
    for i in range(30):
        make_contact(phone=f"+23769900{i:04d}")
    summary = seed_campaigns(rng=random.Random(7))
    assert "campaigns" in summary
    assert Campaign.objects.filter(channel="facebook_ads").exists()
    assert Campaign.objects.filter(channel="tasting").exists()
    assert Touchpoint.objects.exists()
    assert CampaignCost.objects.filter(kind="ads", source="synced").exists()


def test_touchpoints_move_with_a_merge_and_later_touches_follow(make_contact):
    target, source = make_contact("+237699000101"), make_contact("+237699000102")
    services.touchpoint_record(contact_id=source.pk, channel="whatsapp", kind="inbound_message")
    contact_merge(target_id=target.pk, source_id=source.pk)
    assert Touchpoint.objects.get().contact_id == target.pk
    later = services.touchpoint_record(contact_id=source.pk, channel="whatsapp", kind="inbound_message")
    assert later.contact_id == target.pk
