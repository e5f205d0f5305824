"""Refunds and Telegram consent on the customer card's history (api/backoffice/timeline.py): each refund a
French line with its amount and order, even a partial one that leaves the order's status as it was; a
/start on the bot read as staff say it."""

from __future__ import annotations

import html
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from django.urls import reverse
from django.utils import translation

from api.backoffice.timeline import timeline_text
from api.contacts.models import Contact
from api.nurture.services.bot import telegram_update_receive
from api.orders.models import Order, Refund
from api.orders.services import order_create, order_refund, order_status_change
from tests.fakes.telegram_server import message_update

pytestmark = pytest.mark.django_db

# Thousands grouped by a narrow no-break space, the unit after a no-break space, as everywhere in the back office.
FIVE_THOUSAND = "5\u202f000\u00a0FCFA"
TWO_THOUSAND = "2\u202f000\u00a0FCFA"


def _card(office, contact_id: int) -> str:
    """The card's history as staff read it (entities such as &#x27; turned back into their characters)."""
    page = office.get(reverse("backoffice:contact-detail", args=[contact_id])).content.decode()
    return html.unescape(page[page.index('id="timeline"') :])


def _delivered(customer, coffret) -> Order:
    """Mireille's order of two Coffrets Découverte, delivered."""
    order = order_create(contact_id=customer.pk, lines=[{"gift_box_id": coffret.pk, "quantity": 2}])
    for status in ("confirmed", "preparing", "ready", "out_for_delivery", "delivered"):
        order_status_change(order_id=order.pk, status=status)
    return order


def test_each_refund_reads_on_the_card_with_its_amount_order_and_reason(office, customer, coffret):
    # Given a delivered order refunded in part for a damaged parcel, then once more in part (the order is
    # already "Remboursée": the second refund changes no status)
    order = _delivered(customer, coffret)
    order_refund(order_id=order.pk, amount_xaf=5000, reason="colis abîmé")
    order_refund(order_id=order.pk, amount_xaf=2000)

    # When staff open her card
    history = _card(office, customer.pk)

    # Then each refund is a French line of its own: amount in FCFA, order number, the reason when there is one
    assert history.count(f"Remboursement de {FIVE_THOUSAND} sur {order.number} (colis abîmé)") == 1
    assert history.count(f"Remboursement de {TWO_THOUSAND} sur {order.number}</p>") == 1
    # and the status moved once
    assert history.count(f"Commande {order.number} : Livrée → Remboursée") == 1
    assert "Refund" not in history
    assert "XAF" not in history


def test_a_refund_is_dated_when_it_was_recorded_in_douala_time(office, customer, coffret):
    # Given a refund recorded at 22:30 UTC on 1 December: 23:30 in Douala, the shop's time
    order = _delivered(customer, coffret)
    refund = order_refund(order_id=order.pk, amount_xaf=5000, reason="colis abîmé")
    Refund.objects.filter(pk=refund.pk).update(created_at=datetime(2026, 12, 1, 22, 30, tzinfo=UTC))

    # Then the card dates the refund's line at that time
    assert (
        f'<small class="when">01/12/2026 23:30</small> Remboursement de {FIVE_THOUSAND} sur {order.number}'
    ) in _card(office, customer.pk)


def test_a_telegram_start_reads_as_starting_the_bot_on_the_card(office, settings):
    # Given Awa, who started the bot on Telegram
    settings.NURTURE_KICK_DISPATCHER = False
    telegram_update_receive(payload=message_update(661234, "/start", update_id=4401))
    contact = Contact.objects.get(telegram_chat_id="661234")

    # Then her card says how she agreed to messages, in French
    history = _card(office, contact.pk)
    assert "Accepte les messages sur Telegram (a démarré le bot)" in history
    assert "bot /start" not in history


def test_consents_recorded_before_the_french_wording_read_like_new_ones():
    # Events written by older versions: "bot /start", and the inbound pipeline's reasons with the channel
    old = [
        ("consent_granted", "bot /start", "Accepte les messages sur Telegram (a démarré le bot)"),
        ("consent_revoked", "STOP (telegram)", "Plus de messages sur Telegram (a écrit STOP)"),
        (
            "consent_granted",
            "a écrit en premier (telegram)",
            "Accepte les messages sur Telegram (a écrit en premier)",
        ),
    ]
    with translation.override("fr"):
        for kind, how, reads in old:
            event = SimpleNamespace(kind=kind, summary="", data={"channel": "telegram", "how": how})
            assert timeline_text(event) == reads
        # what staff typed themselves is kept as they wrote it
        typed = SimpleNamespace(
            kind="consent_granted", summary="", data={"channel": "telegram", "how": "au téléphone"}
        )
        assert timeline_text(typed) == "Accepte les messages sur Telegram (au téléphone)"
