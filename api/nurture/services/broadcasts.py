"""Broadcasts: one message to every contact of an audience, queued at its send time.

A broadcast goes ``scheduled -> running`` when its messages are queued, and ``running -> finished``
once every one of them has an outcome (sent, failed, skipped or cancelled): ``broadcasts_finish``
decides it, run by beat every minute (``nurture-broadcasts-finish``) and at the start of a broadcast
with nobody to reach. Delivered and read times keep arriving after that; they show in its progress.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from api.campaigns.selectors import campaign_resolve_code
from api.common.errors import ApplicationError, NotFoundError, field_error
from api.contacts.enums import Channel
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
from api.nurture.services.templates import (
    CONTACT_PARAMETERS,
    contact_parameters,
    template_message_fields,
    whatsapp_template_choose,
)

State = OutboundMessage.State


def broadcast_create(*, name: str, text: str, send_at: datetime, audience: dict[str, Any] | None = None,
                     channels: list[str] | None = None, image_url: str = "", created_by: Any = None,
                     whatsapp_template: int | None = None, campaign_code: str = "") -> Broadcast:
    """Plan a broadcast; beat queues its messages at ``send_at`` (``broadcasts_start_due``).

    Channels default to every supported channel; the audience is checked now (400 on an unknown filter).
    ``whatsapp_template`` (an approved template's id, variables per ``services.templates``) goes instead
    of the text to WhatsApp contacts outside the 24-hour window; ``campaign_code`` makes what Meta
    charges for those messages a cost of that campaign.
    """
    audience = dict(audience or {})
    channels = list(channels or SUPPORTED_CHANNELS)
    validate_channels(channels)
    validate_audience(audience)
    template = whatsapp_template_choose(whatsapp_template, max_parameters=CONTACT_PARAMETERS)
    campaign_code = (campaign_code or "").strip().upper()
    if campaign_code and campaign_resolve_code(campaign_code) is None:
        raise ApplicationError("The broadcast's campaign is unknown.", code="validation_error",
                               errors=[field_error("campaign_code", f"No campaign or coupon {campaign_code}.",
                                                   "does_not_exist")])
    broadcast = Broadcast(name=name, text=text, send_at=send_at, audience=audience, channels=channels,
                          image_url=image_url, created_by=created_by if getattr(created_by, "pk", None) else None,
                          whatsapp_template=template, campaign_code=campaign_code)
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
        broadcast = Broadcast.objects.select_related("whatsapp_template").get(pk=broadcast_id)
        template = broadcast.whatsapp_template
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
            elif channel == Channel.WHATSAPP and template is not None:
                for field, value in template_message_fields(template, contact_parameters(contact)).items():
                    setattr(row, field, value)
            rows.append(row)
        OutboundMessage.objects.bulk_create(rows, batch_size=500, ignore_conflicts=True)
        broadcast.total = len(rows)
        broadcast.save(update_fields=["total"])
        outbound_dispatch_kick()
    if not rows:
        broadcasts_finish(now=now)
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


def broadcasts_finish(*, now: datetime | None = None) -> int:
    """Mark ``finished`` every running broadcast whose messages all have an outcome. Returns how many.

    ``finished_at`` is when its last message got its outcome (bounded by now). A guarded update
    (``state = running``), so a run twice, or at the same time as a cancel, changes a broadcast once.
    """
    now = now or timezone.now()
    pending = OutboundMessage.objects.filter(broadcast_id__isnull=False, state__in=[State.SCHEDULED, State.SENDING])
    done = list(Broadcast.objects.filter(state=Broadcast.State.RUNNING)
                .exclude(pk__in=pending.values("broadcast_id")).values_list("id", flat=True))
    finished = 0
    for broadcast_id in done:
        last = OutboundMessage.objects.filter(broadcast_id=broadcast_id).aggregate(at=Max("updated_at"))["at"]
        finished += Broadcast.objects.filter(pk=broadcast_id, state=Broadcast.State.RUNNING).exclude(
            pk__in=pending.filter(broadcast_id=broadcast_id).values("broadcast_id")).update(
            state=Broadcast.State.FINISHED, finished_at=min(last or now, now))
    return finished
