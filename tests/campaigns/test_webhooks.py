"""Meta webhooks: handshake, signature over the raw body, Messenger and WhatsApp events, replays."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import timedelta
from pathlib import Path

import pytest

from api.campaigns.models import Touchpoint
from api.campaigns.selectors import messaging_window_until
from api.contacts.models import Contact

pytestmark = pytest.mark.django_db

URL = "/api/v1/webhooks/meta"
FIXTURES = Path(__file__).resolve().parents[1] / "integrations" / "meta" / "fixtures"


def _fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def _post(client, body: bytes, secret: str | None = "app-secret-for-tests", signature: str | None = None):
    headers = {}
    if signature is not None:
        headers["HTTP_X_HUB_SIGNATURE_256"] = signature
    elif secret is not None:
        headers["HTTP_X_HUB_SIGNATURE_256"] = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return client.generic("POST", URL, body, content_type="application/json", **headers)


def test_verification_handshake_echoes_the_challenge_only_for_our_token(api_client, meta_settings):
    ok = api_client.get(URL, {"hub.mode": "subscribe", "hub.verify_token": "verify-me", "hub.challenge": "1158201444"})
    assert ok.status_code == 200
    assert ok.content == b"1158201444"
    bad = api_client.get(URL, {"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"})
    assert bad.status_code == 403
    assert bad.json()["code"] == "invalid_signature"


@pytest.mark.parametrize("signature", [None, "sha256=" + "0" * 64, "sha1=abc", ""])
def test_a_bad_or_missing_signature_is_403_and_stores_nothing(api_client, meta_settings, signature):
    body = _fixture("messenger_text_message.json")
    response = _post(api_client, body, secret=None, signature=signature)
    assert response.status_code == 403
    assert response.json()["code"] == "invalid_signature"
    assert "app-secret-for-tests" not in response.content.decode()
    assert Contact.objects.count() == 0
    assert Touchpoint.objects.count() == 0


def test_a_body_signed_with_another_secret_is_refused(api_client, meta_settings):
    response = _post(api_client, _fixture("messenger_text_message.json"), secret="other-secret")
    assert response.status_code == 403
    assert Touchpoint.objects.count() == 0


def test_a_signed_body_whose_bytes_changed_is_refused(api_client, meta_settings):
    body = _fixture("messenger_text_message.json")
    signature = "sha256=" + hmac.new(b"app-secret-for-tests", body, hashlib.sha256).hexdigest()
    reformatted = json.dumps(json.loads(body)).encode()  # same JSON, other bytes
    assert _post(api_client, reformatted, signature=signature).status_code == 403


def test_messenger_message_makes_contact_and_opens_the_window(api_client, meta_settings):
    response = _post(api_client, _fixture("messenger_text_message.json"))
    assert response.status_code == 200
    assert response.json() == {"recorded": 1, "duplicate": 0, "ignored": 0, "failed": 0}
    contact = Contact.objects.get(facebook_psid="6789012345678901")
    touch = Touchpoint.objects.get()
    assert (touch.contact, touch.channel, touch.kind) == (contact, "messenger", "inbound_message")
    assert touch.provider_event_id == "messenger:m_1457764197618:41d102a3e1ae206a38"
    assert messaging_window_until(contact_id=contact.pk, channel="messenger",
                                  now=touch.occurred_at) == touch.occurred_at + timedelta(hours=24)


def test_a_replayed_webhook_adds_nothing(api_client, meta_settings):
    body = _fixture("messenger_text_message.json")
    _post(api_client, body)
    again = _post(api_client, body)
    assert again.status_code == 200
    assert again.json()["duplicate"] == 1
    assert again.json()["recorded"] == 0
    assert Touchpoint.objects.count() == 1
    assert Contact.objects.count() == 1


def test_mme_referral_finds_the_campaign_by_ref(api_client, meta_settings, make_campaign):
    campaign = make_campaign(code="SALON-DOUALA", channel="fair")
    _post(api_client, _fixture("messenger_referral_shortlink.json"))
    touch = Touchpoint.objects.get()
    assert touch.campaign == campaign
    assert touch.kind == "link_click"
    assert touch.contact.facebook_psid == "6789012345678902"
    assert touch.contact.acquisition_channel == "fair"


def test_click_to_messenger_ad_finds_the_campaign_and_opens_seven_days(api_client, meta_settings, make_campaign):
    campaign = make_campaign(code="FB-COFFRETS", facebook_ad_ids=["120210000000000042"])
    _post(api_client, _fixture("messenger_referral_ad.json"))  # ref "coffret-noel" is no campaign: ad id decides
    touch = Touchpoint.objects.get()
    assert (touch.campaign, touch.kind, touch.details["ctm_ad"]) == (campaign, "ad_referral", True)
    assert messaging_window_until(contact_id=touch.contact_id, channel="messenger",
                                  now=touch.occurred_at + timedelta(days=2)) == touch.occurred_at + timedelta(days=7)


def test_whatsapp_click_to_whatsapp_referral(api_client, meta_settings, make_campaign):
    campaign = make_campaign(code="FB-CTWA", facebook_ad_ids=["120210000000000042"])
    response = _post(api_client, _fixture("whatsapp_ctwa_message.json"))
    assert response.json()["recorded"] == 1
    contact = Contact.objects.get()
    assert (contact.whatsapp, contact.name, contact.acquisition_channel) == ("+237655998877", "Paul Eto", "facebook_ads")
    touch = Touchpoint.objects.get()
    assert (touch.campaign, touch.channel, touch.kind) == (campaign, "whatsapp", "ad_referral")
    assert touch.details["referral"]["ctwa_clid"].startswith("ARAk")
    assert _post(api_client, _fixture("whatsapp_ctwa_message.json")).json()["duplicate"] == 1


def test_whatsapp_text_with_a_code_finds_the_campaign(api_client, meta_settings, make_contact, make_campaign):
    campaign = make_campaign(code="FLYER-AKWA", channel="flyer")
    existing = make_contact(phone="+237655112233", name="Staff typed this")
    payload = {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp", "metadata": {"phone_number_id": "106540352242922"},
        "contacts": [{"profile": {"name": "WA name"}, "wa_id": "237655112233"}],
        "messages": [{"from": "237655112233", "id": "wamid.X1", "timestamp": "1767261700", "type": "text",
                      "text": {"body": "Bonjour Confiotes ! Code flyer-akwa"}}]}}]}]}
    _post(api_client, json.dumps(payload).encode())
    touch = Touchpoint.objects.get()
    assert touch.contact_id == existing.pk
    assert touch.campaign == campaign
    assert touch.kind == "inbound_message"
    existing.refresh_from_db()
    assert existing.name == "Staff typed this"  # a webhook never overwrites what staff typed


def test_statuses_and_echoes_are_ignored(api_client, meta_settings):
    assert _post(api_client, _fixture("whatsapp_statuses.json")).json()["recorded"] == 0
    assert _post(api_client, _fixture("messenger_read_and_echo.json")).json()["recorded"] == 0
    assert Touchpoint.objects.count() == 0


def test_without_a_configured_secret_everything_is_refused(api_client, meta_settings):
    meta_settings.META_APP_SECRET = ""
    assert _post(api_client, _fixture("messenger_text_message.json"), secret="").status_code == 403
