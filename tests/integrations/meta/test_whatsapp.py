"""WhatsAppClient against mocked HTTP, with Cloud API answers shaped like Meta's documentation."""

from __future__ import annotations

import json

import pytest
import responses

from integrations.errors import PermanentError, RateLimited, TransientError, Unreachable
from integrations.meta.base import GRAPH_API_VERSION
from integrations.meta.types import SentMessage
from integrations.meta.whatsapp import WhatsAppClient, whatsapp_error

PHONE_NUMBER_ID = "106540352242922"
URL = f"https://graph.facebook.com/{GRAPH_API_VERSION}/{PHONE_NUMBER_ID}/messages"
TOKEN = "EAAWhatsAppSystemUserToken42"
WAMID = "wamid.HBgMMjM3Njc3MTIzNDU2FQIAERgSQTk4RjQzQ0M3RjlGODVERjU2AA=="
ACCEPTED = {"messaging_product": "whatsapp", "contacts": [{"input": "237677123456", "wa_id": "237677123456"}],
            "messages": [{"id": WAMID, "message_status": "accepted"}]}


@pytest.fixture
def client() -> WhatsAppClient:
    return WhatsAppClient(TOKEN, PHONE_NUMBER_ID)


def sent_body() -> dict:
    return json.loads(responses.calls[0].request.body)


def error_body(code: int, message: str, details: str = "") -> dict:
    return {"error": {"message": message, "type": "OAuthException", "code": code,
                      "error_data": {"messaging_product": "whatsapp", "details": details},
                      "fbtrace_id": "Az8or2yhqkZfEZ-_4Qn_Bam"}}


@responses.activate
def test_send_text_strips_the_plus_and_returns_the_wamid(client):
    responses.post(URL, json=ACCEPTED)

    sent = client.send_text("+237677123456", "Votre commande CF-1042 est prête.")

    assert sent == SentMessage(message_id=WAMID, recipient_id="237677123456")
    assert sent_body() == {"messaging_product": "whatsapp", "recipient_type": "individual", "to": "237677123456",
                           "type": "text", "text": {"preview_url": False, "body": "Votre commande CF-1042 est prête."}}
    assert responses.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"


@responses.activate
def test_send_template_passes_components_through(client):
    responses.post(URL, json=ACCEPTED)
    components = [{"type": "body", "parameters": [{"type": "text", "text": "Awa"}]}]

    client.send_template("+237677123456", "relance_mensuelle", "fr", components)

    assert sent_body()["type"] == "template"
    assert sent_body()["template"] == {"name": "relance_mensuelle", "language": {"code": "fr"},
                                       "components": components}


@pytest.mark.parametrize("number", ["677123456", "00237677123456", "+0123", "+237 677 12 34 56", ""])
@responses.activate
def test_non_e164_numbers_are_refused_locally(client, number):
    with pytest.raises(PermanentError) as caught:
        client.send_text(number, "hi")

    assert caught.value.reason == "invalid_phone"
    assert len(responses.calls) == 0


@pytest.mark.parametrize(("code", "error_type", "reason"), [
    (131047, PermanentError, "outside_window"),
    (131026, Unreachable, "undeliverable"),
    (131049, PermanentError, "ecosystem_limit"),
    (131050, PermanentError, "marketing_opt_out"),
    (131016, TransientError, "service_unavailable"),
])
@responses.activate
def test_cloud_api_errors_are_classified(client, code, error_type, reason):
    responses.post(URL, status=400, json=error_body(code, "Message failed", "more than 24 hours have passed"))

    with pytest.raises(error_type) as caught:
        client.send_text("+237677123456", "hi")

    assert caught.value.reason == reason
    assert caught.value.provider_code == code


@pytest.mark.parametrize(("code", "reason", "wait"), [(130429, "throughput", 2.0), (131056, "pair_rate_limit", 6.0)])
@responses.activate
def test_whatsapp_rate_limits_are_rate_limited(client, code, reason, wait):
    responses.post(URL, status=400, json=error_body(code, "Rate limit hit"))

    with pytest.raises(RateLimited) as caught:
        client.send_text("+237677123456", "hi")

    assert caught.value.reason == reason
    assert caught.value.retry_after == wait


@responses.activate
def test_graph_throttling_still_applies(client):
    responses.post(URL, status=400, json=error_body(80008, "(#80008) There have been too many calls"))

    with pytest.raises(RateLimited):
        client.send_text("+237677123456", "hi")


@responses.activate
def test_invalid_token_is_scrubbed(client):
    responses.post(URL, status=401, json=error_body(190, f"Invalid OAuth access token {TOKEN}"))

    with pytest.raises(PermanentError) as caught:
        client.send_text("+237677123456", "hi")

    assert TOKEN not in str(caught.value)


def test_status_webhook_errors_map_like_synchronous_ones():
    assert isinstance(whatsapp_error(131047, "Re-engagement message"), PermanentError)
    assert isinstance(whatsapp_error(131026), Unreachable)
    assert whatsapp_error(100) is None  # not WhatsApp-specific: the common mapping handles it


def test_phone_number_id_must_be_digits():
    with pytest.raises(PermanentError):
        WhatsAppClient(TOKEN, "../me")
