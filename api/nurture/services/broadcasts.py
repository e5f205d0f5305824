"""Broadcasts: one message to every contact of an audience, queued at its send time."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from api.common.errors import NotFoundError
from api.contacts.selectors import contacts_audience
from api.nurture.models import Broadcast, OutboundMessage
from api.nurture.services.channels import (
    SUPPORTED_CHANNELS,
    contact_recipient,
    render_text,
    validate_audience,
    validate_channels,
)
from api.nurture.services.outbox import outbound_dispatch_kick

State = OutboundMessage.State


def broadcast_create(*, name: str, text: str, send_at: datetime, audience: dict[str, Any] | None = None,
                     channels: list[str] | None = None, image_url: str = "", created_by: Any = None) -> Broadcast:
    """Plan a broadcast; beat queues its messages at ``send_at`` (``broadcasts_start_due``).

    Channels default to every supported channel; the audience is checked now (400 on an unknown filter).
    """
    audience = dict(audience or {})
    channels = list(channels or SUPPORTED_CHANNELS)
    validate_channels(channels)
    validate_audience(audience)
    broadcast = Broadcast(name=name, text=text, send_at=send_at, audience=audience, channels=channels,
                          image_url=image_url, created_by=created_by if getattr(created_by, "pk", None) else None)
    broadcast.full_clean()
    broadcast.save()
    return broadcast


def broadcast_start(*, broadcast_id: int, now: datetime | None = None) -> int:
    """Queue one message per audience contact (on their best channel), once.

    The ``scheduled -> running`` transition and every row are one transaction: a crash leaves the
    broadcast scheduled with nothing queued, and a second run finds it running and does nothing.
    A contact without any usable channel gets a ``skipped`` row, so that progress adds up to the total.
    Consent is not read here: the dispatcher checks it when each message is sent.
    """
    now = now or timezone.now()
    with transaction.atomic():
        if not Broadcast.objects.filter(pk=broadcast_id, state=Broadcast.State.SCHEDULED).update(
                state=Broadcast.State.RUNNING):
            return 0
        broadcast = Broadcast.objects.get(pk=broadcast_id)
        rows: list[OutboundMessage] = []
        for contact in contacts_audience(broadcast.audience).order_by("id").iterator(chunk_size=1000):
            order = ([contact.preferred_channel] if contact.preferred_channel in broadcast.channels else []) + [
                c for c in broadcast.channels if c != contact.preferred_channel]
            channel = next((c for c in order if contact_recipient(contact, c)), None)
            row = OutboundMessage(contact=contact, channel=channel or order[0],
                                  recipient=contact_recipient(contact, channel) if channel else "",
                                  text=render_text(broadcast.text, contact), image_url=broadcast.image_url,
                                  due_at=max(broadcast.send_at, now), broadcast=broadcast,
                                  idempotency_key=f"bc:{broadcast.pk}:{contact.pk}")
            if channel is None:
                row.state, row.reason = State.SKIPPED, "no_channel"
            rows.append(row)
        OutboundMessage.objects.bulk_create(rows, batch_size=500, ignore_conflicts=True)
        broadcast.total = len(rows)
        broadcast.save(update_fields=["total"])
        outbound_dispatch_kick()
    return len(rows)


def broadcasts_start_due(*, now: datetime | None = None) -> int:
    """Start every scheduled broadcast whose time has come. Returns how many messages were queued."""
    now = now or timezone.now()
    ids = list(Broadcast.objects.filter(state=Broadcast.State.SCHEDULED, send_at__lte=now)
               .values_list("id", flat=True))
    return sum(broadcast_start(broadcast_id=i, now=now) for i in ids)


def broadcast_cancel(*, broadcast_id: int) -> Broadcast:
    """Cancel a broadcast: nothing more goes out; what was sent stays sent. Idempotent (the row is locked)."""
    with transaction.atomic():
        broadcast = Broadcast.objects.select_for_update().filter(pk=broadcast_id).first()
        if broadcast is None:
            raise NotFoundError(f"No broadcast #{broadcast_id}.")
        if broadcast.state != Broadcast.State.CANCELLED:
            broadcast.state, broadcast.cancelled_at = Broadcast.State.CANCELLED, timezone.now()
            broadcast.save(update_fields=["state", "cancelled_at"])
        OutboundMessage.objects.filter(broadcast=broadcast, state=State.SCHEDULED).update(
            state=State.CANCELLED, reason="broadcast cancelled", claim_token="", claimed_until=None,
            updated_at=timezone.now())
    return broadcast
