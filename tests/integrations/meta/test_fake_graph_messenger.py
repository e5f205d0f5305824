"""MessengerClient quick replies against the fake Graph server, and its signed Messenger webhooks."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from integrations.errors import PermanentError
from integrations.meta.messenger import MessengerClient
from integrations.meta.webhooks import SIGNATURE_HEADER, parse_messenger, verify_signature
from tests.fakes.graph_server import FakeGraph

APP_SECRET = "page-app-secret"
PSID = "6789012345678901"
OTHER_PSID = "7890123456789012"
NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
SOURCES = [("source:word_of_mouth", "Bouche-à-oreille"), ("source:facebook", "Facebook"),
           ("source:fair", "Salon ou foire de Douala")]


class Inbox:
    """The app's webhook endpoint reduced to a callable: checks the signature like the view must."""

    def __init__(self, secret: str):
        self.secret = secret
        self.events = []

    def __call__(self, body: bytes, headers: dict[str, str]) -> int:
        if not verify_signature(body, headers.get(SIGNATURE_HEADER), self.secret):
            return 401
        self.events += parse_messenger(json.loads(body))
        return 200


@pytest.fixture
def inbox() -> Inbox:
    return Inbox(APP_SECRET)


@pytest.fixture
def fake(inbox):
    with FakeGraph(access_token="page-token", app_secret=APP_SECRET, webhook_target=inbox,
                   wall_clock=NOW.timestamp) as server:
        yield server


@pytest.fixture
def client(fake) -> MessengerClient:
    return MessengerClient("page-token", app_secret=APP_SECRET, base_url=fake.base_url)


def test_quick_replies_are_sent_with_payloads_and_short_titles(fake, client):
    sent = client.send_quick_replies(PSID, "Comment nous avez-vous connus ?", SOURCES)

    (record,) = fake.sent
    assert record["message_id"] == sent.message_id
    assert record["body"]["messaging_type"] == "RESPONSE"
    assert record["body"]["message"] == {"text": "Comment nous avez-vous connus ?", "quick_replies": [
        {"content_type": "text", "title": "Bouche-à-oreille", "payload": "source:word_of_mouth"},
        {"content_type": "text", "title": "Facebook", "payload": "source:facebook"},
        {"content_type": "text", "title": "Salon ou foire de D…", "payload": "source:fair"}]}


def test_more_than_thirteen_quick_replies_are_refused_before_any_request(fake, client):
    replies = [(f"p{i}", f"Choix {i}") for i in range(14)]

    with pytest.raises(ValueError, match="at most 13") as caught:
        client.send_quick_replies(PSID, "Choisissez", replies)

    assert isinstance(caught.value, PermanentError)
    assert fake.request_count == 0


def test_the_fake_refuses_what_meta_refuses(fake):
    too_long = {"content_type": "text", "title": "x" * 21, "payload": "p"}
    client = MessengerClient("page-token", app_secret=APP_SECRET, base_url=fake.base_url)

    with pytest.raises(PermanentError) as caught:
        client._send(PSID, {"text": "hi", "quick_replies": [too_long]}, messaging_type="RESPONSE", tag=None)

    assert caught.value.code == 100
    assert fake.sent == []


def test_receipts_are_posted_signed_only_when_the_test_says(fake, client, inbox):
    first = client.send_text(PSID, "Le coffret est à 15 000 FCFA.")
    second = client.send_quick_replies(PSID, "Une question ?", SOURCES[:2])
    other = client.send_text(OTHER_PSID, "Bonjour !")
    assert fake.webhooks == []

    delivered = fake.post_receipts(upto="delivery", psid=PSID)
    read = fake.post_receipts(upto="read", psid=PSID, at=datetime(2026, 3, 2, 9, 45, 30, 250000, tzinfo=UTC))

    assert all(p.ok for p in delivered + read)
    delivery, read_event = inbox.events
    assert delivery.kind == "delivery"
    assert delivery.mids == (first.message_id, second.message_id)
    assert delivery.watermark == NOW
    assert read_event.kind == "read"
    assert read_event.watermark == datetime(2026, 3, 2, 9, 45, 30, 250000, tzinfo=UTC)
    assert read_event.psid == PSID
    assert other.message_id not in {m for e in inbox.events for m in e.mids}
    assert fake.post_receipts(upto="read", psid=PSID) == []  # each receipt once


def test_a_receiver_with_another_secret_refuses_the_receipts(fake, client, inbox):
    inbox.secret = "not-the-app-secret"
    client.send_text(PSID, "hi")

    (posted,) = fake.post_receipts(upto="delivery")

    assert posted.status == 401
    assert inbox.events == []


def test_inbound_quick_reply_and_text_carry_the_time_the_person_wrote(fake, inbox):
    tapped_at = datetime(2026, 3, 2, 8, 15, 0, 7000, tzinfo=UTC)

    tap = fake.post_inbound_message(PSID, "Salon ou foire", quick_reply_payload="source:fair", at=tapped_at)
    fake.post_inbound_message(PSID, "STOP")

    reply, stop = inbox.events
    assert (reply.kind, reply.payload, reply.text, reply.event_id) == (
        "message", "source:fair", "Salon ou foire", tap.event_id)
    assert reply.timestamp == tapped_at
    assert (stop.text, stop.payload, stop.timestamp) == ("STOP", None, NOW)
    assert reply.page_id == fake.page_id


def test_auto_receipts_follow_each_send(fake, client, inbox):
    fake.auto_receipts = "read"

    sent = client.send_text(PSID, "hi")
    fake.drain()

    assert [(e.kind, e.mids) for e in inbox.events] == [("delivery", (sent.message_id,)), ("read", ())]
    assert fake.auto_errors == []
