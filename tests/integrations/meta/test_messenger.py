"""MessengerClient against mocked HTTP, with Send API answers shaped like Meta's documentation."""

from __future__ import annotations

import json

import pytest
import responses

from integrations.errors import PermanentError, RateLimited, TransientError, Unreachable
from integrations.meta.base import GRAPH_API_VERSION
from integrations.meta.messenger import MessengerClient
from integrations.meta.types import SentMessage

SEND_URL = f"https://graph.facebook.com/{GRAPH_API_VERSION}/me/messages"
PAGE_TOKEN = "EAAPageTokenSecret987"
PSID = "6789012345678901"


@pytest.fixture
def client() -> MessengerClient:
    return MessengerClient(PAGE_TOKEN, app_secret="shh-app-secret")


def sent_body(index: int = 0) -> dict:
    return json.loads(responses.calls[index].request.body)


@responses.activate
def test_send_text_posts_a_response_message(client):
    responses.post(SEND_URL, json={"recipient_id": PSID, "message_id": "m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM"})

    sent = client.send_text(PSID, "Bonjour ! Le coffret est à 15 000 FCFA.")

    assert sent == SentMessage(message_id="m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM", recipient_id=PSID)
    assert sent_body() == {"recipient": {"id": PSID}, "messaging_type": "RESPONSE",
                           "message": {"text": "Bonjour ! Le coffret est à 15 000 FCFA."}}
    request = responses.calls[0].request
    assert request.headers["Authorization"] == f"Bearer {PAGE_TOKEN}"
    assert "appsecret_proof=" in request.url
    assert PAGE_TOKEN not in request.url


@responses.activate
def test_a_tag_forces_message_tag_type(client):
    responses.post(SEND_URL, json={"recipient_id": PSID, "message_id": "m_1"})

    client.send_text(PSID, "Un conseiller vous répond.", tag="human_agent")

    assert sent_body()["messaging_type"] == "MESSAGE_TAG"
    assert sent_body()["tag"] == "HUMAN_AGENT"


@pytest.mark.parametrize("tag", ["ACCOUNT_UPDATE", "CONFIRMED_EVENT_UPDATE", "post_purchase_update"])
@responses.activate
def test_retired_tags_are_refused_before_any_http_call(client, tag):
    with pytest.raises(PermanentError) as caught:
        client.send_text(PSID, "Votre commande est prête", messaging_type="MESSAGE_TAG", tag=tag)

    assert caught.value.reason == "tag_retired"
    assert len(responses.calls) == 0


@pytest.mark.parametrize(("kwargs", "reason"), [
    ({"text": "x" * 2001}, "text_too_long"),
    ({"text": ""}, "invalid_argument"),
    ({"text": "hi", "messaging_type": "MESSAGE_TAG"}, "invalid_argument"),
    ({"text": "hi", "messaging_type": "NON_PROMOTIONAL_SUBSCRIPTION"}, "invalid_argument"),
])
@responses.activate
def test_invalid_sends_are_refused_locally(client, kwargs, reason):
    with pytest.raises(PermanentError) as caught:
        client.send_text(PSID, **kwargs)

    assert caught.value.reason == reason
    assert len(responses.calls) == 0


@responses.activate
def test_send_image_uses_an_image_attachment(client):
    responses.post(SEND_URL, json={"recipient_id": PSID, "message_id": "m_2"})

    client.send_image(PSID, "https://cdn.example.cm/coffret.jpg", messaging_type="UPDATE")

    assert sent_body()["messaging_type"] == "UPDATE"
    assert sent_body()["message"] == {"attachment": {"type": "image", "payload": {
        "url": "https://cdn.example.cm/coffret.jpg", "is_reusable": True}}}


@pytest.mark.parametrize(("code", "subcode", "error_type", "reason"), [
    (551, 1545041, PermanentError, "person_unavailable"),
    (10, 2018278, PermanentError, "outside_window"),
    (100, 2018001, Unreachable, "no_matching_user"),
    (10, 1893063, TransientError, "page_restricted"),
])
@responses.activate
def test_send_errors_are_classified(client, code, subcode, error_type, reason):
    responses.post(SEND_URL, status=400, json={"error": {
        "message": f"(#{code}) This person isn't available right now.", "type": "OAuthException",
        "code": code, "error_subcode": subcode, "fbtrace_id": "A1b2C3"}})

    with pytest.raises(error_type) as caught:
        client.send_text(PSID, "hello")

    assert caught.value.reason == reason
    assert caught.value.provider_code == code


@responses.activate
def test_send_rate_limit_is_rate_limited(client):
    responses.post(SEND_URL, status=400, json={"error": {
        "message": "(#613) Calls to this api have exceeded the rate limit.", "type": "OAuthException",
        "code": 613, "fbtrace_id": "A1b2C3"}})

    with pytest.raises(RateLimited) as caught:
        client.send_text(PSID, "hello")

    # The Send API counts calls per second: a second, not the minute of Graph's other throttles.
    assert (caught.value.reason, caught.value.retry_after) == ("send_rate", 1.0)


@responses.activate
def test_expired_page_token_is_permanent_and_scrubbed(client):
    responses.post(SEND_URL, status=401, json={"error": {
        "message": f"Error validating access token: {PAGE_TOKEN} has expired", "type": "OAuthException",
        "code": 190, "error_subcode": 463, "fbtrace_id": "A1b2C3"}})

    with pytest.raises(PermanentError) as caught:
        client.send_text(PSID, "hello")

    assert caught.value.reason == "token_invalid"
    assert PAGE_TOKEN not in str(caught.value)


@responses.activate
def test_senders_do_not_block_on_usage(client):
    usage = json.dumps({"call_count": 99, "total_cputime": 10, "total_time": 10})
    responses.post(SEND_URL, json={"recipient_id": PSID, "message_id": "m_3"}, headers={"X-App-Usage": usage})
    slept: list[float] = []
    client.sleep = slept.append

    client.send_text(PSID, "one")
    client.send_text(PSID, "two")

    assert slept == []  # pacing is the caller's rate limiter's job for sends
    assert client.suggested_pause() > 0  # but the advice is there
