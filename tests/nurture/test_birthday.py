"""Birthday wishes: on the day (Douala time), once a year, only to people who consented on a channel."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from api.contacts.services import consent_revoke, contact_opt_out, contact_update
from api.nurture.models import OutboundMessage
from api.nurture.services.birthday import birthday_messages_queue
from tests.nurture.conftest import dispatch, make_contact

pytestmark = pytest.mark.django_db

# 23:30 UTC on 11 April is already 12 April, 00:30, in Douala (UTC+1).
BIRTHDAY_EVE_UTC = datetime(2026, 4, 11, 23, 30, tzinfo=UTC)
BIRTHDAY = datetime(2026, 4, 12, 9, 0, tzinfo=UTC)


def _born(contact, day):
    contact_update(contact_id=contact.pk, birth_date=day)
    return contact


def test_a_birthday_wish_goes_once_on_the_day_to_a_person_who_consented():
    awa = _born(make_contact(71, first_name="Awa"), date(1990, 4, 12))

    assert birthday_messages_queue(now=BIRTHDAY) == 1
    assert birthday_messages_queue(now=BIRTHDAY) == 0  # a second run the same day

    message = OutboundMessage.objects.get(idempotency_key__startswith="birthday:")
    assert message.contact_id == awa.pk
    assert message.channel == "telegram"
    assert message.recipient == "71"
    assert message.category == "marketing"  # the dispatcher checks consent again when it sends
    assert "Joyeux anniversaire Awa" in message.text
    # next year, again once
    assert birthday_messages_queue(now=BIRTHDAY.replace(year=2027)) == 1


def test_the_day_is_the_business_day_not_the_utc_one():
    _born(make_contact(72), date(1985, 4, 12))
    assert birthday_messages_queue(now=BIRTHDAY_EVE_UTC) == 1


def test_no_wish_without_consent_after_an_opt_out_or_on_another_day():
    _born(make_contact(73, consent=False), date(1990, 4, 12))
    opted_out = _born(make_contact(74), date(1991, 4, 12))
    contact_opt_out(contact_id=opted_out.pk, how="STOP")
    _born(make_contact(75), date(1990, 4, 13))

    assert birthday_messages_queue(now=BIRTHDAY) == 0
    assert not OutboundMessage.objects.filter(idempotency_key__startswith="birthday:").exists()


def test_born_on_29_february_is_wished_on_28_february_in_other_years():
    _born(make_contact(76), date(2000, 2, 29))
    assert birthday_messages_queue(now=datetime(2026, 2, 28, 10, 0, tzinfo=UTC)) == 1
    assert birthday_messages_queue(now=datetime(2028, 2, 28, 10, 0, tzinfo=UTC)) == 0  # 2028 has a 29th
    assert birthday_messages_queue(now=datetime(2028, 2, 29, 10, 0, tzinfo=UTC)) == 1


def test_a_wish_queued_before_the_person_withdrew_consent_is_not_sent(fake_telegram):
    awa = _born(make_contact(77, first_name="Awa"), date(1990, 4, 12))
    assert birthday_messages_queue(now=BIRTHDAY) == 1

    consent_revoke(contact_id=awa.pk, channel="telegram", how="asked on the phone")
    dispatch()

    message = OutboundMessage.objects.get(idempotency_key__startswith="birthday:")
    assert message.state == "skipped"
    assert message.reason == "consent_revoked"
    assert fake_telegram.sent_messages == []


def test_on_whatsapp_the_wish_carries_the_birthday_template_chosen_in_the_settings(settings):
    """Outside the 24-hour window only a template may go: the wish is queued with it, filled for the person."""
    from django.utils import timezone

    from api.contacts.services import contact_upsert
    from api.nurture.models import WhatsAppTemplate

    WhatsAppTemplate.objects.create(name="anniversaire", language="fr", category="MARKETING", status="APPROVED",
                                    components=[{"type": "BODY", "text": "Joyeux anniversaire {{1}} !"}],
                                    body_parameter_count=1, synced_at=timezone.now())
    settings.NURTURE_WHATSAPP_TEMPLATE_BIRTHDAY = "anniversaire"
    bella = contact_upsert(whatsapp="+237690112233", first_name="Bella", consents=["whatsapp"],
                           consent_how="salon").contact
    _born(bella, date(1988, 4, 12))

    assert birthday_messages_queue(now=BIRTHDAY) == 1
    message = OutboundMessage.objects.get(contact=bella)
    assert (message.channel, message.template_name, message.template_language) == ("whatsapp", "anniversaire", "fr")
    assert message.template_parameters == ["Bella"]
