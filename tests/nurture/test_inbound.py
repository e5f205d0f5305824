"""The inbound pipeline's edges: redeliveries, signatures, delivery reports, referral codes, odd answers."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from django.utils import timezone

from api.campaigns.models import Touchpoint
from api.campaigns.services import campaign_create
from api.contacts.models import Consent, Contact
from api.contacts.selectors import contact_can_receive
from api.contacts.services import contact_erase, contact_upsert
from api.nurture.models import InboundMessage, OutboundMessage
from api.nurture.services import STOP_CONFIRM
from api.nurture.services.inbound import MONTHLY_CHOICE, Inbound, inbound_receive
from tests.fakes.telegram_server import message_update
from tests.nurture.conftest import SECRET, marketing
from tests.nurture.meta_helpers import (
    META_URL,
    NUMBER,
    PSID,
    deliver_all,
)

pytestmark = pytest.mark.django_db


def _state() -> tuple[int, int, int, int]:
    return (Contact.objects.count(), InboundMessage.objects.count(), Touchpoint.objects.count(),
            OutboundMessage.objects.count())


def test_a_redelivered_webhook_changes_nothing(whatsapp, api_client):
    first = whatsapp.post_inbound_text(NUMBER, "Bonjour, vous livrez à Bonamoussadi ?")
    assert first.ok
    before = _state()
    again = api_client.generic("POST", META_URL, first.body, content_type="application/json",
                               HTTP_X_HUB_SIGNATURE_256=first.headers["X-Hub-Signature-256"])
    assert again.status_code == 200
    assert again.json() == {"recorded": 0, "duplicate": 1, "ignored": 0, "failed": 0}
    assert _state() == before
    assert OutboundMessage.objects.filter(category="staff").count() == 1


def test_a_stop_with_a_bad_signature_is_refused_and_changes_nothing(whatsapp, api_client):
    whatsapp.post_inbound_text(NUMBER, "Bonjour")
    contact = Contact.objects.get(whatsapp=NUMBER)
    before = _state()
    forged = json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{
        "field": "messages", "value": {"messaging_product": "whatsapp", "metadata": {"phone_number_id": "1"},
                                       "messages": [{"from": NUMBER[1:], "id": "wamid.FORGED", "timestamp": "1767261700",
                                                     "type": "text", "text": {"body": "STOP"}}]}}]}]}).encode()
    for signature in ("sha256=" + "0" * 64, None):
        headers = {"HTTP_X_HUB_SIGNATURE_256": signature} if signature else {}
        response = api_client.generic("POST", META_URL, forged, content_type="application/json", **headers)
        assert response.status_code == 403
        assert response.json()["code"] == "invalid_signature"
        assert set(response.json()) >= {"code", "message", "errors"}
    assert _state() == before
    assert contact_can_receive(contact.pk, "whatsapp") == (True, "ok")


def test_whatsapp_statuses_reach_the_messages_we_sent(whatsapp):
    whatsapp.post_inbound_text(NUMBER, "Bonjour")
    deliver_all()
    intro = OutboundMessage.objects.get(idempotency_key__endswith=":intro")
    assert intro.state == "sent"
    assert intro.delivered_at is None
    posted = whatsapp.post_statuses(upto="read", wamids=[intro.provider_message_id])
    assert [p.ok for p in posted] == [True, True, True]
    assert posted[-1].status == 200
    intro.refresh_from_db()
    assert intro.delivered_at is not None
    assert intro.read_at is not None
    assert intro.pricing_category == "service"


def test_messenger_receipts_reach_the_messages_we_sent(messenger):
    messenger.post_inbound_message(PSID, "Bonjour")
    deliver_all()
    sent = OutboundMessage.objects.filter(contact__facebook_psid=PSID, state="sent")
    assert sent.count() == 2
    assert all(p.ok for p in messenger.post_receipts(upto="read", psid=PSID))
    assert sent.filter(read_at__isnull=False).count() == 2


def test_a_tapped_source_the_bot_does_not_know_is_kept_as_other_and_logged(whatsapp, caplog):
    whatsapp.post_inbound_text(NUMBER, "Bonjour")
    whatsapp.post_inbound_reply(NUMBER, "src:tiktok", "TikTok", list_reply=True)
    contact = Contact.objects.get(whatsapp=NUMBER)
    assert contact.self_reported_source == "other"
    row = InboundMessage.objects.get(action="source")
    assert (row.text, row.payload, row.details["unknown_source"]) == ("TikTok", "src:tiktok", "tiktok")
    assert Touchpoint.objects.get(kind="self_reported_source").details["raw"] == "tiktok"
    assert "tiktok" in caplog.text


def test_the_opt_out_button_of_a_marketing_template_is_a_stop(whatsapp):
    whatsapp.post_inbound_text(NUMBER, "Bonjour")
    whatsapp.post_inbound_button(NUMBER, "STOP_PROMOS", "Stop promotions")
    contact = Contact.objects.get(whatsapp=NUMBER)
    assert contact_can_receive(contact.pk, "whatsapp") == (False, "consent_revoked")


def test_stop_on_one_channel_leaves_the_others_alone(whatsapp):
    contact = contact_upsert(whatsapp=NUMBER, telegram_chat_id="551234567", first_name="Awa",
                             consents=["whatsapp", "telegram"], consent_how="test").contact
    on_telegram = marketing(contact, "Promo Telegram", channel="telegram")
    on_whatsapp = marketing(contact, "Promo WhatsApp", channel="whatsapp")
    whatsapp.post_inbound_text(NUMBER, "désabonner")
    on_telegram.refresh_from_db(), on_whatsapp.refresh_from_db()
    assert (on_whatsapp.state, on_telegram.state) == ("cancelled", "scheduled")
    assert contact_can_receive(contact.pk, "telegram") == (True, "ok")
    assert contact_can_receive(contact.pk, "whatsapp") == (False, "consent_revoked")


def test_a_newcomer_whose_first_word_is_stop_gets_only_the_confirmation(whatsapp):
    whatsapp.post_inbound_text(NUMBER, "STOP")
    deliver_all()
    contact = Contact.objects.get(whatsapp=NUMBER)
    assert contact_can_receive(contact.pk, "whatsapp") == (False, "no_consent")  # never granted: no welcome
    assert Consent.objects.get(contact=contact, channel="whatsapp").revoked_at is not None  # and it is remembered
    assert [(m.text, [c for c, _ in m.choices]) for m in whatsapp.messages_to(NUMBER)] == [
        (STOP_CONFIRM, [MONTHLY_CHOICE])]


# --- referral codes typed at entry ---------------------------------------------------------------------


@pytest.fixture
def ambassador(db):
    return contact_upsert(phone="+237699111222", first_name="Mireille").contact


def test_a_wa_me_prefilled_code_makes_the_ambassador_the_referrer(whatsapp, ambassador):
    whatsapp.post_inbound_text(NUMBER, f"Bonjour, code AMB{ambassador.referral_code}")
    assert Contact.objects.get(whatsapp=NUMBER).referred_by_id == ambassador.pk


def test_a_code_typed_by_someone_already_known_does_not_make_a_referral(whatsapp, ambassador):
    known = contact_upsert(whatsapp=NUMBER, first_name="Paul").contact
    whatsapp.post_inbound_text(NUMBER, f"code {ambassador.referral_code}")
    known.refresh_from_db()
    assert known.referred_by_id is None


def test_a_campaign_code_is_a_campaign_not_a_referral(whatsapp, ambassador):
    campaign = campaign_create(name="Flyers Akwa", code="FLYER-AKWA", channel="flyer")
    whatsapp.post_inbound_text(NUMBER, "Bonjour Confiotes ! Code FLYER-AKWA")
    contact = Contact.objects.get(whatsapp=NUMBER)
    assert contact.referred_by_id is None
    assert Touchpoint.objects.get(contact_id=contact.pk, kind="inbound_message").campaign == campaign
    assert contact.acquisition_channel == "flyer"


def test_an_m_me_ref_with_a_personal_code_makes_the_ambassador_the_referrer(messenger, ambassador):
    messenger.post_inbound_message(PSID, "Bonjour", referral={"ref": ambassador.referral_code.lower(),
                                                             "source": "SHORTLINK", "type": "OPEN_THREAD"})
    assert Contact.objects.get(facebook_psid=PSID).referred_by_id == ambassador.pk


def test_a_telegram_start_payload_with_a_personal_code_makes_the_ambassador_the_referrer(api_client, ambassador):
    update = message_update(551234567, f"/start {ambassador.referral_code}", update_id=7001)
    assert api_client.post("/api/v1/webhooks/telegram", update, format="json",
                           HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=SECRET).status_code == 200
    assert Contact.objects.get(telegram_chat_id="551234567").referred_by_id == ambassador.pk


def test_an_unknown_code_changes_nothing_but_the_message_is_kept(whatsapp, ambassador):
    whatsapp.post_inbound_text(NUMBER, "code ZZZZ9999")
    contact = Contact.objects.get(whatsapp=NUMBER)
    assert contact.referred_by_id is None
    assert InboundMessage.objects.get(contact=contact).text == "code ZZZZ9999"


# --- the person's rights ---------------------------------------------------------------------------------


def test_erasing_a_contact_drops_what_they_wrote(whatsapp):
    whatsapp.post_inbound_text(NUMBER, "Mon adresse : rue 1.234, Akwa", at=timezone.now() - timedelta(minutes=1))
    contact = Contact.objects.get(whatsapp=NUMBER)
    contact_erase(contact_id=contact.pk)
    row = InboundMessage.objects.get()
    assert (row.text, row.sender) == ("(erased)", "")


# --- two deliveries at once (PostgreSQL: real concurrent transactions) ----------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_deliveries_of_one_message_handle_it_once():
    from django.db import connection, connections

    if connection.vendor != "postgresql":
        pytest.skip("concurrent transactions need PostgreSQL (SQLite has one writer)")
    event = Inbound(channel="whatsapp", sender=NUMBER, provider_message_id="wamid.SAME",
                    event_key="whatsapp:wamid.SAME", occurred_at=timezone.now(), text="Bonjour, le prix du coffret ?",
                    identity={"whatsapp": NUMBER})
    barrier = threading.Barrier(2)
    results: list[object] = []

    def deliver() -> None:
        try:
            barrier.wait(timeout=10)
            results.append(inbound_receive(event))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(result is None for result in results) == [False, True]
    assert _state()[:3] == (1, 1, 1)
    assert OutboundMessage.objects.filter(category="staff").count() == 1
    assert OutboundMessage.objects.filter(category="service").count() == 2  # the introduction and the question


def test_a_tapped_button_the_bot_did_not_send_is_the_person_talking(whatsapp):
    """A template's quick reply ("Je veux commander") is words for staff, not a command of the bot."""
    whatsapp.post_inbound_text(NUMBER, "Bonjour")
    whatsapp.post_inbound_button(NUMBER, "ORDER_NOW", "Je veux commander")
    row = InboundMessage.objects.get(payload="ORDER_NOW")
    assert (row.kind, row.action) == ("button", "question")
    assert OutboundMessage.objects.filter(category="staff", text__endswith=": Je veux commander").exists()
