"""Messenger and WhatsApp as second and third channels (fake Graph server), and the contact timeline."""

from __future__ import annotations

import pytest
from django.utils import timezone

from api.contacts.services import consent_grant, contact_upsert
from api.nurture.models import OutboundMessage
from tests.fakes.graph_server import FakeGraph
from tests.nurture.conftest import dispatch, make_contact, marketing

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake_graph(settings):
    with FakeGraph(access_token="page-token") as fake:
        settings.META_GRAPH_BASE_URL = fake.base_url
        settings.META_PAGE_ACCESS_TOKEN = "page-token"
        settings.META_APP_SECRET = ""
        settings.WHATSAPP_ACCESS_TOKEN = "page-token"
        settings.WHATSAPP_PHONE_NUMBER_ID = "1098765432"
        yield fake


def _inbound(contact, channel):
    from api.campaigns.services import touchpoint_record

    touchpoint_record(contact_id=contact.pk, channel=channel, kind="inbound_message", occurred_at=timezone.now(),
                      provider_event_id=f"in:{channel}:{contact.pk}")


def test_messenger_inside_the_window_is_sent_through_the_send_api(fake_graph):
    contact = contact_upsert(facebook_psid="2400000000002", first_name="Line").contact
    consent_grant(contact_id=contact.pk, channel="messenger", how="test")
    _inbound(contact, "messenger")
    message = marketing(contact, "Bonjour Line", channel="messenger")
    dispatch()
    message.refresh_from_db()
    assert message.state == "sent"
    assert message.provider_message_id.startswith("m_")
    assert fake_graph.sent[0]["to"] == "2400000000002"
    assert fake_graph.sent[0]["body"]["messaging_type"] == "UPDATE"


def test_whatsapp_outside_its_window_needs_a_template_inside_it_is_sent(fake_graph):
    contact = contact_upsert(whatsapp="+237690001122", first_name="Eric").contact
    consent_grant(contact_id=contact.pk, channel="whatsapp", how="test")
    before = marketing(contact, "Avant", channel="whatsapp")
    dispatch()
    before.refresh_from_db()
    assert (before.state, before.reason) == ("skipped", "template_required")
    _inbound(contact, "whatsapp")
    after = marketing(contact, "Après", channel="whatsapp")
    dispatch()
    after.refresh_from_db()
    assert after.state == "sent"
    assert fake_graph.sent[-1]["to"] == "237690001122"


def test_sent_and_skipped_messages_appear_in_the_contact_timeline(staff_client, fake_telegram):
    contact = make_contact(8001)
    marketing(contact, "Promo de Noël")
    dispatch()
    OutboundMessage.objects.create(contact=contact, channel="telegram", recipient="8001", text="x", state="skipped",
                                   reason="weekly_cap", due_at=timezone.now(), idempotency_key="t:skip")
    response = staff_client.get(f"/api/v1/contacts/{contact.pk}/timeline")
    assert response.status_code == 200
    body = response.json()
    events = body["results"] if isinstance(body, dict) else body
    kinds = [e["kind"] for e in events]
    assert "message_sent" in kinds
    assert "message_skipped" in kinds
