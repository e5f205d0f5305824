"""What a person wrote, on the customer card's history (api/backoffice/timeline.py): their own words in a French
line, each message told once, and a history that stays readable on a 360-pixel phone."""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from django.urls import reverse
from django.utils import timezone, translation

from api.backoffice.timeline import timeline_text
from api.campaigns.enums import TouchpointKind
from api.campaigns.services import campaign_create
from api.contacts.enums import Channel
from api.contacts.services import contact_update
from api.nurture.services import inbound_receive
from api.nurture.services.inbound import Inbound
from api.orders.services import order_create
from tests.backoffice.conftest import STAFF_PASSWORD, screenshot_dir

pytestmark = pytest.mark.django_db

PHONE = "+237677000444"
# Longer than the 120 characters nurture's English summary keeps of a message.
LONG_WORDS = (
    "Bonjour, je veux trois coffrets Tontine pour samedi à Bonamoussadi, et deux sirops de gingembre. "
    "Vous acceptez Orange Money ? Merci d'avance"
)
LINK = "https://www.facebook.com/photo.php?fbid=1234567890123456789&set=a.98765432109876543&type=3"


def _card(office, contact_id: int) -> str:
    """The card's history as staff read it (entities such as &#x27; turned back into their characters)."""
    page = office.get(reverse("backoffice:contact-detail", args=[contact_id])).content.decode()
    return html.unescape(page[page.index('id="timeline"') :])


def _write(
    n: int,
    minutes_ago: int,
    text: str,
    *,
    channel: str = Channel.WHATSAPP,
    kind: str = "text",
    payload: str = "",
    at: datetime | None = None,
    **extra,
) -> int:
    """Mireille writes to us through the inbound pipeline (``minutes_ago``, or ``at``); returns her contact id."""
    identity = {
        Channel.WHATSAPP: {"whatsapp": PHONE},
        Channel.TELEGRAM: {"telegram_chat_id": "990444"},
        Channel.MESSENGER: {"facebook_psid": "psid-444"},
    }[channel]
    row = inbound_receive(
        Inbound(
            channel=channel,
            sender=str(next(iter(identity.values()))),
            provider_message_id=f"card-msg-{n}",
            event_key=f"{channel}:card-msg-{n}",
            occurred_at=at or timezone.now() - timedelta(minutes=minutes_ago),
            kind=kind,
            text=text,
            payload=payload,
            identity=identity,
            new_contact={"name": "Mireille Ngo"},
            **extra,
        )
    )
    assert row is not None
    return row.contact_id


def _known_on_every_channel(contact_id: int) -> None:
    """Staff noted her Telegram and Messenger: what she writes there lands on the same card."""
    contact_update(contact_id=contact_id, telegram_chat_id="990444", facebook_psid="psid-444")


def test_the_words_the_person_wrote_read_whole_in_a_french_line():
    # Given an inbound event that carries the person's words in its data
    event = SimpleNamespace(
        kind="inbound_question",
        summary=f"Message received on whatsapp: {LONG_WORDS[:120]}",
        data={"channel": "whatsapp", "kind": "text", "action": "question", "text": LONG_WORDS},
    )
    with translation.override("fr"):
        # Then the card frames them in French and shows them whole, not the summary's English cut
        assert timeline_text(event) == f"Message reçu sur WhatsApp : {LONG_WORDS}"


def test_an_event_without_the_words_in_its_data_reads_them_from_its_summary_marked_as_perhaps_cut():
    short = SimpleNamespace(
        kind="inbound_question",
        summary="Message received on telegram: Le sirop est fini ?",
        data={"channel": "telegram", "kind": "text", "action": "question"},
    )
    cut = SimpleNamespace(
        kind="inbound_question",
        summary=f"Message received on whatsapp: {LONG_WORDS[:120]}",
        data={"channel": "whatsapp", "kind": "text", "action": "question"},
    )
    photo = SimpleNamespace(
        kind="inbound_question",
        summary="Message received on messenger: ",
        data={"channel": "messenger", "kind": "other", "action": "question"},
    )
    with translation.override("fr"):
        assert timeline_text(short) == "Message reçu sur Telegram : Le sirop est fini ?"
        assert timeline_text(cut) == f"Message reçu sur WhatsApp : {LONG_WORDS[:120]}…"
        assert (
            timeline_text(photo) == "Message reçu sur Facebook Messenger (sans texte : photo, note vocale…)"
        )


def test_words_read_with_french_spacing_and_erased_words_say_so_in_french():
    sent = SimpleNamespace(
        kind="message_sent",
        summary="Sent on telegram: Bonjour Awa",
        data={"channel": "telegram", "reason": "", "text": "Bonjour Awa"},
    )
    erased = SimpleNamespace(
        kind="inbound_question",
        summary="Message received on whatsapp: (erased)",
        data={"channel": "whatsapp", "kind": "text", "action": "question", "text": "(erased)"},
    )
    with translation.override("fr"):
        assert timeline_text(sent) == "Message envoyé sur Telegram : Bonjour Awa"
        assert timeline_text(erased) == "Message reçu sur WhatsApp : (effacé)"


def test_each_message_the_person_wrote_is_told_once_on_the_card(office, settings):
    # Given Mireille, who came from a Facebook ad, wrote on WhatsApp, sent a photo on Messenger, then asked to stop
    settings.NURTURE_KICK_DISPATCHER = False
    campaign = campaign_create(name="Coffrets tontine", code="TONTINE", channel="facebook_ads")
    contact_id = _write(
        1,
        50,
        "Bonjour, le prix du coffret ?",
        touch_kind=TouchpointKind.AD_REFERRAL,
        campaign_id=campaign.pk,
        start_code="TONTINE",
    )
    _known_on_every_channel(contact_id)
    _write(2, 40, "Vous livrez à Akwa ?")
    _write(3, 30, "", channel=Channel.MESSENGER, kind="other")
    _write(4, 20, "STOP")

    # When staff open her card
    history = _card(office, contact_id)

    # Then each message reads once, in French, with her words
    assert history.count("Premier contact sur WhatsApp (accueilli) : Bonjour, le prix du coffret ?") == 1
    assert history.count("Message reçu sur WhatsApp : Vous livrez à Akwa ?") == 1
    assert "Message reçu sur Facebook Messenger (sans texte : photo, note vocale…)" in history
    assert "A demandé l’arrêt des messages (STOP) sur WhatsApp : STOP" in history
    assert "Plus de messages sur WhatsApp (a écrit STOP)" in history
    # the touches the pipeline recorded beside them are not told again, unless they name the campaign
    assert "Nous a écrit" not in history
    assert "Venu d'une publicité (WhatsApp), campagne TONTINE" in history
    for raw in ("(whatsapp)", "on whatsapp", "Message received"):
        assert raw not in history, raw


def test_a_message_is_dated_at_the_time_the_person_wrote_it_in_douala(office, settings):
    # Mireille wrote at 22:30 UTC on 1 December: 23:30 in Douala, the shop's time
    settings.NURTURE_KICK_DISPATCHER = False
    contact_id = _write(1, 0, "Vous êtes ouverts demain ?", at=datetime(2026, 12, 1, 22, 30, tzinfo=UTC))
    assert (
        '<small class="when">01/12/2026 23:30</small> Premier contact sur WhatsApp (accueilli) : '
        "Vous êtes ouverts demain ?"
    ) in _card(office, contact_id)


def test_a_long_message_reads_whole_on_the_card(office, settings):
    settings.NURTURE_KICK_DISPATCHER = False
    contact_id = _write(1, 10, LONG_WORDS)
    assert f"Premier contact sur WhatsApp (accueilli) : {LONG_WORDS}</p>" in _card(office, contact_id)


@pytest.fixture
def chatty_customer(transactional_db, settings, coffret):
    """Mireille, with an order and messages on three channels, one of them a long link (written before the
    browser starts)."""
    settings.NURTURE_KICK_DISPATCHER = False
    settings.PARTNER_WEBHOOKS_KICK = False
    contact_id = _write(
        1, 60, "Bonjour ! Vous avez encore le coffret Tontine à 25 000 ? Livraison à Bonamoussadi svp"
    )
    _known_on_every_channel(contact_id)
    order = order_create(contact_id=contact_id, lines=[{"gift_box_id": coffret.pk, "quantity": 3}])
    _write(2, 50, "Le sirop de gingembre est fini ?", channel=Channel.TELEGRAM)
    _write(3, 40, f"Le colis est abîmé : {LINK}", channel=Channel.MESSENGER)
    _write(4, 30, LONG_WORDS)
    return {"contact_id": contact_id, "order": order.number}


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_history_of_a_chatty_customer_fits_a_phone(live_server, staff, chatty_customer, phone):
    # Given a customer who ordered and wrote on WhatsApp, Telegram and Messenger, one message a long link
    page = phone
    page.goto(f"{live_server.url}/app/clients/{chatty_customer['contact_id']}/")
    page.fill("#id_username", staff.username)
    page.fill("#id_password", STAFF_PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_selector("#timeline")
    page.wait_for_load_state("load")  # the style sheet is in: a page measured before it would be wider

    # Then the page does not scroll sideways and no line of the history passes the card's edge
    width = page.evaluate("document.documentElement.clientWidth")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    edges = page.eval_on_selector_all(
        "#timeline .event", "rows => rows.map(r => r.getBoundingClientRect().right)"
    )
    assert edges
    assert max(edges) <= width
    history = page.inner_text("#timeline")
    assert "Message reçu sur Telegram : Le sirop de gingembre est fini ?" in history
    assert LINK in history
    # and the order number stays on one line
    order_line = page.locator("#timeline .event", has_text=f"Commande {chatty_customer['order']}").first
    number_height = order_line.evaluate(
        """(row, number) => { const range = document.createRange(); const text = [...row.childNodes].find(
               n => n.nodeType === 3 && n.textContent.includes(number)); const at = text.textContent.indexOf(number);
           range.setStart(text, at); range.setEnd(text, at + number.length); return range.getClientRects().length; }""",
        chatty_customer["order"],
    )
    assert number_height == 1
    page.screenshot(path=screenshot_dir() / "clients-7-historique.png", full_page=True)
