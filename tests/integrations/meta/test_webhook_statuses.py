"""Parsing of delivery statuses, pricing, tapped replies and Messenger receipts, on Meta-shaped payloads."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from integrations.errors import PermanentError
from integrations.meta.webhooks import parse_messenger, parse_whatsapp
from integrations.meta.whatsapp import NO_RETRY_CODES, whatsapp_error

FIXTURES = Path(__file__).parent / "fixtures"


def payload(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


# -- WhatsApp statuses ----------------------------------------------------------------------------------


def test_status_pricing_and_conversation_are_kept():
    sent, read, delivered, _failed = parse_whatsapp(payload("whatsapp_statuses_pricing.json"))

    assert (sent.status, sent.pricing_category, sent.billable, sent.pricing_model, sent.pricing_type) == (
        "sent", "marketing", True, "PMP", "regular")
    assert sent.conversation_id == "6ceb9d929c0bd4cd5c1e2c9b1d5a3c2f"
    assert (delivered.pricing_category, delivered.billable, delivered.pricing_type) == (
        "utility", False, "free_customer_service")
    assert read.message_id == sent.message_id
    assert read.event_id != sent.event_id  # each step survives deduplication


def test_status_timestamps_are_when_it_happened_in_utc():
    sent, read, delivered, failed = parse_whatsapp(payload("whatsapp_statuses_pricing.json"))

    assert sent.timestamp == datetime(2026, 1, 1, 10, 2, 3, tzinfo=UTC)
    assert read.timestamp == datetime(2026, 1, 1, 11, 3, 3, tzinfo=UTC)
    assert delivered.timestamp == datetime(2026, 1, 1, 10, 3, 20, tzinfo=UTC)
    assert failed.timestamp == datetime(2026, 1, 1, 10, 2, 25, tzinfo=UTC)


def test_failed_status_with_the_marketing_limit_keeps_code_and_title():
    *_, failed = parse_whatsapp(payload("whatsapp_statuses_pricing.json"))

    assert failed.status == "failed"
    assert failed.error_codes == (131049,)
    assert failed.error_title == "This message was not delivered to maintain healthy ecosystem engagement."
    assert failed.phone_e164 == "+237699555666"
    assert (failed.billable, failed.pricing_category) == (None, None)  # a failed message carries no price
    error = whatsapp_error(failed.error_codes[0], failed.error_title or "")
    assert isinstance(error, PermanentError)
    assert error.code == 131049
    assert error.reason == "ecosystem_limit"
    assert 131049 in NO_RETRY_CODES


def test_status_without_pricing_reads_as_unknown_not_free():
    data = payload("whatsapp_statuses_pricing.json")
    del data["entry"][0]["changes"][0]["value"]["statuses"][0]["pricing"]

    sent = parse_whatsapp(data)[0]

    assert (sent.billable, sent.pricing_category, sent.pricing_model) == (None, None, None)


# -- WhatsApp taps ----------------------------------------------------------------------------------------


def test_button_reply_gives_its_id_and_shown_title():
    button, _list_row, _template_button = parse_whatsapp(payload("whatsapp_interactive_replies.json"))

    assert button.kind == "message"
    assert button.reply_id == "source:word_of_mouth"
    assert button.text == "Bouche-à-oreille"
    assert button.reply_to == "wamid.HBgMMjM3Njc3MTIzNDU2FQIAERgSQ0FGRTAwMTIzNDU2Nzg5AA=="
    assert button.profile_name == "Awa Ngono"
    assert button.timestamp == datetime(2026, 1, 1, 10, 15, tzinfo=UTC)


def test_list_reply_and_template_quick_reply_button():
    _button, list_row, template_button = parse_whatsapp(payload("whatsapp_interactive_replies.json"))

    assert (list_row.reply_id, list_row.text, list_row.phone_e164) == ("source:tasting", "Dégustation",
                                                                        "+237699333444")
    assert list_row.profile_name == "Paul Eto"
    assert (template_button.reply_id, template_button.text) == ("STOP_PROMOS", "Arrêter les promos")


def test_plain_text_has_no_reply_id():
    (event,) = parse_whatsapp(payload("whatsapp_text_message.json"))

    assert event.reply_id is None
    assert event.reply_to is None


# -- Messenger receipts and quick replies -------------------------------------------------------------------


def test_messenger_delivery_lists_mids_and_takes_its_time_from_the_watermark():
    delivery, _read, _reply = parse_messenger(payload("messenger_receipts_and_quick_reply.json"))

    assert delivery.kind == "delivery"
    assert delivery.psid == "6789012345678901"
    assert delivery.mids == ("m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM", "m_BH6Ia3Vr8uvxOFiYgZZLk9nKFN")
    assert delivery.watermark == datetime(2026, 1, 1, 10, 19, 50, 123000, tzinfo=UTC)
    assert delivery.timestamp == delivery.watermark  # no top-level timestamp on deliveries


def test_messenger_read_receipt_has_a_watermark_and_its_own_time():
    _delivery, read, _reply = parse_messenger(payload("messenger_receipts_and_quick_reply.json"))

    assert read.kind == "read"
    assert read.mids == ()
    assert read.watermark == datetime(2026, 1, 1, 10, 19, 59, 999000, tzinfo=UTC)
    assert read.timestamp == datetime(2026, 1, 1, 10, 20, 0, 250000, tzinfo=UTC)


def test_messenger_receipts_are_deduplicated_by_a_stable_id():
    first = parse_messenger(payload("messenger_receipts_and_quick_reply.json"))
    again = parse_messenger(payload("messenger_receipts_and_quick_reply.json"))
    later = payload("messenger_receipts_and_quick_reply.json")
    later["entry"][0]["messaging"][0]["delivery"]["watermark"] += 1000

    assert [e.event_id for e in first] == [e.event_id for e in again]
    assert first[0].event_id != first[1].event_id
    assert parse_messenger(later)[0].event_id != first[0].event_id


def test_messenger_quick_reply_keeps_payload_and_title():
    *_, reply = parse_messenger(payload("messenger_receipts_and_quick_reply.json"))

    assert reply.kind == "message"
    assert reply.event_id == "m_qr_CjK7Jb4Ws9vwyPGjZhAAMl0oLG"
    assert (reply.payload, reply.text) == ("source:fair", "Salon / foire")
    assert reply.timestamp == datetime(2026, 1, 1, 10, 21, 0, 7000, tzinfo=UTC)


@pytest.mark.parametrize(("raw", "expected"), [
    (1767261600123, datetime(2026, 1, 1, 10, 0, 0, 123000, tzinfo=UTC)),  # Messenger: milliseconds
    ("1767261600", datetime(2026, 1, 1, 10, 0, tzinfo=UTC)),  # WhatsApp: seconds, as a string
    (1767261600, datetime(2026, 1, 1, 10, 0, tzinfo=UTC)),  # a postback in seconds
])
def test_timestamps_are_exact_utc_in_either_unit(raw, expected):
    data = payload("messenger_receipts_and_quick_reply.json")
    data["entry"][0]["messaging"][2]["timestamp"] = raw

    assert parse_messenger(data)[2].timestamp == expected
