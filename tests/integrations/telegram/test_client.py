"""Unit tests of the Telegram client (``responses``) and of update parsing, with Bot API-shaped payloads."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import requests
import responses

from integrations.errors import PermanentError, RateLimited, TransientError, Unreachable
from integrations.telegram import (
    TelegramClient,
    inline_keyboard,
    parse_update,
    secret_token_matches,
)

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> dict:
    """A payload shaped as in the Bot API documentation."""
    return json.loads((FIXTURES / f"{name}.json").read_text())


SENT = fixture("send_message_ok")
START_UPDATE = fixture("update_message_start")
CALLBACK_UPDATE = fixture("update_callback_query")
KICKED_UPDATE = fixture("update_my_chat_member_kicked")

TOKEN = "123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
BASE = "https://api.telegram.org"
URL = f"{BASE}/bot{TOKEN}"



def error(code: int, description: str, **parameters: int) -> dict:
    body: dict = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return body


@pytest.fixture
def client() -> TelegramClient:
    return TelegramClient(TOKEN, timeout=(1.0, 2.0))


@pytest.fixture
def api():
    with responses.RequestsMock() as mock:
        yield mock


def assert_no_token(exc: BaseException) -> None:
    text = f"{exc} {exc!r} {exc.args}"
    assert TOKEN not in text
    assert TOKEN.split(":", 1)[1] not in text


# -- sending ---------------------------------------------------------------------------------------

def test_send_message_posts_json_and_returns_sent_message(client, api):
    api.post(f"{URL}/sendMessage", json=SENT)
    markup = inline_keyboard([[("Oui", "yes"), ("Non", "no")]])

    sent = client.send_message(987654321, "Bonjour Awa", reply_markup=markup, parse_mode="HTML")

    assert (sent.message_id, sent.chat_id, sent.date) == (42, 987654321, 1746268800)
    body = json.loads(api.calls[0].request.body)
    assert body["chat_id"] == 987654321
    assert body["text"] == "Bonjour Awa"
    assert body["parse_mode"] == "HTML"
    assert body["link_preview_options"] == {"is_disabled": True}
    assert body["reply_markup"] == {"inline_keyboard": [[{"text": "Oui", "callback_data": "yes"},
                                                         {"text": "Non", "callback_data": "no"}]]}


def test_inline_keyboard_rejects_callback_data_over_64_bytes():
    with pytest.raises(ValueError, match="1-64 bytes"):
        inline_keyboard([[("x", "a" * 65)]])


def test_send_photo_bytes_goes_multipart_with_json_markup(client, api):
    api.post(f"{URL}/sendPhoto", json=SENT)

    client.send_photo(987654321, b"\xff\xd8jpeg", caption="Coffret", reply_markup=inline_keyboard([[("A", "a")]]))

    request = api.calls[0].request
    assert request.headers["Content-Type"].startswith("multipart/form-data")
    assert b'name="photo"; filename="photo.jpg"' in request.body
    assert b"\xff\xd8jpeg" in request.body
    assert b'{"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}' in request.body


def test_send_photo_url_goes_json(client, api):
    api.post(f"{URL}/sendPhoto", json=SENT)

    client.send_photo(987654321, "https://example.com/coffret.jpg", caption="Coffret")

    assert json.loads(api.calls[0].request.body) == {
        "chat_id": 987654321, "caption": "Coffret", "photo": "https://example.com/coffret.jpg"}


def test_other_methods_return_results(client, api):
    api.post(f"{URL}/answerCallbackQuery", json={"ok": True, "result": True})
    api.post(f"{URL}/setWebhook", json={"ok": True, "result": True, "description": "Webhook was set"})
    api.post(f"{URL}/deleteWebhook", json={"ok": True, "result": True})
    api.post(f"{URL}/getMe", json={"ok": True, "result": {"id": 123456, "is_bot": True,
                                                          "first_name": "Confiotes", "username": "confiotes_bot"}})

    assert client.answer_callback_query("4382bfdwdsb323b2d9", text="Merci") is True
    assert client.set_webhook("https://example.com/tg", "s3cr3t", allowed_updates=["message"]) is True
    assert client.delete_webhook() is True
    me = client.get_me()

    assert (me.id, me.username) == (123456, "confiotes_bot")
    assert json.loads(api.calls[1].request.body) == {"url": "https://example.com/tg", "secret_token": "s3cr3t",
                                                     "drop_pending_updates": False,
                                                     "allowed_updates": ["message"]}


def test_get_updates_parses_updates_and_stretches_read_timeout(client, api):
    api.post(f"{URL}/getUpdates", json={"ok": True, "result": [START_UPDATE, CALLBACK_UPDATE]})

    updates = client.get_updates(offset=10000, timeout=25)

    assert [u.kind for u in updates] == ["message", "callback_query"]
    assert json.loads(api.calls[0].request.body) == {"offset": 10000, "timeout": 25, "limit": 100}
    assert api.calls[0].request.req_kwargs["timeout"] == (1.0, 27.0)


# -- errors ----------------------------------------------------------------------------------------

def test_429_gives_rate_limited_with_retry_after(client, api):
    api.post(f"{URL}/sendMessage", status=429, json=error(429, "Too Many Requests: retry after 7", retry_after=7))

    with pytest.raises(RateLimited) as info:
        client.send_message(1, "x")

    assert info.value.retry_after == 7.0
    assert info.value.status == 429


def test_429_without_parameters_uses_header_then_one_second(client, api):
    api.post(f"{URL}/sendMessage", status=429, json=error(429, "Too Many Requests"), headers={"Retry-After": "3"})
    api.post(f"{URL}/sendMessage", status=429, json=error(429, "Too Many Requests"))

    with pytest.raises(RateLimited) as first:
        client.send_message(1, "x")
    with pytest.raises(RateLimited) as second:
        client.send_message(1, "x")

    assert (first.value.retry_after, second.value.retry_after) == (3.0, 1.0)


@pytest.mark.parametrize(("status", "description", "reason"), [
    (403, "Forbidden: bot was blocked by the user", "blocked"),
    (403, "Forbidden: user is deactivated", "deactivated"),
    (403, "Forbidden: bot was kicked from the group chat", "kicked"),
    (400, "Bad Request: chat not found", "chat_not_found"),
    (400, "Bad Request: PEER_ID_INVALID", "chat_not_found"),
    (400, "Bad Request: user not found", "user_not_found"),
])
def test_gone_chats_are_unreachable(client, api, status, description, reason):
    api.post(f"{URL}/sendMessage", status=status, json=error(status, description))

    with pytest.raises(Unreachable) as info:
        client.send_message(1, "x")

    assert info.value.reason == reason
    assert info.value.status == status
    assert description in str(info.value)


def test_401_is_permanent_and_never_shows_the_token(client, api):
    api.post(f"{URL}/getMe", status=401, json=error(401, "Unauthorized"))

    with pytest.raises(PermanentError) as info:
        client.get_me()

    assert "token rejected" in str(info.value)
    assert info.value.reason == "token_rejected"
    assert_no_token(info.value)


def test_other_4xx_is_permanent(client, api):
    api.post(f"{URL}/sendMessage", status=400, json=error(400, "Bad Request: message text is empty"))

    with pytest.raises(PermanentError) as info:
        client.send_message(1, "")

    assert not isinstance(info.value, Unreachable)
    assert info.value.reason == "bad_request"


@pytest.mark.parametrize("kwargs", [
    {"status": 500, "json": error(500, "Internal Server Error")},
    {"status": 502, "body": "<html>Bad Gateway</html>"},
    {"status": 200, "body": "not json"},
])
def test_5xx_and_unreadable_answers_are_transient(client, api, kwargs):
    api.post(f"{URL}/sendMessage", **kwargs)

    with pytest.raises(TransientError) as info:
        client.send_message(1, "x")

    assert_no_token(info.value)


def test_timeout_is_transient_with_token_scrubbed(client, api):
    api.post(f"{URL}/sendMessage", body=requests.ConnectTimeout(f"timed out connecting for url: {URL}/sendMessage"))

    with pytest.raises(TransientError) as info:
        client.send_message(1, "x")

    assert "timeout" in str(info.value)
    assert "/bot***/sendMessage" in str(info.value)
    assert_no_token(info.value)


def test_repr_hides_the_token(client):
    assert TOKEN.split(":", 1)[1] not in repr(client)
    assert "123456" in repr(client)


# -- updates ---------------------------------------------------------------------------------------




def message(text: str, update_id: int = 1) -> dict:
    return {"update_id": update_id, "message": {**START_UPDATE["message"], "text": text}}


def member_update(new_status: str, old_status: str) -> dict:
    update = copy.deepcopy(KICKED_UPDATE)
    update["my_chat_member"]["new_chat_member"]["status"] = new_status
    update["my_chat_member"]["old_chat_member"]["status"] = old_status
    return update


def test_parse_start_with_payload():
    update = parse_update(START_UPDATE)

    assert (update.update_id, update.kind, update.chat_id, update.date) == (10000, "message", 1111111, 1441645532)
    assert update.is_start
    assert update.start_payload == "fb-spring24"
    assert update.user is not None
    assert (update.user.id, update.user.first_name, update.user.last_name, update.user.username,
            update.user.language_code) == (1111111, "Awa", "Ngo", "awa_n", "fr")
    assert not update.is_stop


@pytest.mark.parametrize(("text", "payload"), [
    ("/start@confiotes_bot fb-spring24", "fb-spring24"),
    ("/start", None),
    ("/start@confiotes_bot", None),
])
def test_parse_start_variants(text, payload):
    update = parse_update(message(text))

    assert update.is_start
    assert update.start_payload == payload


@pytest.mark.parametrize(("text", "is_stop"), [
    ("STOP", True), ("  stop ", True), ("Stop", True), ("/stop", True), ("/stop@confiotes_bot", True),
    ("stop please", False), ("non-stop", False), ("/start", False),
])
def test_parse_stop(text, is_stop):
    assert parse_update(message(text)).is_stop is is_stop


def test_parse_callback_query():
    update = parse_update(CALLBACK_UPDATE)

    assert update.kind == "callback_query"
    assert (update.callback_query_id, update.callback_data, update.chat_id) == (
        "4382bfdwdsb323b2d9", "segment:host", 1111111)
    assert update.user is not None
    assert update.user.id == 1111111


def test_parse_my_chat_member_kicked_and_back():
    blocked = parse_update(KICKED_UPDATE)
    back = parse_update(member_update("member", "kicked"))

    assert (blocked.kind, blocked.chat_id, blocked.blocked, blocked.unblocked) == (
        "my_chat_member", 1111111, True, False)
    assert (back.blocked, back.unblocked) == (False, True)


def test_parse_other_and_invalid():
    edited = parse_update({"update_id": 5, "edited_message": START_UPDATE["message"]})

    assert (edited.kind, edited.chat_id, edited.text) == ("other", 1111111, None)
    assert parse_update({"update_id": 6}).kind == "other"
    with pytest.raises(ValueError):
        parse_update({"message": {}})


def test_shared_own_contact_gives_phone():
    update = message("")
    update["message"].pop("text")
    update["message"]["contact"] = {"phone_number": "+237690000000", "first_name": "Awa", "user_id": 1111111}

    assert parse_update(update).contact_phone == "+237690000000"


@pytest.mark.parametrize(("header", "expected", "ok"), [
    ("s3cr3t", "s3cr3t", True), ("wrong", "s3cr3t", False), ("", "", False), (None, "s3cr3t", False),
    ("s3cr3t", None, False),
])
def test_secret_token_matches(header, expected, ok):
    assert secret_token_matches(header, expected) is ok
