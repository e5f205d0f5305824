"""Nurture's reactions to order events: an order stops sequences, a delivery starts the after-sale one,
a happy rating asks for referrals, an unhappy one gets an apology and a staff alert."""

from __future__ import annotations

from typing import Any

from api.common.errors import NotFoundError
from api.contacts.enums import Channel
from api.contacts.selectors import contact_find
from api.nurture import conf
from api.nurture.enums import Purpose
from api.nurture.models import OutboundMessage, Sequence
from api.nurture.services.channels import SUPPORTED_CHANNELS, channel_choose, contact_recipient, render_text
from api.nurture.services.outbox import staff_notify
from api.nurture.services.scoring import lead_score_record
from api.nurture.services.sequences import enrollment_create, enrollments_stop_for_contact
from api.nurture.services.templates import (
    order_parameters,
    outbound_enqueue_with_template,
    whatsapp_template_by_name,
)
from api.orders.enums import OrderEventKind, OrderStatus
from api.orders.events import OrderEvent

# A rating from this many stars up earns a thank-you with the customer's referral code.
HAPPY_RATING = 4
REFERRAL_THANKS = ("Merci {first_name} ! Offrez à vos proches une remise sur leur première commande avec votre "
                   "code {referral_code}.")


def order_event_handle(event: OrderEvent) -> None:
    """Listener of ``api.orders.events`` (registered in ``apps.py``): react to one order event.

    A new order (not a tasting sample) stops the contact's sequences that stop on order and tells
    staff; a delivery enrolls the contact in the after-sale sequences; feedback adds lead-score
    points, thanks a happy customer with their referral code, and, when the rating opened a
    complaint, apologises to the customer and alerts staff. Idempotent (every write is keyed
    by the order), so a redelivered event changes nothing more.
    """
    if not event.contact_id:
        return
    if event.kind == OrderEventKind.CREATED and event.is_sample:
        return  # a tasting sample is not a purchase
    if event.kind == OrderEventKind.CREATED:
        enrollments_stop_for_contact(contact_id=event.contact_id, reason="ordered", on_order=True)
        staff_notify(key=f"order:{event.order_id}",
                     text=f"🛒 Nouvelle commande {event.order_number} : {event.total_xaf} XAF "
                          f"(contact #{event.contact_id}).")
    elif event.kind == OrderEventKind.STATUS_CHANGED and event.status == OrderStatus.DELIVERED:
        for sequence in Sequence.objects.filter(purpose=Purpose.AFTER_SALE, is_active=True):
            enrollment_create(sequence_id=sequence.pk, contact_id=event.contact_id, trigger="delivered_order",
                              trigger_ref=f"order:{event.order_id}")
    elif event.kind == OrderEventKind.FEEDBACK:
        lead_score_record(contact_id=event.contact_id, kind="feedback", ref=f"feedback:{event.order_id}")
        complaint_id = event.data.get("complaint_id")
        if complaint_id:
            _apologise_and_alert_staff(event, int(complaint_id))
        elif event.rating is not None and event.rating >= HAPPY_RATING:
            _thank_with_referral_code(event)


def _apologise_and_alert_staff(event: OrderEvent, complaint_id: int) -> None:
    """A low rating opened complaint ``complaint_id`` (the orders app decides what is low): apologise
    to the customer at once, from the template, and tell staff, saying whether the apology could go.

    The apology is a service message: it answers what the person told us, so the marketing pause
    that the open case sets (and the weekly cap) does not hold it back. Marketing resumes by itself
    once staff resolve or close the case (the dispatcher asks at send time).
    """
    contact = contact_find(event.contact_id)
    if contact is None:
        raise NotFoundError(f"No contact #{event.contact_id}.")
    channel = channel_choose(contact, SUPPORTED_CHANNELS)
    if channel:
        template = str(conf.get("NURTURE_APOLOGY_TEMPLATE")).replace("{order_number}", event.order_number)
        outbound_enqueue_with_template(
            template=whatsapp_template_by_name(conf.get("NURTURE_WHATSAPP_TEMPLATE_APOLOGY")),
            parameters=_order_parameters(event, contact), idempotency_key=f"apology:{event.order_id}",
            channel=channel, recipient=contact_recipient(contact, channel), contact_id=contact.pk,
            category=OutboundMessage.Category.SERVICE, text=render_text(template, contact))
        apology = f"Excuses envoyées sur {Channel(channel).label}."
    else:
        call = f"appelez-le au {contact.phone}" if contact.phone else "appelez-le"
        apology = f"Aucun canal pour lui écrire : {call}."
    comment = str(event.data.get("comment") or "").strip()
    said = f" : « {comment[:300]} »" if comment else ""
    staff_notify(key=f"complaint:{complaint_id}",
                 text=f"😟 Client mécontent : {contact.display_name} a noté la commande {event.order_number} "
                      f"{event.rating}/5{said}. Réclamation #{complaint_id} ouverte, marketing en pause jusqu'à "
                      f"sa clôture. {apology}")


def _thank_with_referral_code(event: OrderEvent) -> None:
    contact = contact_find(event.contact_id)
    if contact is None:
        raise NotFoundError(f"No contact #{event.contact_id}.")
    channel = channel_choose(contact, SUPPORTED_CHANNELS)
    if channel:
        outbound_enqueue_with_template(
            template=whatsapp_template_by_name(conf.get("NURTURE_WHATSAPP_TEMPLATE_REFERRAL_THANKS")),
            parameters=_order_parameters(event, contact), idempotency_key=f"referral:{event.order_id}",
            channel=channel, recipient=contact_recipient(contact, channel), contact_id=contact.pk,
            text=render_text(REFERRAL_THANKS, contact))


def _order_parameters(event: OrderEvent, contact: Any) -> list[str]:
    """Variables of an order message's WhatsApp template (mapping in ``services.templates``)."""
    return order_parameters(contact, order_number=event.order_number, status=event.status,
                            total_xaf=event.total_xaf)
