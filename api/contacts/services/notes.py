"""The contact's record beyond identities: tags, staff notes, timeline events and lifecycle stage moves."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from api.common.errors import ApplicationError, field_error
from api.contacts.enums import LifecycleStage
from api.contacts.models import Contact, ContactEvent, ContactNote, Tag
from api.contacts.services._base import check_choice, contact_resolve, event_add


def contact_tags_set(*, contact_id: int, tags: Sequence[str]) -> list[str]:
    """Replace the tags of a contact (tags are created on first use)."""
    names = sorted({t.strip()[:60] for t in tags if t and t.strip()})
    with transaction.atomic():
        contact = contact_resolve(contact_id)
        Tag.objects.bulk_create([Tag(name=n) for n in names], ignore_conflicts=True)
        contact.tags.set(Tag.objects.filter(name__in=names))
    return names


def contact_note_add(*, contact_id: int, text: str, author: Any = None) -> ContactNote:
    """Add a staff note (tastes, habits, after-sale requests); it appears on the timeline."""
    text = (text or "").strip()
    if not text:
        raise ApplicationError("A note needs a text.", code="validation_error",
                               errors=[field_error("text", "This field may not be blank.", "blank")])
    with transaction.atomic():
        contact = contact_resolve(contact_id)
        note = ContactNote.objects.create(contact=contact, author=author if getattr(author, "pk", None) else None,
                                          text=text)
        event_add(contact, "note", text[:200], {"note_id": note.pk}, actor=author, at=note.created_at)
    return note


def contact_event_record(*, contact_id: int, kind: str, summary: str, data: dict | None = None,
                         at: datetime | None = None) -> ContactEvent:
    """Record a generic event on the contact's own timeline (for apps without their own source)."""
    with transaction.atomic():
        contact = contact_resolve(contact_id, lock=False)
        return event_add(contact, kind[:50], summary, data, at=at)


def contact_set_lifecycle_stage(*, contact_id: int, stage: str, reason: str, actor: Any = None,
                                automatic: bool = True, at: datetime | None = None) -> Contact:
    """Move a contact to ``stage`` and record the move on the timeline.

    An automatic move (lead scoring, first order…) does nothing when staff overrode the
    stage (``lifecycle_stage_locked``). A manual move (``automatic=False``) sets that lock.
    Moving to the current stage records nothing. Idempotent.

    ``at`` is when the fact behind the move happened (the message that made a suspect a prospect, the
    delivery that made a customer), default now: the move is dated then, so the weekly funnel, which
    counts moves by their date (``selectors.contact_stage_moves_between``), puts a Sunday night message
    found on Monday in Sunday's week. It is clamped to now (a clock ahead, or a provider's time, must not
    date a move in the future) and to the date of the contact's previous move, or of its card's creation
    when it never moved (the stage it leaves was entered then: the timeline tells the moves in order).
    """
    check_choice("stage", stage, LifecycleStage.values)
    with transaction.atomic():
        contact = contact_resolve(contact_id)
        if automatic and contact.lifecycle_stage_locked:
            return contact
        old = contact.lifecycle_stage
        update = ["updated_at"]
        if not automatic and not contact.lifecycle_stage_locked:
            contact.lifecycle_stage_locked = True
            update.append("lifecycle_stage_locked")
        if old != stage:
            contact.lifecycle_stage = stage
            update.append("lifecycle_stage")
        if len(update) > 1:
            contact.save(update_fields=update)
        if old != stage:
            event_add(contact, "lifecycle_changed", f"Stage {old} → {stage} ({reason})",
                      {"from": old, "to": stage, "reason": reason, "automatic": automatic}, actor=actor,
                      at=_move_time(contact, at))
    return contact


def _move_time(contact: Contact, at: datetime | None) -> datetime:
    """``at`` (default now), no later than now and no earlier than the contact's previous move or the
    creation of its card; the caller holds the contact's row lock.

    The card's creation is when the contact entered their first stage: a message written before the card
    existed (a webhook delivered late) dates the move at the creation, so the funnel never counts a prospect
    in a week before the one that counts them as a new contact.
    """
    now = timezone.now()
    moment = min(at or now, now)
    previous = (ContactEvent.objects.filter(contact=contact, kind="lifecycle_changed")
                .aggregate(last=Max("at"))["last"])
    floors = [t for t in (previous, contact.created_at) if t is not None]
    return max(moment, *floors)
