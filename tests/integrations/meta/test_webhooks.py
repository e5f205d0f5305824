"""Webhook signature, subscription handshake and payload parsing, on saved Meta-shaped payloads."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from integrations.meta.webhooks import parse_messenger, parse_whatsapp, verify_challenge, verify_signature

FIXTURES = Path(__file__).parent / "fixtures"
APP_SECRET = "0123456789abcdef0123456789abcdef"


def raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def payload(name: str) -> dict:
    return json.loads(raw(name))


def sign(body: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


# -- signature -----------------------------------------------------------------------------------


def test_valid_signature_is_accepted():
    body = raw("messenger_text_message.json")
    assert verify_signature(body, sign(body), APP_SECRET)
    assert verify_signature(body, sign(body).upper().replace("SHA256=", "sha256="), APP_SECRET)


@pytest.mark.parametrize("header", [
    None, "", "sha256=", "sha1=abc", "sha256=zz", "sha256=" + "0" * 64, "deadbeef",
])
def test_missing_malformed_or_wrong_signature_is_rejected(header):
    assert not verify_signature(raw("messenger_text_message.json"), header, APP_SECRET)


def test_signature_is_over_the_raw_bytes():
    body = raw("messenger_text_message.json")
    reformatted = json.dumps(json.loads(body)).encode()  # same JSON, other bytes
    assert not verify_signature(reformatted, sign(body), APP_SECRET)


def test_signature_with_another_secret_or_no_secret_is_rejected():
    body = raw("whatsapp_text_message.json")
    assert not verify_signature(body, sign(body, "other-secret"), APP_SECRET)
    assert not verify_signature(body, sign(body, ""), "")


# -- challenge -------------------------------------------------------------------------------------


def test_challenge_is_echoed_when_the_token_matches():
    params = {"hub.mode": "subscribe", "hub.verify_token": "confiotes-verify", "hub.challenge": "1158201444"}
    assert verify_challenge(params, "confiotes-verify") == "1158201444"


@pytest.mark.parametrize("params", [
    {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
    {"hub.mode": "unsubscribe", "hub.verify_token": "confiotes-verify", "hub.challenge": "1"},
    {"hub.mode": "subscribe", "hub.verify_token": "confiotes-verify"},
    {"hub.mode": "subscribe", "hub.challenge": "1"},
    {},
])
def test_challenge_is_refused_otherwise(params):
    assert verify_challenge(params, "confiotes-verify") is None


def test_challenge_is_refused_when_no_token_is_configured():
    assert verify_challenge({"hub.mode": "subscribe", "hub.verify_token": "", "hub.challenge": "1"}, "") is None


# -- Messenger -------------------------------------------------------------------------------------


def test_messenger_text_message():
    (event,) = parse_messenger(payload("messenger_text_message.json"))

    assert event.kind == "message"
    assert event.event_id == "m_1457764197618:41d102a3e1ae206a38"
    assert (event.psid, event.page_id) == ("6789012345678901", "682498302938465")
    assert event.text == "Bonjour, vous avez le coffret liqueur ?"
    assert event.payload == "ASK_COFFRET"
    assert event.timestamp == datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
    assert not event.is_ctm_ad


def test_messenger_referral_from_a_click_to_messenger_ad():
    (event,) = parse_messenger(payload("messenger_referral_ad.json"))

    assert event.kind == "referral"
    assert (event.ref, event.ad_id, event.source) == ("coffret-noel", "120210000000000042", "ADS")
    assert event.is_ctm_ad
    assert event.timestamp.tzinfo is UTC


def test_messenger_shortlink_referral_is_not_an_ad():
    (event,) = parse_messenger(payload("messenger_referral_shortlink.json"))

    assert (event.kind, event.ref, event.source, event.ad_id) == ("referral", "salon-douala", "SHORTLINK", None)
    assert not event.is_ctm_ad


def test_referral_event_id_is_stable_across_redeliveries_and_distinct_per_event():
    first = parse_messenger(payload("messenger_referral_ad.json"))[0]
    again = parse_messenger(payload("messenger_referral_ad.json"))[0]
    other = payload("messenger_referral_ad.json")
    other["entry"][0]["messaging"][0]["timestamp"] += 1

    assert first.event_id == again.event_id
    assert first.event_id.startswith("referral:")
    assert parse_messenger(other)[0].event_id != first.event_id


def test_messenger_postbacks_with_and_without_mid():
    with_ref, plain = parse_messenger(payload("messenger_postback.json"))

    assert (with_ref.kind, with_ref.event_id, with_ref.payload) == ("postback", "m_postback_AbCdEf123", "GET_STARTED")
    assert (with_ref.ref, with_ref.ad_id, with_ref.is_ctm_ad) == ("coffret-noel", "120210000000000042", True)
    assert plain.kind == "postback"
    assert plain.event_id.startswith("postback:")
    assert plain.event_id == parse_messenger(payload("messenger_postback.json"))[1].event_id
    assert (plain.text, plain.payload, plain.ref) == ("Voir les prix", "PRICES", None)


def test_messenger_message_from_an_ad_carries_the_referral():
    data = payload("messenger_text_message.json")
    data["entry"][0]["messaging"][0]["message"]["referral"] = {
        "ref": "promo", "ad_id": "1202", "source": "ADS", "type": "OPEN_THREAD"}

    (event,) = parse_messenger(data)

    assert (event.kind, event.ref, event.ad_id, event.is_ctm_ad) == ("message", "promo", "1202", True)


def test_messenger_read_and_echo():
    read, echo = parse_messenger(payload("messenger_read_and_echo.json"))

    assert read.kind == "read"
    assert read.psid == "6789012345678901"
    assert echo.kind == "other"
    assert echo.event_id == "m_echo_1"
    assert echo.psid == "6789012345678901"  # the person, not the Page that sent the echo


def test_not_a_page_payload_gives_nothing():
    assert parse_messenger(payload("whatsapp_text_message.json")) == []
    assert parse_messenger({"object": "page", "entry": [{"id": "1", "messaging": ["junk"]}]}) == []


# -- WhatsApp ---------------------------------------------------------------------------------------


def test_whatsapp_text_message():
    (event,) = parse_whatsapp(payload("whatsapp_text_message.json"))

    assert event.kind == "message"
    assert event.event_id == "wamid.HBgMMjM3Njc3MTIzNDU2FQIAEhggQTBDQkNEMTIzNDU2Nzg5MAA="
    assert event.phone_e164 == "+237677123456"
    assert event.profile_name == "Awa Ngono"
    assert event.phone_number_id == "106540352242922"
    assert event.text == "Je veux 2 bouteilles de sirop de gingembre"
    assert event.timestamp == datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
    assert event.referral is None
    assert not event.is_ctwa_ad


def test_whatsapp_message_from_a_click_to_whatsapp_ad():
    (event,) = parse_whatsapp(payload("whatsapp_ctwa_message.json"))

    assert event.is_ctwa_ad
    assert event.referral["source_id"] == "120210000000000042"
    assert event.referral["source_type"] == "ad"
    assert event.referral["headline"] == "Offre coffrets"
    assert event.referral["source_url"] == "https://fb.me/3cr4Wqqkv"
    assert event.referral["ctwa_clid"].startswith("ARAkLkA8")
    assert event.profile_name == "Paul Eto"


def test_whatsapp_statuses_keep_one_event_per_step():
    delivered, failed = parse_whatsapp(payload("whatsapp_statuses.json"))

    assert delivered.kind == failed.kind == "status"
    assert delivered.event_id.endswith(":delivered")
    assert delivered.status == "delivered"
    assert delivered.error_codes == ()
    assert failed.status == "failed"
    assert failed.error_codes == (131047,)
    assert failed.phone_e164 == "+237677123456"
    assert failed.message_id == "wamid.HBgMMjM3Njc3MTIzNDU2FQIAERgSQjk4RjQzQ0M3RjlGODVERjU3AA=="


def test_not_a_whatsapp_payload_gives_nothing():
    assert parse_whatsapp(payload("messenger_text_message.json")) == []
    assert parse_whatsapp({"object": "whatsapp_business_account", "entry": [{"changes": [{"value": None}]}]}) == []
