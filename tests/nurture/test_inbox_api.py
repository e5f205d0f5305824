"""The staff inbox API: order and filters, bad input in the common error shape, owner, merge and erase,
and staff messages of other apps through the outbox (the Monday summary)."""

from __future__ import annotations

import datetime
import itertools
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from api.attribution.services import weekly_summary_send
from api.common.staff_messages import StaffMessage, staff_message_send, unregister_staff_messenger
from api.contacts.models import Contact
from api.contacts.services import contact_erase, contact_merge
from api.nurture.models import Conversation, OutboundMessage
from api.nurture.services import staff_message_deliver
from tests.fakes.telegram_server import message_update
from tests.nurture.conftest import SECRET, STAFF_CHAT
from tests.nurture.meta_helpers import deliver_all

pytestmark = pytest.mark.django_db

INBOX = "/api/v1/nurture/conversations"
TELEGRAM_URL = "/api/v1/webhooks/telegram"
_updates = itertools.count(5000)


def write(api_client: Any, chat: int, text: str, at: datetime.datetime, name: str = "Awa") -> Contact:
    """A person writes to the bot on Telegram at ``at`` (their own clock)."""
    update = message_update(chat, text, update_id=next(_updates), date=int(at.timestamp()), first_name=name)
    response = api_client.post(TELEGRAM_URL, update, format="json", HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=SECRET)
    assert response.status_code == 200, response.content
    return Contact.objects.get(telegram_chat_id=str(chat))


@pytest.fixture
def two_people(api_client, staff_chat) -> tuple[Contact, Contact, datetime.datetime]:
    now = timezone.now().replace(microsecond=0)
    awa = write(api_client, 111, "Bonjour, le coffret Noël est dispo ?", now - timedelta(hours=3), name="Awa")
    brice = write(api_client, 222, "Je veux 10 bouteilles pour ma boutique", now - timedelta(hours=1), name="Brice")
    return awa, brice, now


def _rows(client: Any, **params: Any) -> list[dict[str, Any]]:
    response = client.get(INBOX, params)
    assert response.status_code == 200, response.content
    return response.json()["results"]


def test_waiting_conversations_come_first_the_newest_first(two_people, staff_client):
    awa, brice, now = two_people
    assert [r["contact"] for r in _rows(staff_client)] == [brice.pk, awa.pk]
    staff_client.post(f"{INBOX}/{brice.pk}/done")
    rows = _rows(staff_client)
    assert [r["contact"] for r in rows] == [awa.pk, brice.pk]  # nothing waits on Brice's side any more
    assert [r["contact"] for r in _rows(staff_client, waiting="true")] == [awa.pk]
    assert [r["contact"] for r in _rows(staff_client, state="done")] == [brice.pk]
    assert _rows(staff_client, channel="whatsapp") == []
    assert len(_rows(staff_client, channel="telegram")) == 2


def test_owner_filter_and_assignment(two_people, staff_client, staff_user, django_user_model):
    awa, brice, _ = two_people
    colleague = django_user_model.objects.create_user(username="brice-staff", password="x", is_staff=True)
    customer_user = django_user_model.objects.create_user(username="client", password="x", is_staff=False)
    assert staff_client.post(f"{INBOX}/{awa.pk}/assign", {"owner": "me"}, format="json").json()["owner"] == \
        staff_user.pk
    assert staff_client.post(f"{INBOX}/{brice.pk}/assign", {"owner": str(colleague.pk)},
                             format="json").status_code == 200
    assert [r["contact"] for r in _rows(staff_client, owner="me")] == [awa.pk]
    assert [r["contact"] for r in _rows(staff_client, owner=colleague.pk)] == [brice.pk]
    refused = staff_client.post(f"{INBOX}/{brice.pk}/assign", {"owner": str(customer_user.pk)}, format="json")
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["field"] == "owner"
    assert Conversation.objects.get(contact=brice).owner_id == colleague.pk  # unchanged
    assert staff_client.post(f"{INBOX}/{awa.pk}/assign", {"owner": None}, format="json").json()["owner"] is None
    assert [r["contact"] for r in _rows(staff_client, owner="none")] == [awa.pk]


@pytest.mark.parametrize(("params", "field"), [({"state": "closed"}, "state"), ({"channel": "sms"}, "channel"),
                                               ({"owner": "someone"}, "owner"), ({"waiting": "maybe"}, "waiting")])
def test_a_bad_filter_is_a_400_naming_it(two_people, staff_client, params, field):
    response = staff_client.get(INBOX, params)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == field


def test_bad_replies_are_400s_that_send_nothing(two_people, staff_client):
    awa, _, _ = two_people
    url = f"{INBOX}/{awa.pk}/replies"
    cases = [({"text": "Oui"}, {}, "idempotency_key"),
             ({"text": "x" * 2001}, {"HTTP_IDEMPOTENCY_KEY": "k1"}, "text"),
             ({"text": "Oui", "template": 7}, {"HTTP_IDEMPOTENCY_KEY": "k2"}, "template"),
             ({"text": "Oui", "channel": "whatsapp"}, {"HTTP_IDEMPOTENCY_KEY": "k3"}, "channel"),
             ({"text": "   "}, {"HTTP_IDEMPOTENCY_KEY": "k4"}, "text"),
             ({"text": "Oui"}, {"HTTP_IDEMPOTENCY_KEY": "bad key with spaces"}, "idempotency_key")]
    for body, headers, field in cases:
        response = staff_client.post(url, body, format="json", **headers)
        assert response.status_code == 400, (body, response.content)
        assert response.json()["errors"][0]["field"] == field, body
    assert not OutboundMessage.objects.filter(idempotency_key__startswith="inbox:").exists()
    assert staff_client.post(f"{INBOX}/999999/replies", {"text": "Oui"}, format="json",
                             HTTP_IDEMPOTENCY_KEY="k5").status_code == 404


def test_a_reply_on_telegram_reaches_the_person(two_people, staff_client, staff_chat):
    awa, _, _ = two_people
    response = staff_client.post(f"{INBOX}/{awa.pk}/replies", {"text": "Oui, 15 000 FCFA.", "client_key": "c-1"},
                                 format="json")
    assert response.status_code == 201
    deliver_all()
    assert [m.text for m in staff_chat.messages_to(111)][-1] == "Oui, 15 000 FCFA."


def test_only_staff_see_the_inbox(two_people, api_client):
    response = api_client.get(INBOX)
    assert response.status_code in (401, 403)
    assert "code" in response.json()


def test_a_merge_leaves_one_conversation_with_every_message(two_people, staff_client):
    awa, brice, now = two_people
    staff_client.post(f"{INBOX}/{awa.pk}/read")
    contact_merge(target_id=awa.pk, source_id=brice.pk)
    [row] = _rows(staff_client)
    assert row["contact"] == awa.pk
    assert row["unread"] == 1  # Brice's message, moved to Awa, was never read
    assert parse_datetime(row["waiting_since"]) == now - timedelta(hours=3)
    assert Conversation.objects.filter(contact=awa).count() == 1


def test_an_erased_person_leaves_the_inbox(two_people, staff_client):
    awa, brice, _ = two_people
    contact_erase(contact_id=brice.pk)
    assert [r["contact"] for r in _rows(staff_client)] == [awa.pk]
    assert staff_client.get(f"{INBOX}/{brice.pk}").status_code == 404


# --- staff messages of other apps ----------------------------------------------------------------------


def test_the_monday_summary_is_an_outbox_staff_message(staff_chat, settings):
    settings.PUBLIC_BASE_URL = "https://bo.example.cm"
    summary = weekly_summary_send(week=datetime.date(2026, 11, 16))
    assert summary.state == "sent"
    assert staff_chat.calls == []  # no direct call to Telegram: the dispatcher sends it
    message = OutboundMessage.objects.get(category="staff")
    assert message.idempotency_key == "staff:weekly_summary:2026-11-16"
    assert weekly_summary_send(week=datetime.date(2026, 11, 18)).pk == summary.pk
    deliver_all()
    [sent] = staff_chat.messages_to(int(STAFF_CHAT))
    assert "Semaine du 16/11/2026" in sent.text
    assert "https://bo.example.cm/app/rapports/?semaine=2026-11-16" in sent.text
    assert OutboundMessage.objects.filter(category="staff").count() == 1


def test_staff_messages_need_a_deliverer_and_a_chat(settings):
    assert staff_message_send(StaffMessage(key="test:1", text="Bonjour l'équipe")) is True
    settings.TELEGRAM_STAFF_CHAT_ID = ""
    assert staff_message_send(StaffMessage(key="test:2", text="Personne")) is False
    assert weekly_summary_send(week=datetime.date(2026, 11, 16)) is None
    settings.TELEGRAM_STAFF_CHAT_ID = STAFF_CHAT
    unregister_staff_messenger("nurture")
    try:
        assert staff_message_send(StaffMessage(key="test:3", text="Personne")) is False
    finally:
        from api.common.staff_messages import register_staff_messenger

        register_staff_messenger("nurture", staff_message_deliver)
    assert list(OutboundMessage.objects.values_list("idempotency_key", flat=True)) == ["staff:test:1"]
