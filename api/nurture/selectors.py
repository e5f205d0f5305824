"""Reads of the nurture app: lists for the API, broadcast progress, the contact timeline sources."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Count, QuerySet

from api.common.errors import NotFoundError
from api.contacts.enums import LifecycleStage
from api.contacts.registry import TimelineEvent
from api.contacts.selectors import contacts_live
from api.nurture import conf
from api.nurture.models import (
    Broadcast,
    Enrollment,
    NurtureProfile,
    OutboundMessage,
    Sequence,
    TelegramUpdate,
)

State = OutboundMessage.State
# What a contact's timeline shows of the messages sent to them (queued and cancelled ones are not events).
_TIMELINE_STATES = {State.SENT: "Message sent", State.FAILED: "Message failed", State.SKIPPED: "Message skipped"}


def sequence_list() -> QuerySet[Sequence]:
    """Every sequence with its steps, newest first."""
    return Sequence.objects.prefetch_related("steps").order_by("-created_at", "-id")


def sequence_get(sequence_id: int) -> Sequence:
    """One sequence with its steps (404 ``NotFoundError`` when there is none)."""
    sequence = sequence_list().filter(pk=sequence_id).first()
    if sequence is None:
        raise NotFoundError(f"No sequence #{sequence_id}.")
    return sequence


def enrollment_list() -> QuerySet[Enrollment]:
    """Every enrollment with its sequence (the list view filters them: api/nurture/filters.py)."""
    return Enrollment.objects.select_related("sequence")


def outbound_list() -> QuerySet[OutboundMessage]:
    """Every outbound message (the list view filters them: api/nurture/filters.py)."""
    return OutboundMessage.objects.all()


def outbound_get(message_id: int) -> OutboundMessage:
    """One outbound message (404 ``NotFoundError`` when there is none)."""
    message = OutboundMessage.objects.filter(pk=message_id).first()
    if message is None:
        raise NotFoundError(f"No outbound message #{message_id}.")
    return message


def broadcast_list() -> QuerySet[Broadcast]:
    """Every broadcast, newest first (the model's ordering)."""
    return Broadcast.objects.all()


def broadcast_get(broadcast_id: int) -> Broadcast:
    """One broadcast (404 ``NotFoundError`` when there is none)."""
    broadcast = Broadcast.objects.filter(pk=broadcast_id).first()
    if broadcast is None:
        raise NotFoundError(f"No broadcast #{broadcast_id}.")
    return broadcast


def broadcast_progress(broadcast: Broadcast) -> dict[str, int]:
    """Messages of a broadcast by outcome: sent, skipped, failed, cancelled, pending, of total."""
    counts = dict(OutboundMessage.objects.filter(broadcast=broadcast).values_list("state")
                  .annotate(n=Count("id")).values_list("state", "n"))
    pending = counts.get(State.SCHEDULED, 0) + counts.get(State.SENDING, 0)
    return {"total": broadcast.total, "sent": counts.get(State.SENT, 0), "skipped": counts.get(State.SKIPPED, 0),
            "failed": counts.get(State.FAILED, 0), "cancelled": counts.get(State.CANCELLED, 0), "pending": pending}


def telegram_update_is_processed(update_id: int) -> bool:
    """Whether the Telegram update ``update_id`` was already stored and applied (a redelivery)."""
    return TelegramUpdate.objects.filter(update_id=update_id, processed_at__isnull=False).exists()


# --- timeline sources (registered in apps.py) ----------------------------------------------------------


def outbound_timeline(contact_id: int, before: datetime | None, limit: int) -> list[TimelineEvent]:
    """Messages sent, failed or skipped to a contact, at their last change."""
    qs = OutboundMessage.objects.filter(contact_id=contact_id, state__in=list(_TIMELINE_STATES))
    if before is not None:
        qs = qs.filter(updated_at__lte=before)
    events = []
    for m in qs.order_by("-updated_at", "-id")[:limit]:
        verb = _TIMELINE_STATES[State(m.state)]
        summary = f"{verb} on {m.channel}" + (f" ({m.reason})" if m.reason else "") + f": {m.text[:120]}"
        events.append(TimelineEvent(at=m.updated_at, kind=f"message_{m.state}", summary=summary, source="nurture",
                                    ref=f"message:{m.pk:012d}",
                                    data={"message_id": m.pk, "channel": m.channel, "category": m.category,
                                          "broadcast_id": m.broadcast_id, "enrollment_id": m.enrollment_id}))
    return events


def enrollment_timeline(contact_id: int, before: datetime | None, limit: int) -> list[TimelineEvent]:
    """Enrollments of a contact into sequences."""
    qs = Enrollment.objects.filter(contact_id=contact_id).select_related("sequence")
    if before is not None:
        qs = qs.filter(created_at__lte=before)
    return [TimelineEvent(at=e.created_at, kind="sequence_enrolled",
                          summary=f"Enrolled in \u201c{e.sequence.name}\u201d ({e.trigger})"
                                  + (f", {e.state}: {e.stopped_reason}" if e.stopped_reason else ""),
                          source="nurture_enrollments", ref=f"enrollment:{e.pk:012d}",
                          data={"enrollment_id": e.pk, "sequence_id": e.sequence_id, "state": e.state})
            for e in qs.order_by("-created_at", "-id")[:limit]]


# --- lead score, maturity, predicted reorder date (staff screens) --------------------------------------


def lead_mature_threshold() -> int:
    """The lead score from which a suspect or prospect is "mature" (``NURTURE_MATURE_THRESHOLD``)."""
    return int(conf.get("NURTURE_MATURE_THRESHOLD"))


def nurture_profile_find(contact_id: int) -> NurtureProfile | None:
    """The contact's lead score, ``matured_at`` and ``replenishment_due_at``, or None when nurture
    never scored them. Reads only: ``services.scoring.nurture_profile_get`` creates the row."""
    return NurtureProfile.objects.filter(contact_id=contact_id).first()


def contacts_recently_matured(*, since: datetime, limit: int = 20) -> list[NurtureProfile]:
    """Live suspects and prospects who became mature (``services.scoring.lead_score_record`` stamps
    ``matured_at`` when their score crosses the threshold) at or after ``since``, the latest first,
    with their contact. Those who have bought since are no longer prospects and are left out."""
    prospects = contacts_live().filter(lifecycle_stage__in=[LifecycleStage.SUSPECT, LifecycleStage.PROSPECT])
    return list(NurtureProfile.objects.select_related("contact")
                .filter(matured_at__gte=since, contact_id__in=prospects.values("pk"))
                .order_by("-matured_at", "-id")[:limit])


def contacts_due_to_reorder(*, start: datetime, end: datetime, limit: int = 20) -> list[NurtureProfile]:
    """Live customers whose predicted reorder date (``services.replenishment.replenishment_plan``:
    last kept order + their usual gap) falls between ``start`` and ``end``, the earliest first,
    with their contact. A new order moves the date forward at the next plan."""
    return list(NurtureProfile.objects.select_related("contact")
                .filter(replenishment_due_at__gte=start, replenishment_due_at__lt=end,
                        contact_id__in=contacts_live().values("pk"))
                .order_by("replenishment_due_at", "id")[:limit])
