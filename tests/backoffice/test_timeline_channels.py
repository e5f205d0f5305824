"""The customer card's history names every channel in French (api/backoffice/timeline.py): a touch on the
web site, on another channel, a message the person wrote; a channel added later reads "Autre canal (…)",
never as its raw key."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.urls import reverse
from django.utils import timezone, translation

from api.backoffice.timeline import channel_label, timeline_text
from api.campaigns.enums import CampaignChannel, TouchpointKind
from api.campaigns.services import touchpoint_record
from api.contacts.enums import Channel
from api.nurture.services import inbound_receive
from api.nurture.services.inbound import Inbound

pytestmark = pytest.mark.django_db


def _card(office, contact_id: int) -> str:
    page = office.get(reverse("backoffice:contact-detail", args=[contact_id])).content.decode()
    return page[page.index('id="timeline"'):]


def test_touches_off_the_messaging_channels_read_in_french(office, customer):
    touchpoint_record(contact_id=customer.pk, channel="web", kind=TouchpointKind.LINK_CLICK,
                      provider_event_id="card-web")
    touchpoint_record(contact_id=customer.pk, channel="other", kind=TouchpointKind.SELF_REPORTED_SOURCE,
                      provider_event_id="card-other")
    touchpoint_record(contact_id=customer.pk, channel=Channel.IN_PERSON, kind=TouchpointKind.TASTING_VISIT,
                      provider_event_id="card-tasting")
    history = _card(office, customer.pk)
    for text in ("A ouvert un lien suivi (Site web)", "(Autre canal)", "(En personne)"):
        assert text in history, text
    for raw in ("(web)", "(other)", "(in_person)"):
        assert raw not in history, raw


def test_a_message_the_person_wrote_reads_in_french(office, settings):
    settings.NURTURE_KICK_DISPATCHER = False
    row = inbound_receive(Inbound(
        channel=Channel.WHATSAPP, sender="+237677000333", provider_message_id="wamid.card.1",
        event_key="whatsapp:wamid.card.1", occurred_at=timezone.now() - timedelta(minutes=5), kind="text",
        text="Bonjour, le prix du coffret ?", identity={"whatsapp": "+237677000333"},
        new_contact={"name": "Clarisse Mbarga"}))
    inbound_receive(Inbound(
        channel=Channel.WHATSAPP, sender="+237677000333", provider_message_id="wamid.card.2",
        event_key="whatsapp:wamid.card.2", occurred_at=timezone.now() - timedelta(minutes=1), kind="text",
        text="Vous livrez à Akwa ?", identity={"whatsapp": "+237677000333"}))
    history = _card(office, row.contact_id)
    assert "Premier contact sur WhatsApp (accueilli) : Bonjour, le prix du coffret ?" in history
    assert "Message reçu sur WhatsApp : Vous livrez à Akwa ?" in history
    for english in ("on whatsapp", "Message received", "First contact"):
        assert english not in history, english


def test_every_channel_value_has_a_french_name_and_an_unknown_one_reads_as_another_channel():
    values = {*Channel.values, *CampaignChannel.values, "web", "other", "unknown"}
    with translation.override("fr"):
        names = {value: channel_label(value) for value in values}
        assert all(name != value for value, name in names.items() if value not in {
            "instagram", "whatsapp", "telegram", "sms"}), names  # brand names are the same in French
        assert names["web"] == "Site web"
        assert names["facebook_ads"] == "Publicités Facebook"
        assert names["in_person"] == "En personne"
        assert channel_label("tiktok_ads") == "Autre canal (tiktok ads)"
        assert channel_label("") == channel_label(None) == "Canal inconnu"
        event = SimpleNamespace(kind="touchpoint.link_click", data={"channel": "tiktok_ads"},
                                summary="Link click on tiktok_ads")
        assert timeline_text(event) == "A ouvert un lien suivi (Autre canal (tiktok ads))"
