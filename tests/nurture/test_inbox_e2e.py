"""The staff inbox end to end, against the fake WhatsApp, Graph (Messenger) and Telegram servers.

A newcomer writes on WhatsApp; staff see the conversation in the inbox API (unread, waiting since the
time the person wrote), reply (the fake receives the text once, however many times the button is
tapped), see the delivery statuses come back on the reply, and mark it done; the person's next message
reopens it. Outside the 24-hour window a reply needs an approved template and goes as that template.
A staff member answers a Messenger customer by replying to the forwarded question in the Telegram staff
chat, and a reply there is never mistaken for a customer's message.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from api.contacts.models import Contact
from api.nurture.models import InboundMessage, OutboundMessage
from tests.fakes.whatsapp_server import template
from tests.nurture.conftest import SECRET, STAFF_CHAT
from tests.nurture.meta_helpers import NUMBER, PSID, deliver_all

pytestmark = pytest.mark.django_db

INBOX = "/api/v1/nurture/conversations"
TELEGRAM_URL = "/api/v1/webhooks/telegram"
QUESTION = "Bonjour, avez-vous du sirop de bissap en 1 litre ?"
ANSWER = "Oui, 4 500 FCFA le litre. On vous le livre ?"


def _inbox(client: Any, **params: Any) -> list[dict[str, Any]]:
    response = client.get(INBOX, params)
    assert response.status_code == 200, response.content
    return response.json()["results"]


def _at(value: str | None) -> Any:
    return parse_datetime(value) if value else None


def _reply(client: Any, contact_id: int, key: str, **body: Any) -> Any:
    return client.post(f"{INBOX}/{contact_id}/replies", body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_a_newcomer_on_whatsapp_is_answered_from_the_inbox(whatsapp, staff_client, staff_user):
    wrote_at = (timezone.now() - timedelta(minutes=10)).replace(microsecond=0)

    # 1. A newcomer writes on WhatsApp: the conversation is in the inbox, unread, waiting since they wrote.
    assert whatsapp.post_inbound_text(NUMBER, QUESTION, name="Awa", at=wrote_at).ok
    contact = Contact.objects.get(whatsapp=NUMBER)
    [row] = _inbox(staff_client)
    assert (row["contact"], row["state"], row["unread"], row["owner"]) == (contact.pk, "open", 1, None)
    assert _at(row["waiting_since"]) == wrote_at
    assert row["channels"] == ["whatsapp"]
    assert row["whatsapp_window_open"] is True
    deliver_all()  # the bot's introduction and source question: they are no answer from staff
    [row] = _inbox(staff_client, state="open", channel="whatsapp")
    assert _at(row["waiting_since"]) == wrote_at

    # 2. Staff reply; a double tap with the same Idempotency-Key sends once.
    first = _reply(staff_client, contact.pk, "tap-1", text=ANSWER)
    second = _reply(staff_client, contact.pk, "tap-1", text=ANSWER)
    assert (first.status_code, second.status_code) == (201, 200), first.content
    assert first.json()["id"] == second.json()["id"]
    deliver_all()
    assert [m.text for m in whatsapp.messages_to(NUMBER)].count(ANSWER) == 1
    reply = OutboundMessage.objects.get(pk=first.json()["id"])
    assert (reply.category, reply.state, reply.channel) == ("service", "sent", "whatsapp")

    # 3. The statuses come back on the reply: delivered, then read.
    whatsapp.post_statuses(upto="read", wamids=[reply.provider_message_id])
    messages = staff_client.get(f"{INBOX}/{contact.pk}/messages").json()
    assert messages[0]["direction"] == "in"
    assert messages[0]["text"] == QUESTION
    ours = [m for m in messages if m["direction"] == "out" and m["id"] == reply.pk]
    assert len(ours) == 1
    assert ours[0]["state"] == "sent"
    assert ours[0]["delivered_at"] is not None
    assert ours[0]["read_at"] is not None
    assert messages[-1]["id"] == reply.pk  # the latest message is the reply
    [row] = _inbox(staff_client, owner="me")
    assert (row["unread"], row["waiting_since"], row["owner"]) == (0, None, staff_user.pk)
    assert row["last_message"]["text"] == ANSWER

    # 4. Done; the person's next message reopens it.
    done = staff_client.post(f"{INBOX}/{contact.pk}/done")
    assert done.status_code == 200
    assert done.json()["state"] == "done"
    assert _inbox(staff_client, state="open") == []
    later = (timezone.now() - timedelta(minutes=1)).replace(microsecond=0)
    assert whatsapp.post_inbound_text(NUMBER, "Et en 50 cl ?", at=later).ok
    [row] = _inbox(staff_client, state="open")
    assert (row["unread"], _at(row["waiting_since"])) == (1, later)
    read = staff_client.post(f"{INBOX}/{contact.pk}/read").json()
    assert (read["unread"], _at(read["waiting_since"])) == (0, later)  # read is not answered


def test_outside_the_whatsapp_window_a_reply_needs_a_template_and_goes_as_it(whatsapp, staff_client, settings):
    whatsapp.templates = [template("suivi_commande", "Bonjour {{1}}, nous revenons vers vous. Code {{2}}.",
                                   category="UTILITY")]
    whatsapp.enforce_window = True  # free text outside the window would be refused 131047
    settings.WHATSAPP_BUSINESS_ACCOUNT_ID = whatsapp.waba_id
    assert staff_client.post("/api/v1/nurture/whatsapp-templates/sync").status_code == 200
    wrote_at = (timezone.now() - timedelta(hours=26)).replace(microsecond=0)
    assert whatsapp.post_inbound_text(NUMBER, QUESTION, name="Awa", at=wrote_at).ok
    contact = Contact.objects.get(whatsapp=NUMBER)
    [row] = _inbox(staff_client)
    assert row["whatsapp_window_open"] is False

    refused = _reply(staff_client, contact.pk, "late-1", text=ANSWER)
    assert refused.status_code == 400
    body = refused.json()
    assert [(e["field"], e["code"]) for e in body["errors"]] == [("template", "template_required")]
    assert "template is needed" in body["errors"][0]["message"]
    assert not OutboundMessage.objects.filter(idempotency_key__startswith="inbox:").exists()

    template_id = staff_client.get("/api/v1/nurture/whatsapp-templates").json()["results"][0]["id"]
    accepted = _reply(staff_client, contact.pk, "late-2", template=template_id)
    assert accepted.status_code == 201, accepted.content
    deliver_all()
    [sent] = [m for m in whatsapp.messages_to(NUMBER) if m.template_name]
    assert sent.template_name == "suivi_commande"
    assert sent.body_parameters == ["Awa", contact.referral_code or "-"]
    reply = OutboundMessage.objects.get(pk=accepted.json()["id"])
    assert reply.state == "sent"
    assert reply.text.startswith("Bonjour Awa, nous revenons vers vous.")


def _staff_chat_update(update_id: int, text: str, reply_to: int | None) -> dict[str, Any]:
    message: dict[str, Any] = {
        "message_id": 700 + update_id % 100, "date": int(timezone.now().timestamp()), "text": text,
        "from": {"id": 42424242, "is_bot": False, "first_name": "Brice"},
        "chat": {"id": int(STAFF_CHAT), "type": "supergroup", "title": "Confiotes équipe"}}
    if reply_to is not None:
        message["reply_to_message"] = {"message_id": reply_to, "date": message["date"], "text": "…",
                                       "from": {"id": 1, "is_bot": True, "first_name": "Bot"},
                                       "chat": message["chat"]}
    return {"update_id": update_id, "message": message}


def test_a_reply_in_the_telegram_staff_chat_reaches_a_messenger_customer(messenger, staff_chat, api_client,
                                                                          staff_client, caplog):
    now = timezone.now().replace(microsecond=0)
    assert messenger.post_inbound_message(PSID, "Bonjour", at=now - timedelta(minutes=6)).ok
    assert messenger.post_inbound_message(PSID, QUESTION, at=now - timedelta(minutes=5)).ok
    deliver_all()
    question = InboundMessage.objects.get(text=QUESTION)
    [copy] = [m for m in staff_chat.messages_to(int(STAFF_CHAT)) if QUESTION in (m.text or "")]
    post = {"format": "json", "HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN": SECRET}

    # Brice answers the copy with Telegram's reply-to: Awa gets it on Messenger, once.
    update = _staff_chat_update(900001, ANSWER, reply_to=copy.message_id)
    assert api_client.post(TELEGRAM_URL, update, **post).status_code == 200
    assert api_client.post(TELEGRAM_URL, update, **post).json()["duplicate"] is True
    deliver_all()
    to_awa = [s["body"]["message"].get("text") for s in messenger.sent if s["channel"] == "messenger"
              and s["to"] == PSID]
    assert to_awa.count(ANSWER) == 1
    reply = OutboundMessage.objects.get(text=ANSWER)
    assert (reply.channel, reply.category, reply.contact_id) == ("messenger", "service", question.contact_id)
    [row] = _inbox(staff_client)
    assert row["waiting_since"] is None  # answered from the staff chat

    # Staff talking among themselves, or answering another staff message: never a customer, nothing sent.
    with caplog.at_level(logging.INFO, logger="api.nurture.services.inbox"):
        assert api_client.post(TELEGRAM_URL, _staff_chat_update(900002, "Je m'en occupe", reply_to=None),
                               **post).status_code == 200
        assert api_client.post(TELEGRAM_URL, _staff_chat_update(900003, "STOP", reply_to=987654),
                               **post).status_code == 200
    assert "no forwarded question" in caplog.text
    assert Contact.objects.count() == 1
    assert not InboundMessage.objects.filter(channel="telegram").exists()
    deliver_all()
    assert OutboundMessage.objects.filter(category="service", idempotency_key__startswith="inbox:").count() == 1


def test_a_staff_chat_reply_that_may_not_go_is_explained_in_the_staff_chat(whatsapp, staff_chat, api_client):
    # Awa wrote on WhatsApp 26 hours ago: free text may no longer go, and the staff chat cannot pick a template.
    assert whatsapp.post_inbound_text(NUMBER, QUESTION, name="Awa", at=timezone.now() - timedelta(hours=26)).ok
    deliver_all()
    [copy] = [m for m in staff_chat.messages_to(int(STAFF_CHAT)) if QUESTION in (m.text or "")]
    update = _staff_chat_update(900010, ANSWER, reply_to=copy.message_id)
    response = api_client.post(TELEGRAM_URL, update, format="json", HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=SECRET)
    assert response.status_code == 200
    deliver_all()
    assert not OutboundMessage.objects.filter(text=ANSWER).exists()
    assert ANSWER not in [m.text for m in whatsapp.messages_to(NUMBER)]
    warning = staff_chat.messages_to(int(STAFF_CHAT))[-1].text or ""
    assert warning.startswith("⚠️ Réponse de Brice non envoyée (WhatsApp)")
    assert "modèle approuvé" in warning
