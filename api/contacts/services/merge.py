"""Merging two contacts that are the same person: one survivor, nothing lost, the other kept as a tombstone."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from api.common.errors import ApplicationError, ConflictError, NotFoundError, field_error
from api.contacts.enums import LifecycleStage, Segment
from api.contacts.models import Consent, Contact, ContactEvent, ContactMerge, ContactNote, FollowUpTask
from api.contacts.registry import contact_relations, merge_hooks
from api.contacts.selectors import IDENTITY_ROW_KINDS, referral_would_loop
from api.contacts.services._base import IDENTITY_FIELDS, event_add
from api.contacts.services.identity_rows import identity_rows_heal, identity_rows_move

# Stages from the least to the most engaged: a merge keeps the further one (unless staff locked it).
_STAGE_RANK: dict[str, int] = {s: i for i, s in enumerate([LifecycleStage.INACTIVE, LifecycleStage.SUSPECT, LifecycleStage.PROSPECT,
                                           LifecycleStage.CUSTOMER, LifecycleStage.REPEAT_CUSTOMER,
                                           LifecycleStage.AMBASSADOR])}
# Profile fields the target takes from the source when its own is blank.
_FILLED_FROM_SOURCE = ("name", "first_name", "last_name", "salutation", "city", "neighbourhood", "birth_date",
                       "acquisition_channel", "self_reported_source", "preferred_channel", "preferred_hours_start",
                       "preferred_hours_end", "owner_id")
_NEVER = datetime.min.replace(tzinfo=UTC)


def _snapshot(contact: Contact) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for f in contact._meta.concrete_fields:
        value = getattr(contact, f.attname)
        data[f.attname] = value.isoformat() if hasattr(value, "isoformat") else value
    data["tags"] = list(contact.tags.values_list("name", flat=True))
    return data


def contact_merge(*, target_id: int, source_id: int, actor: Any = None) -> ContactMerge:
    """Fold contact ``source_id`` into ``target_id``; nothing is lost.

    Moves notes, timeline events, follow-up tasks, referrals, tags, consents (per channel the
    most recent decision wins) and every row of registered relations
    (``registry.register_contact_relation``: ``UPDATE … SET field = target WHERE field = source``).
    Every phone, WhatsApp number and e-mail of the source becomes an identity of the target (its
    main one when the target has none), so a message from the merged-away number finds the target;
    a Telegram chat or Messenger id the target already has its own of is written in a note. Then the
    merge hooks other apps registered run (``registry.register_merge_hook``: nurture combines profiles
    and moves enrollments, attribution recomputes the stage). Blank profile fields are filled from the source; a
    global opt-out of either side wins. The source stays as a tombstone (``merged_into``,
    identities cleared) so that old references still resolve; a ``ContactMerge`` row keeps a
    snapshot of it and the counts moved, and a ``merged`` event goes on the timeline.
    Both rows are locked (in id order, so two crossing merges cannot deadlock).
    """
    if target_id == source_id:
        raise ApplicationError("A contact cannot be merged into itself.", code="validation_error",
                               errors=[field_error("source_id", "Must differ from the target.")])
    with transaction.atomic():
        target, source = _merge_lock(target_id, source_id)
        snapshot = _snapshot(source)
        # Main identities written without rows (an import) get theirs first, so that all of them move.
        identity_rows_heal(target)
        identity_rows_heal(source)
        kept_aside = _merge_profile(target, source)
        moved = _merge_move_rows(target, source)
        moved["identities"] = identity_rows_move(source_id=source.pk, target_id=target.pk)
        moved["consents"] = _merge_consents(target, source)
        moved.update(_merge_relations(target, source))
        for hook in merge_hooks().values():
            moved.update(hook(target_id=target.pk, source_id=source.pk) or {})
        if kept_aside:
            ContactNote.objects.create(contact=target, author=actor if getattr(actor, "pk", None) else None,
                                       text=f"Kept from merged contact #{source.pk}: " + "; ".join(kept_aside))
        merge = ContactMerge.objects.create(target=target, source=source, source_snapshot=snapshot, moved=moved,
                                            actor=actor if getattr(actor, "pk", None) else None)
        event_add(target, "merged", f"Contact #{source.pk} ({source.display_name}) merged into this one",
                  {"source_id": source.pk, "merge_id": merge.pk, "moved": moved}, actor=actor)
    return merge


def _merge_lock(target_id: int, source_id: int) -> tuple[Contact, Contact]:
    """Both contacts, locked in id order; 404 when one is missing, 409 when one was merged or erased."""
    rows = {c.pk: c for c in Contact.objects.select_for_update().filter(pk__in=[target_id, source_id])
            .order_by("pk")}
    for wanted in (target_id, source_id):
        if wanted not in rows:
            raise NotFoundError(f"No contact #{wanted}.")
    for c in (rows[target_id], rows[source_id]):
        if c.merged_into_id:
            raise ConflictError(f"Contact #{c.pk} was already merged into #{c.merged_into_id}.",
                                code="already_merged")
        if c.erased_at:
            raise ConflictError(f"Contact #{c.pk} was erased.", code="erased")
    return rows[target_id], rows[source_id]


def _merge_profile(target: Contact, source: Contact) -> list[str]:
    """Make the source a tombstone and give the target what it lacks; returns the source's Telegram,
    Messenger and Instagram names the target kept its own for (``"field: value"``), for a note."""
    kept_aside = []
    moving: dict[str, Any] = {}
    for field in (*IDENTITY_FIELDS, "telegram_username", "instagram"):
        sv, tv = getattr(source, field), getattr(target, field)
        if sv and not tv:
            moving[field] = sv
        elif sv and tv and sv != tv and field not in IDENTITY_ROW_KINDS:  # numbers and e-mails move as rows
            kept_aside.append(f"{field}: {sv}")
    # Free the unique identities on the source before the target takes them.
    for field in IDENTITY_FIELDS:
        setattr(source, field, None)
    source.merged_into, source.merged_at = target, timezone.now()
    source.save()

    for field, value in moving.items():
        setattr(target, field, value)
    for field in _FILLED_FROM_SOURCE:
        if not getattr(target, field) and getattr(source, field):
            setattr(target, field, getattr(source, field))
    if target.segment == Segment.UNKNOWN and source.segment != Segment.UNKNOWN:
        target.segment = source.segment
    if (not target.lifecycle_stage_locked
            and _STAGE_RANK.get(source.lifecycle_stage, 0) > _STAGE_RANK.get(target.lifecycle_stage, 0)):
        target.lifecycle_stage = source.lifecycle_stage
    if (source.referred_by_id and not target.referred_by_id and source.referred_by_id != target.pk
            and not referral_would_loop(contact_id=target.pk, referrer_id=source.referred_by_id)):
        target.referred_by_id = source.referred_by_id
    if target.referred_by_id == source.pk:
        target.referred_by_id = None
    if source.opted_out_at and not target.opted_out_at:
        target.opted_out_at = source.opted_out_at
    for field in ("last_seen_at", "last_verified_at"):
        values = [v for v in (getattr(target, field), getattr(source, field)) if v]
        setattr(target, field, max(values) if values else None)
    target.save()
    return kept_aside


def _merge_move_rows(target: Contact, source: Contact) -> dict[str, int]:
    """Move the contacts app's own rows (tags, notes, events, tasks, referrals, earlier merges); counts."""
    moved: dict[str, int] = {}
    target.tags.add(*source.tags.all())
    moved["tags"] = source.tags.count()
    source.tags.clear()
    moved["notes"] = ContactNote.objects.filter(contact=source).update(contact=target)
    moved["events"] = ContactEvent.objects.filter(contact=source).update(contact=target)
    moved["tasks"] = FollowUpTask.objects.filter(contact=source).update(contact=target)
    moved["referrals"] = Contact.objects.filter(referred_by=source).exclude(pk=target.pk).update(referred_by=target)
    # Tombstones of the source now point at the target: a merge chain never has more than one hop.
    Contact.objects.filter(merged_into=source).update(merged_into=target)
    ContactMerge.objects.filter(target=source).update(target=target)
    return moved


def _last_decision(consent: Consent) -> datetime:
    return max(d for d in (consent.granted_at, consent.revoked_at, consent.unreachable_at, _NEVER) if d)


def _merge_consents(target: Contact, source: Contact) -> int:
    """Move the source's consents; on a channel both have, the most recent decision wins. Returns how many."""
    target_consents = {c.channel: c for c in Consent.objects.filter(contact=target)}
    count = 0
    for consent in Consent.objects.filter(contact=source):
        mine = target_consents.get(consent.channel)
        if mine is None:
            consent.contact = target
            consent.save()
        else:
            if _last_decision(consent) > _last_decision(mine):
                for f in ("granted_at", "granted_how", "revoked_at", "revoked_how", "unreachable_at",
                          "unreachable_reason"):
                    setattr(mine, f, getattr(consent, f))
                mine.save()
            consent.delete()
        count += 1
    return count


def _merge_relations(target: Contact, source: Contact) -> dict[str, int]:
    """Move the rows other apps registered (``registry.register_contact_relation``); counts by label."""
    moved: dict[str, int] = {}
    for relation in contact_relations():
        manager = relation.model._default_manager
        try:
            with transaction.atomic():
                count = manager.filter(**{relation.field_name: source.pk}).update(**{relation.field_name: target.pk})
        except IntegrityError:
            raise ConflictError(f"Cannot move the {relation.label} of #{source.pk} to #{target.pk}: "
                                "it would break one of their unique rules.", code="merge_conflict") from None
        moved[relation.label] = count
    return moved
