"""The contact's record beyond identities: tags, staff notes, timeline events and lifecycle stage moves."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db import transaction

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
                                automatic: bool = True) -> Contact:
    """Move a contact to ``stage`` and record the move on the timeline.

    An automatic move (lead scoring, first order…) does nothing when staff overrode the
    stage (``lifecycle_stage_locked``). A manual move (``automatic=False``) sets that lock.
    Moving to the current stage records nothing. Idempotent.
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
                   {"from": old, "to": stage, "reason": reason, "automatic": automatic}, actor=actor)
    return contact
