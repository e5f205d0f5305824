"""The real Telegram client against the loopback fake Bot API server."""

from __future__ import annotations

import threading

import pytest
import requests

from integrations.errors import PermanentError, RateLimited, TransientError, Unreachable
from integrations.telegram import TelegramClient, inline_keyboard
from tests.fakes.telegram_server import (
    FakeTelegram,
    callback_update,
    message_update,
    my_chat_member_update,
)

TOKEN = "123:ABC-fake-token-0123456789"


@pytest.fixture
def fake():
    with FakeTelegram(token=TOKEN, global_rate=30, per_chat_rate=1.0) as server:
        yield server


@pytest.fixture
def client(fake):
    return TelegramClient(TOKEN, base_url=fake.base_url, timeout=(2.0, 5.0))


def test_send_is_answered_and_recorded(fake, client):
    sent = client.send_message(42, "Bonjour", reply_markup=inline_keyboard([[("Oui", "yes")]]))
    photo = client.send_photo(43, b"\xff\xd8jpeg", caption="Coffret")

    assert (sent.chat_id, sent.message_id) == (42, 1)
    assert (photo.chat_id, photo.message_id) == (43, 2)
    records = fake.sent_messages
    assert [(m.chat_id, m.text, m.message_id) for m in records] == [(42, "Bonjour", 1), (43, "Coffret", 2)]
    assert records[0].reply_markup == {"inline_keyboard": [[{"text": "Oui", "callback_data": "yes"}]]}
    assert records[1].photo == b"\xff\xd8jpeg"  # multipart upload parsed
    assert [c.method for c in fake.calls] == ["sendMessage", "sendPhoto"]


def test_form_urlencoded_body_is_accepted(fake):
    answer = requests.post(f"{fake.base_url}/bot{TOKEN}/sendMessage", data={"chat_id": "7", "text": "hi"},
                           timeout=5)

    assert answer.json()["ok"] is True
    assert fake.sent_messages[0].chat_id == 7


def test_second_send_to_same_chat_within_a_second_is_429(fake, client):
    client.send_message(42, "one")
    client.send_message(43, "other chat is fine")

    with pytest.raises(RateLimited) as info:
        client.send_message(42, "two")

    assert info.value.retry_after == 1.0
    assert fake.count_429 == 1
    assert [m.text for m in fake.messages_to(42)] == ["one"]


def test_global_rate_and_retry_after_override():
    with FakeTelegram(token=TOKEN, global_rate=3, per_chat_rate=None) as fake:
        fake.retry_after = 0.25
        client = TelegramClient(TOKEN, base_url=fake.base_url)
        for chat_id in (1, 2, 3):
            client.send_message(chat_id, "x")

        with pytest.raises(RateLimited) as info:
            client.send_message(4, "x")
        with pytest.raises(RateLimited):
            client.send_message(5, "x")  # came back before retry_after: counted

        assert info.value.retry_after == 0.25
        assert (fake.count_429, fake.count_retry_after_ignored) == (2, 1)


def test_blocked_and_missing_chats_are_unreachable(fake, client):
    fake.block(42)
    fake.missing(43)

    with pytest.raises(Unreachable) as blocked:
        client.send_message(42, "x")
    with pytest.raises(Unreachable) as missing:
        client.send_message(43, "x")

    assert (blocked.value.reason, missing.value.reason) == ("blocked", "chat_not_found")
    assert fake.sent_messages == []


def test_wrong_token_is_permanent_without_leaking_it(fake):
    other = "999:WRONG-secret-value-xyz"
    with pytest.raises(PermanentError) as info:
        TelegramClient(other, base_url=fake.base_url).get_me()

    assert info.value.status == 401
    assert other not in str(info.value)


def test_injected_failures_are_transient_then_recover(fake, client):
    fake.fail_next(2, status=502)

    for _ in range(2):
        with pytest.raises(TransientError):
            client.get_me()

    assert client.get_me().id == 123


def test_get_updates_offsets_confirm_earlier_updates(fake, client):
    first = fake.push_update(message_update(1111, "/start fb-spring24"))
    fake.push_update(callback_update(1111, "segment:host"))
    fake.push_update(my_chat_member_update(1111, "kicked"))

    updates = client.get_updates()
    assert [u.update_id for u in updates] == [first, first + 1, first + 2]
    assert updates[0].start_payload == "fb-spring24"
    assert updates[1].callback_data == "segment:host"
    assert updates[2].blocked

    assert [u.update_id for u in client.get_updates(offset=first + 2)] == [first + 2]
    assert client.get_updates(offset=first + 3) == []
    assert fake.pending_updates == []


def test_get_updates_long_poll_wakes_on_push(fake, client):
    timer = threading.Timer(0.1, fake.push_update, args=(message_update(5, "STOP"),))
    timer.start()

    updates = client.get_updates(timeout=5)

    timer.join()
    assert [u.is_stop for u in updates] == [True]


def test_get_updates_conflicts_with_webhook(fake, client):
    client.set_webhook("https://example.com/telegram/webhook", "s3cr3t")

    with pytest.raises(PermanentError) as info:
        client.get_updates()

    assert info.value.status == 409
    assert fake.webhook_secret == "s3cr3t"
    client.delete_webhook()
    assert client.get_updates() == []
