"""Ma journée lists the conversations waiting for an answer, with a link to each customer's card."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from api.contacts.enums import Channel
from api.nurture.services import conversation_done, inbound_receive
from api.nurture.services.inbound import Inbound

pytestmark = pytest.mark.django_db


def _writes(number: str, name: str, text: str, minutes_ago: int, settings) -> int:
    """A person writes to the business on WhatsApp (through the inbound pipeline); returns their contact id."""
    settings.NURTURE_KICK_DISPATCHER = False
    row = inbound_receive(Inbound(
        channel=Channel.WHATSAPP, sender=number, provider_message_id=f"wamid.{number}.{minutes_ago}",
        event_key=f"whatsapp:wamid.{number}.{minutes_ago}", occurred_at=timezone.now() - timedelta(minutes=minutes_ago),
        kind="text", text=text, identity={"whatsapp": number}, new_contact={"name": name}))
    return row.contact_id


def test_my_day_lists_the_conversations_waiting_for_an_answer(office, settings):
    mireille = _writes("+237677000111", "Mireille Ngo", "Vous livrez à Bonapriso ?", 90, settings)
    paul = _writes("+237677000222", "Paul Eto", "Bonjour, le prix du coffret ?", 30, settings)
    page = office.get(reverse("backoffice:home")).content.decode()
    assert "Conversations en attente" in page
    section = page[page.index('id="conversations"'):page.index('id="tasks"')]
    assert section.index("Paul Eto") < section.index("Mireille Ngo")  # the newest waiting first
    assert reverse("backoffice:contact-detail", args=[paul]) in section
    assert "En attente depuis le" in section
    assert "1 message non lu" in section
    assert "WhatsApp" in section

    conversation_done(contact_id=paul)
    conversation_done(contact_id=mireille)
    page = office.get(reverse("backoffice:home")).content.decode()
    section = page[page.index('id="conversations"'):page.index('id="tasks"')]
    assert "Paul Eto" not in section
    assert "Personne n’attend de réponse." in section
