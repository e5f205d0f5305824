"""Birthday messages: on a person's birthday (Douala time), a short wish through the outbox, on a
channel they consented to."""

from __future__ import annotations

from datetime import datetime, time

from django.utils import timezone

from api.common.businesstime import business_localtime
from api.contacts.selectors import birthday_days, contacts_born_on
from api.nurture import conf
from api.nurture.models import OutboundMessage
from api.nurture.services.channels import SUPPORTED_CHANNELS, channel_choose, contact_recipient, render_text
from api.nurture.services.templates import (
    contact_parameters,
    outbound_enqueue_with_template,
    whatsapp_template_by_name,
)

BIRTHDAY_TEXT = ("Joyeux anniversaire {first_name} ! 🎂 Toute l'équipe Confiotes vous souhaite une très belle "
                 "journée, à partager autour d'un bon sirop.")
# Wishes go out in the daytime (business time zone), not at the minute the beat entry runs after midnight.
BIRTHDAY_WINDOW = (time(9, 0), time(20, 0))


def birthday_key(contact_id: int, year: int) -> str:
    """The outbox idempotency key of a contact's birthday wish of ``year``: once per contact and year."""
    return f"birthday:{contact_id}:{year}"


def birthday_messages_queue(*, now: datetime | None = None) -> int:
    """Queue a birthday wish for every live contact whose birthday is today (business time zone);
    returns how many were queued.

    - Born on 29 February: wished on 28 February in a year without a 29th (``birthday_days``).
    - Only when the person may receive marketing on a channel now (``channel_choose``: consent granted
      and not revoked, reachable, not opted out; their preferred channel first). The message is a
      ``marketing`` one, so the dispatcher checks consent again at send time: a person who opts out
      before it leaves gets nothing.
    - Once per contact and year (idempotency key ``birthday:<contact>:<year>``): a second run the same
      day, or a retried task, queues nothing more. Sent inside ``BIRTHDAY_WINDOW``.
    """
    now = now or timezone.now()
    today = business_localtime(now).date()
    # Outside WhatsApp's 24-hour window the wish goes as the template named in the settings (else it
    # is skipped ``template_required`` when sent).
    template = whatsapp_template_by_name(conf.get("NURTURE_WHATSAPP_TEMPLATE_BIRTHDAY"))
    queued = 0
    for month, day in birthday_days(today):
        for contact in contacts_born_on(month=month, day=day).iterator(chunk_size=500):
            key = birthday_key(contact.pk, today.year)
            if OutboundMessage.objects.filter(idempotency_key=key).exists():
                continue
            channel = channel_choose(contact, SUPPORTED_CHANNELS)
            if channel is None:
                continue
            outbound_enqueue_with_template(
                template=template, parameters=contact_parameters(contact), idempotency_key=key, channel=channel,
                recipient=contact_recipient(contact, channel), contact_id=contact.pk,
                text=render_text(BIRTHDAY_TEXT, contact), category=OutboundMessage.Category.MARKETING,
                window=BIRTHDAY_WINDOW)
            queued += 1
    return queued
