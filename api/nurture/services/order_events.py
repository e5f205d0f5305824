"""Nurture's reactions to order events: an order stops sequences, a delivery starts the after-sale one."""

from __future__ import annotations

from api.common.errors import NotFoundError
from api.contacts.selectors import contact_find
from api.nurture.enums import Purpose
from api.nurture.models import Sequence
from api.nurture.services.channels import SUPPORTED_CHANNELS, channel_choose, contact_recipient, render_text
from api.nurture.services.outbox import outbound_enqueue, staff_notify
from api.nurture.services.scoring import lead_score_record
from api.nurture.services.sequences import enrollment_create, enrollments_stop_for_contact
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
    points and thanks a happy customer with their referral code. Idempotent (every write is keyed
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
        if event.rating is not None and event.rating >= HAPPY_RATING:
            _thank_with_referral_code(event)


def _thank_with_referral_code(event: OrderEvent) -> None:
    contact = contact_find(event.contact_id)
    if contact is None:
        raise NotFoundError(f"No contact #{event.contact_id}.")
    channel = channel_choose(contact, SUPPORTED_CHANNELS)
    if channel:
        outbound_enqueue(idempotency_key=f"referral:{event.order_id}", channel=channel,
                         recipient=contact_recipient(contact, channel), contact_id=contact.pk,
                         text=render_text(REFERRAL_THANKS, contact))
