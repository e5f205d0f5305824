"""One conversation, three channels, the same records: the inbound pipeline end to end.

A newcomer writes to the business, gets the introduction and "Comment nous avez-vous connus ?" as
buttons, taps an answer, asks a question (copied to staff), then sends STOP and is out of marketing
at once. On Telegram the updates go to the Telegram webhook and replies to the fake Bot API; on
WhatsApp and Messenger the fake Cloud API / Graph server posts signed webhooks to the app's Meta
webhook URL and receives the replies. Whatever the channel, the contact, the inbound messages (with
the times the person wrote), the touchpoints, the source key, the revoked consent and the timeline
must come out the same.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from api.campaigns.models import Touchpoint
from api.contacts.models import Consent, Contact
from api.contacts.selectors import contact_can_receive, contact_timeline
from api.nurture.enums import Purpose
from api.nurture.models import Enrollment, InboundMessage, OutboundMessage, ScoreEvent
from api.nurture.services import SOURCE_QUESTION, STOP_CONFIRM, sequence_create
from api.nurture.services.inbound import MONTHLY_CHOICE, SOURCE_CHOICES, SOURCE_THANKS
from tests.fakes.graph_server import FakeGraph
from tests.fakes.telegram_server import FakeTelegram, callback_update, message_update
from tests.fakes.whatsapp_server import FakeWhatsApp
from tests.nurture.conftest import SECRET, STAFF_CHAT, marketing
from tests.nurture.meta_helpers import (
    NUMBER,
    PSID,
    deliver_all,
)

pytestmark = pytest.mark.django_db

TELEGRAM_URL = "/api/v1/webhooks/telegram"
CHAT = 551234567
QUESTION = "Avez-vous du sirop de bissap en 1 litre ?"
SOURCE_IDS = [f"src:{key}" for key, _ in SOURCE_CHOICES]


# --- one person, three channels: how they write and what they receive ------------------------------------


class TelegramPerson:
    channel = "telegram"
    first_text = "/start"
    first_touch = "bot_start"

    def __init__(self, api_client: Any, fake: FakeTelegram):
        self.api_client, self.fake, self.ids = api_client, fake, itertools.count(1000)

    def _post(self, update: dict[str, Any]) -> None:
        response = self.api_client.post(TELEGRAM_URL, update, format="json", HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=SECRET)
        assert response.status_code == 200, response.content

    def write(self, text: str, at: datetime) -> None:
        self._post(message_update(CHAT, text, update_id=next(self.ids), date=int(at.timestamp())))

    def tap(self, choice_id: str, title: str, at: datetime) -> None:
        self._post(callback_update(CHAT, choice_id, update_id=next(self.ids)))

    def received(self) -> list[tuple[str, list[str]]]:
        return [(m.text or "", [b["callback_data"] for row in (m.reply_markup or {}).get("inline_keyboard", [])
                                for b in row]) for m in self.fake.messages_to(CHAT)]

    def contact(self) -> Contact:
        return Contact.objects.get(telegram_chat_id=str(CHAT))


class WhatsAppPerson:
    channel = "whatsapp"
    first_text = "Bonjour"
    first_touch = "inbound_message"

    def __init__(self, fake: FakeWhatsApp):
        self.fake = fake

    def write(self, text: str, at: datetime) -> None:
        assert self.fake.post_inbound_text(NUMBER, text, at=at).ok

    def tap(self, choice_id: str, title: str, at: datetime) -> None:
        # Eight answers do not fit three reply buttons: the question came as a list.
        assert self.fake.post_inbound_reply(NUMBER, choice_id, title, list_reply=choice_id.startswith("src:"),
                                            at=at).ok

    def received(self) -> list[tuple[str, list[str]]]:
        return [(m.text or "", [choice for choice, _ in m.choices]) for m in self.fake.messages_to(NUMBER)]

    def contact(self) -> Contact:
        return Contact.objects.get(whatsapp=NUMBER)


class MessengerPerson:
    channel = "messenger"
    first_text = "Bonjour"
    first_touch = "inbound_message"

    def __init__(self, fake: FakeGraph):
        self.fake = fake

    def write(self, text: str, at: datetime) -> None:
        assert self.fake.post_inbound_message(PSID, text, at=at).ok

    def tap(self, choice_id: str, title: str, at: datetime) -> None:
        assert self.fake.post_inbound_message(PSID, title, quick_reply_payload=choice_id, at=at).ok

    def received(self) -> list[tuple[str, list[str]]]:
        return [(s["body"]["message"].get("text", ""), [q["payload"] for q in s["body"]["message"].get("quick_replies",
                                                                                                      [])])
                for s in self.fake.sent if s["channel"] == "messenger" and s["to"] == PSID]

    def contact(self) -> Contact:
        return Contact.objects.get(facebook_psid=PSID)


@pytest.fixture(params=["telegram", "whatsapp", "messenger"])
def person(request, api_client, staff_chat) -> Any:
    if request.param == "telegram":
        return TelegramPerson(api_client, staff_chat)
    if request.param == "whatsapp":
        return WhatsAppPerson(request.getfixturevalue("whatsapp"))
    return MessengerPerson(request.getfixturevalue("messenger"))


# --- the conversation ------------------------------------------------------------------------------------


def test_the_same_conversation_gives_the_same_records_on_every_channel(person, staff_chat):
    # The person's own clock: they wrote a while ago (a webhook can arrive late), a minute apart.
    t0 = (timezone.now() - timedelta(hours=3)).replace(microsecond=0)
    said = {"first": t0, "tap": t0 + timedelta(minutes=1), "question": t0 + timedelta(minutes=2),
            "stop": t0 + timedelta(minutes=3)}
    intro = sequence_create(name="Introduction", purpose=Purpose.INTRODUCTION, channels=[person.channel],
                            steps=[{"text": "{first_name}, goûtez notre sirop de gingembre !", "delay": "1 00:00:00"}])

    # 1. The person writes: the introduction, then the source question as buttons.
    person.write(person.first_text, said["first"])
    deliver_all()
    received = person.received()
    assert [choices for _, choices in received] == [[], SOURCE_IDS]
    assert received[0][0].startswith("Bonjour")
    assert "Bienvenue chez Confiotes" in received[0][0]
    assert received[1][0] == SOURCE_QUESTION
    contact = person.contact()
    enrollment = Enrollment.objects.get(contact=contact, sequence=intro)
    assert contact_can_receive(contact.pk, person.channel) == (True, "ok")

    # 2. A tap on "Une dégustation": the stable key on the contact.
    person.tap("src:tasting", "Une dégustation", said["tap"])
    contact.refresh_from_db()
    assert contact.self_reported_source == "tasting"

    # 3. A question: copied to the staff chat.
    person.write(QUESTION, said["question"])
    deliver_all()
    staff_texts = [m.text or "" for m in staff_chat.messages_to(int(STAFF_CHAT))]
    assert any(QUESTION in text for text in staff_texts)
    assert any("Nouveau prospect" in text for text in staff_texts)

    # 4. STOP: out of marketing at once, before any worker runs.
    person.write("STOP", said["stop"])
    assert contact_can_receive(contact.pk, person.channel) == (False, "consent_revoked")
    enrollment.refresh_from_db()
    assert (enrollment.state, enrollment.stopped_reason) == ("stopped", "opted_out")
    assert not OutboundMessage.objects.filter(contact=contact, category="marketing", state="scheduled").exists()
    deliver_all()
    assert person.received()[2:] == [(SOURCE_THANKS, []), (STOP_CONFIRM, [MONTHLY_CHOICE])]
    assert not OutboundMessage.objects.filter(contact=contact, category="marketing", state="sent").exists()

    # The records, the same whatever the channel.
    assert Contact.objects.count() == 1
    inbound = list(InboundMessage.objects.filter(contact=contact).order_by("id"))
    assert [(m.channel, m.action, m.text) for m in inbound] == [
        (person.channel, "welcome", person.first_text), (person.channel, "source", "Une dégustation"),
        (person.channel, "question", QUESTION), (person.channel, "stop", "STOP")]
    # When the person wrote, not when the server got it (a Telegram tap carries no time: its arrival stands).
    written = [m.occurred_at for m in inbound]
    expected = [said["first"], said["tap"], said["question"], said["stop"]]
    if person.channel == "telegram":
        assert abs(written[1] - timezone.now()) < timedelta(minutes=1)
        written[1] = expected[1]
    assert written == expected
    touches = list(Touchpoint.objects.filter(contact_id=contact.pk).order_by("id"))
    assert [(t.channel, t.kind) for t in touches] == [
        (person.channel, person.first_touch), (person.channel, "self_reported_source"),
        (person.channel, "inbound_message"), (person.channel, "inbound_message")]
    assert [t.occurred_at for t in touches] == [m.occurred_at for m in inbound]
    assert touches[1].details["self_reported_source"] == "tasting"
    consent = Consent.objects.get(contact=contact, channel=person.channel)
    assert consent.granted_at is not None
    assert consent.revoked_at is not None
    assert {"inbound_message", "self_reported_source"} <= set(
        ScoreEvent.objects.filter(contact=contact).values_list("kind", flat=True))

    events, _ = contact_timeline(contact_id=contact.pk, limit=100)
    inbound_events = sorted((e.at, e.kind) for e in events if e.source == "nurture_inbound")
    assert inbound_events == sorted((m.occurred_at, f"inbound_{m.action}") for m in inbound)
    kinds = {e.kind for e in events}
    assert {"consent_granted", "consent_revoked", "touchpoint.self_reported_source", "sequence_enrolled"} <= kinds


def test_until_the_person_chooses_monthly_nothing_but_the_confirmation_goes_out(person, staff_chat):
    now = timezone.now().replace(microsecond=0)
    person.write(person.first_text, now - timedelta(minutes=5))
    person.write("Arrêt", now - timedelta(minutes=4))
    contact = person.contact()
    promo = marketing(contact, "Promo coffrets", channel=person.channel)
    deliver_all()
    promo.refresh_from_db()
    assert (promo.state, promo.reason) == ("skipped", "consent_revoked")
    assert person.received()[-1] == (STOP_CONFIRM, [MONTHLY_CHOICE])

    person.tap(MONTHLY_CHOICE, "Un message par mois", now - timedelta(minutes=3))
    assert contact_can_receive(contact.pk, person.channel) == (True, "ok")
    contact.nurture_profile.refresh_from_db()
    assert contact.nurture_profile.frequency == "monthly"
    monthly = marketing(contact, "Le message du mois", channel=person.channel)
    deliver_all()
    monthly.refresh_from_db()
    assert monthly.state == "sent"
