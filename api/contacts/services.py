"""Writes of the customer file. Other apps call these functions, never the models directly.

Every service is atomic (it opens its own ``transaction.atomic()``, a savepoint when the
caller already holds a transaction) and raises ``ApplicationError`` subclasses that the
DRF exception handler renders in the common shape.
"""

from __future__ import annotations

import base64
import csv
import functools
import hashlib
import hmac
import itertools
import logging
import re
import secrets
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from api.common.errors import ApplicationError, ConflictError, NotFoundError, field_error
from api.contacts import csv_io
from api.contacts.enums import Channel, LifecycleStage, Segment
from api.contacts.models import (
    Consent,
    Contact,
    ContactEvent,
    ContactMerge,
    ContactNote,
    ErasedIdentity,
    FollowUpTask,
    ImportJob,
    ImportRowError,
    Tag,
)
from api.contacts.phones import (
    INVALID_PHONE,
    InvalidPhone,
    cm_validity_patterns,
    normalize_phone,
    sql_national,
    sql_phone_digits,
)
from api.contacts.registry import contact_relations

logger = logging.getLogger(__name__)

# Identities that are unique in the database, in lookup order.
UNIQUE_IDENTITIES = ("phone", "email", "telegram_chat_id", "facebook_psid")
IDENTITY_FIELDS = ("phone", "email", "whatsapp", "telegram_chat_id", "facebook_psid")
# The kind under which an identity is hashed when erased (a WhatsApp number is a phone number).
_DIGEST_KIND = {"phone": "phone", "whatsapp": "phone", "email": "email", "telegram_chat_id": "telegram",
                "facebook_psid": "facebook_psid"}
_PROFILE_FIELDS = ("name", "first_name", "last_name", "city", "neighbourhood", "segment", "acquisition_channel",
                   "self_reported_source", "telegram_username", "instagram")
_STAGE_RANK = {s: i for i, s in enumerate(["inactive", "suspect", "prospect", "customer", "repeat_customer",
                                            "ambassador"])}
_REFERRAL_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


@dataclass(frozen=True)
class UpsertResult:
    contact: Contact
    created: bool


# --- helpers --------------------------------------------------------------------------------


# Base 32 turns every 5 random bits into one of 32 symbols (uniform); ours has no look-alikes.
_BASE32_TO_REFERRAL = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", _REFERRAL_ALPHABET.encode())


def referral_codes_new(count: int) -> list[str]:
    """``count`` random 8-character codes without look-alike characters (0/O, 1/I): 40 random bits each,
    drawn at once (an import draws tens of thousands)."""
    text = base64.b32encode(secrets.token_bytes(5 * count)).translate(_BASE32_TO_REFERRAL).decode()
    return [text[i:i + 8] for i in range(0, 8 * count, 8)]


def referral_code_new() -> str:
    """A random 8-character code without look-alike characters (0/O, 1/I)."""
    return referral_codes_new(1)[0]


def identity_digest(kind: str, value: str) -> str:
    """One-way hash of an identity (HMAC-SHA256 keyed with SECRET_KEY): it cannot be reversed,
    but the same identity seen again in a later import gives the same digest."""
    kind = _DIGEST_KIND.get(kind, kind)
    message = f"{kind}:{str(value).strip().lower()}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()


def _contact_digests(identities: dict[str, Any]) -> dict[str, str]:
    return {field: identity_digest(field, value) for field, value in identities.items() if value}


def _normalize_identities(**raw: Any) -> dict[str, str]:
    """Normalize identity values (E.164 phones, lower-case e-mail); 400 naming each bad field."""
    out: dict[str, str] = {}
    errors = []
    for field in ("phone", "whatsapp"):
        value = raw.get(field)
        if value not in (None, ""):
            try:
                out[field] = normalize_phone(str(value))
            except InvalidPhone as exc:
                errors.append(field_error(field, str(exc)))
    email = raw.get("email")
    if email not in (None, ""):
        email = str(email).strip().lower()
        try:
            validate_email(email)
            out["email"] = email
        except ValidationError:
            errors.append(field_error("email", "Enter a valid e-mail address."))
    for field in ("telegram_chat_id", "facebook_psid"):
        value = raw.get(field)
        if value not in (None, ""):
            out[field] = str(value).strip()
    if errors:
        raise ApplicationError("The request is invalid: " + "; ".join(f"{e['field']}: {e['message']}" for e in errors),
                               code="validation_error", errors=errors)
    return out


def _check_choice(field: str, value: str | None, choices: Iterable[str]) -> None:
    if value is not None and value not in set(choices):
        raise ApplicationError(f"{field}: {value!r} is not one of {', '.join(choices)}.", code="validation_error",
                               errors=[field_error(field, f"{value!r} is not a valid choice.", "invalid_choice")])


def _resolve(contact_id: int, *, lock: bool = True, follow_merge: bool = True) -> Contact:
    """The contact ``contact_id`` (following merges to the surviving contact), locked when ``lock``."""
    for _ in range(10):
        qs = Contact.objects.select_for_update() if lock else Contact.objects.all()
        contact = qs.filter(pk=contact_id).first()
        if contact is None:
            raise NotFoundError(f"No contact #{contact_id}.")
        if not follow_merge or contact.merged_into_id is None:
            return contact
        contact_id = contact.merged_into_id
    raise NotFoundError(f"No contact #{contact_id}.")


def _event(contact: Contact | int, kind: str, summary: str, data: dict | None = None, *, actor=None,
           at: datetime | None = None) -> ContactEvent:
    contact_id = contact if isinstance(contact, int) else contact.pk
    return ContactEvent.objects.create(contact_id=contact_id, kind=kind, summary=summary[:500], data=data or {},
                                       actor=actor if getattr(actor, "pk", None) else None, at=at or timezone.now())


def _identity_lookup(identities: dict[str, str]) -> Q:
    q = Q()
    for field in UNIQUE_IDENTITIES:
        value = identities.get(field)
        if value:
            q |= Q(email_l=value) if field == "email" else Q(**{field: value})
    return q


def _contacts_by_identity(identities: dict[str, str]) -> list[Contact]:
    """Contacts owning any of the unique identities; falls back to the WhatsApp number."""
    q = _identity_lookup(identities)
    found: list[Contact] = []
    if q:
        found = list(Contact.objects.alias(email_l=Lower("email")).filter(q).select_for_update().order_by("pk")[:5])
    if not found and identities.get("whatsapp"):
        wa = identities["whatsapp"]
        found = list(Contact.objects.filter(Q(phone=wa) | Q(whatsapp=wa), merged_into__isnull=True,
                                            erased_at__isnull=True).select_for_update().order_by("pk")[:5])
    return found


def _identity_conflict(contacts: Sequence[Contact], identities: dict[str, str]) -> ConflictError:
    ids = [c.pk for c in contacts]
    errors = []
    for field, value in identities.items():
        for c in contacts:
            if getattr(c, field, None) == value:
                errors.append(field_error(field, f"Belongs to contact #{c.pk}.", "identity_conflict"))
    names = " and ".join(f"#{i}" for i in ids)
    return ConflictError(f"These identities belong to two different contacts: {names}. Merge them first.",
                         code="identity_conflict", errors=errors, extra={"contact_ids": ids})


# --- upsert, create, update -------------------------------------------------------------------


def contact_upsert(
    *,
    phone: str | None = None,
    email: str | None = None,
    whatsapp: str | None = None,
    telegram_chat_id: str | int | None = None,
    telegram_username: str | None = None,
    facebook_psid: str | None = None,
    instagram: str | None = None,
    name: str | None = None,
    first_name: str | None = None,
    last_name: str | None = None,
    city: str | None = None,
    neighbourhood: str | None = None,
    segment: str | None = None,
    acquisition_channel: str | None = None,
    self_reported_source: str | None = None,
    referred_by_id: int | None = None,
    lifecycle_stage: str | None = None,
    actor: Any = None,
    consents: Sequence[str] | None = None,
    consent_how: str = "",
    create: bool = True,
) -> UpsertResult:
    """Find the contact owning any of the given identities and update it, or create one.

    - Identities are normalized first (phones to E.164, region CM; e-mail lower case); a bad
      one is a 400 naming the field. At least one of phone, email, whatsapp, telegram_chat_id,
      facebook_psid is required.
    - When the identities point to two different contacts: ``ConflictError`` (409, code
      ``identity_conflict``) naming both ids in ``contact_ids``; nothing changes.
    - Given values overwrite stored ones; ``None`` leaves a field alone. ``lifecycle_stage``
      is a manual move when ``actor`` is given, else an automatic one.
    - An identity of an erased person is refused (409 ``erased_identity``) unless ``consents``
      lists the channels the person agreed to again; those consents are then granted.
    - Safe under concurrency: the insert runs in a savepoint; when a simultaneous call created
      the same identity first, the unique constraint fails and the lookup is retried, so two
      simultaneous upserts of one phone make one contact.
    - ``create=False`` refuses to create (404) and only updates.
    """
    identities = _normalize_identities(phone=phone, email=email, whatsapp=whatsapp,
                                       telegram_chat_id=telegram_chat_id, facebook_psid=facebook_psid)
    if not identities:
        raise ApplicationError(
            "Give at least one identity: phone, email, whatsapp, telegram_chat_id or facebook_psid.",
            code="validation_error",
            errors=[field_error(None, "At least one identity is required.", "required")],
        )
    _check_choice("segment", segment, Segment.values)
    _check_choice("lifecycle_stage", lifecycle_stage, LifecycleStage.values)
    for channel in consents or ():
        _check_choice("consents", channel, Channel.values)
    profile = {
        "name": name, "first_name": first_name, "last_name": last_name, "city": city,
        "neighbourhood": neighbourhood, "segment": segment, "acquisition_channel": acquisition_channel,
        "self_reported_source": self_reported_source,
        "telegram_username": telegram_username.lstrip("@") if telegram_username else telegram_username,
        "instagram": instagram.lstrip("@") if instagram else instagram,
    }
    profile = {k: v for k, v in profile.items() if v is not None}

    last_error: IntegrityError | None = None
    for _attempt in range(3):
        try:
            with transaction.atomic():
                result = _upsert_once(identities, profile, referred_by_id=referred_by_id,
                                      lifecycle_stage=lifecycle_stage, actor=actor, create=create,
                                      consents=list(consents or ()))
                for channel in consents or ():
                    consent_grant(contact_id=result.contact.pk, channel=channel, how=consent_how or "upsert")
                return result
        except IntegrityError as exc:
            # A simultaneous call inserted the same identity first: look it up again.
            last_error = exc
            continue
    raise ConflictError("The contact changed while it was saved; try again.", code="concurrent_update") from last_error


def _upsert_once(identities: dict[str, str], profile: dict[str, Any], *, referred_by_id: int | None,
                 lifecycle_stage: str | None, actor: Any, create: bool, consents: list[str]) -> UpsertResult:
    found = _contacts_by_identity(identities)
    if len(found) > 1:
        raise _identity_conflict(found, identities)
    digests = _contact_digests(identities)
    erased = set(ErasedIdentity.objects.filter(digest__in=digests.values()).values_list("digest", flat=True))
    if erased:
        if not consents:
            fields = [f for f, d in digests.items() if d in erased]
            raise ConflictError(
                "This person asked to be forgotten. Record their consent again (consents) to re-create them.",
                code="erased_identity",
                errors=[field_error(f, "Identity of an erased person.", "erased_identity") for f in fields],
            )
        ErasedIdentity.objects.filter(digest__in=erased).delete()
    if referred_by_id is not None and not Contact.objects.filter(pk=referred_by_id).exists():
        raise ApplicationError(f"No contact #{referred_by_id} to be referred by.", code="validation_error",
                               errors=[field_error("referred_by_id", "No such contact.", "does_not_exist")])

    if not found:
        if not create:
            raise NotFoundError("No contact has these identities.")
        values = dict(identities)
        if "whatsapp" in values and "phone" not in values:
            values["phone"] = values["whatsapp"]  # the phone constraint then guards WhatsApp-only contacts too
        contact = Contact(**values, **profile, referral_code=referral_code_new(), referred_by_id=referred_by_id)
        if lifecycle_stage:
            contact.lifecycle_stage = lifecycle_stage
            contact.lifecycle_stage_locked = actor is not None
        contact.save()
        return UpsertResult(contact, True)

    contact = found[0]
    if contact.merged_into_id or contact.erased_at:  # identities are cleared on both; defensive
        raise ConflictError(f"Contact #{contact.pk} was merged or erased.", code="identity_conflict")
    changed = []
    for field, value in {**identities, **profile}.items():
        if getattr(contact, field) != value:
            setattr(contact, field, value)
            changed.append(field)
    if referred_by_id is not None and referred_by_id != contact.pk and contact.referred_by_id != referred_by_id:
        contact.referred_by_id = referred_by_id
        changed.append("referred_by")
    if changed:
        contact.save(update_fields=[*changed, "updated_at"])
        moved = [f for f in changed if f in IDENTITY_FIELDS]
        if moved:
            _event(contact, "identities_changed", "Identities updated: " + ", ".join(moved), {"fields": moved},
                   actor=actor)
    if lifecycle_stage and lifecycle_stage != contact.lifecycle_stage:
        contact = contact_set_lifecycle_stage(contact_id=contact.pk, stage=lifecycle_stage, reason="upsert",
                                              actor=actor, automatic=actor is None)
    return UpsertResult(contact, False)


def contact_create(*, actor: Any = None, **fields: Any) -> Contact:
    """Create a contact; 409 (``already_exists``, with ``contact_ids``) when one of its identities is taken.

    Accepts the keyword arguments of ``contact_upsert``.
    """
    identities = _normalize_identities(**{k: fields.get(k) for k in IDENTITY_FIELDS})
    with transaction.atomic():
        q = _identity_lookup(identities)
        if q:
            existing = list(Contact.objects.alias(email_l=Lower("email")).filter(q).values_list("pk", flat=True)[:5])
            if existing:
                raise ConflictError(f"A contact with these identities exists: #{existing[0]}. Use upsert to update it.",
                                    code="already_exists", extra={"contact_ids": existing})
        return contact_upsert(actor=actor, **fields).contact


def contact_update(*, contact_id: int, actor: Any = None, tags: Sequence[str] | None = None,
                   lifecycle_stage: str | None = None, lifecycle_stage_locked: bool | None = None,
                   verified: bool = False, **fields: Any) -> Contact:
    """Staff edit of a contact: identities (normalized, 409 when taken), profile, owner, tags.

    ``tags`` replaces the set of tags; ``lifecycle_stage`` is a manual move (it locks the stage
    against automatic moves); ``lifecycle_stage_locked=False`` hands the stage back to automation;
    ``verified=True`` stamps ``last_verified_at``.
    """
    with transaction.atomic():
        contact = _resolve(contact_id, follow_merge=False)
        if contact.merged_into_id or contact.erased_at:
            raise ConflictError(f"Contact #{contact.pk} was merged or erased; it cannot be edited.")
        id_fields = {k: fields.pop(k) for k in list(fields) if k in IDENTITY_FIELDS}
        identities = _normalize_identities(**id_fields)
        for field in id_fields:
            if id_fields[field] in (None, ""):
                identities[field] = None  # type: ignore[assignment]  # explicit clear
        q = _identity_lookup({k: v for k, v in identities.items() if v})
        if q:
            others = list(Contact.objects.alias(email_l=Lower("email")).filter(q).exclude(pk=contact.pk)
                          .values_list("pk", flat=True)[:5])
            if others:
                raise _identity_conflict([contact, *Contact.objects.filter(pk__in=others)], identities)
        _check_choice("segment", fields.get("segment"), Segment.values)
        _check_choice("preferred_channel", fields.get("preferred_channel") or None, Channel.values)
        for field, value in {**identities, **fields}.items():
            setattr(contact, field, value)
        if "referred_by_id" in fields and fields["referred_by_id"] == contact.pk:
            raise ApplicationError("A contact cannot refer themselves.", code="validation_error",
                                   errors=[field_error("referred_by_id", "Cannot be the contact itself.")])
        if verified:
            contact.last_verified_at = timezone.now()
        if lifecycle_stage_locked is not None:
            contact.lifecycle_stage_locked = lifecycle_stage_locked
        try:
            with transaction.atomic():
                contact.save()
        except IntegrityError:
            raise ConflictError("Another contact took one of these identities meanwhile; try again.",
                                code="identity_conflict") from None
        if tags is not None:
            contact_tags_set(contact_id=contact.pk, tags=tags)
        if lifecycle_stage is not None:
            contact = contact_set_lifecycle_stage(contact_id=contact.pk, stage=lifecycle_stage,
                                                  reason="set by staff", actor=actor, automatic=False)
        return contact


def contact_tags_set(*, contact_id: int, tags: Sequence[str]) -> list[str]:
    """Replace the tags of a contact (tags are created on first use)."""
    names = sorted({t.strip()[:60] for t in tags if t and t.strip()})
    with transaction.atomic():
        contact = _resolve(contact_id)
        Tag.objects.bulk_create([Tag(name=n) for n in names], ignore_conflicts=True)
        contact.tags.set(Tag.objects.filter(name__in=names))
    return names


def contact_touch_seen(*, contact_id: int, at: datetime | None = None) -> None:
    """Stamp ``last_seen_at`` (an inbound message, a visit). Never moves it backwards."""
    at = at or timezone.now()
    Contact.objects.filter(pk=contact_id).filter(Q(last_seen_at__isnull=True) | Q(last_seen_at__lt=at)).update(
        last_seen_at=at)


# --- notes, events, lifecycle ----------------------------------------------------------------


def contact_note_add(*, contact_id: int, text: str, author: Any = None) -> ContactNote:
    """Add a staff note (tastes, habits, after-sale requests); it appears on the timeline."""
    text = (text or "").strip()
    if not text:
        raise ApplicationError("A note needs a text.", code="validation_error",
                               errors=[field_error("text", "This field may not be blank.", "blank")])
    with transaction.atomic():
        contact = _resolve(contact_id)
        note = ContactNote.objects.create(contact=contact, author=author if getattr(author, "pk", None) else None,
                                          text=text)
        _event(contact, "note", text[:200], {"note_id": note.pk}, actor=author, at=note.created_at)
    return note


def contact_event_record(*, contact_id: int, kind: str, summary: str, data: dict | None = None,
                         at: datetime | None = None) -> ContactEvent:
    """Record a generic event on the contact's own timeline (for apps without their own source)."""
    with transaction.atomic():
        contact = _resolve(contact_id, lock=False)
        return _event(contact, kind[:50], summary, data, at=at)


def contact_set_lifecycle_stage(*, contact_id: int, stage: str, reason: str, actor: Any = None,
                                automatic: bool = True) -> Contact:
    """Move a contact to ``stage`` and record the move on the timeline.

    An automatic move (lead scoring, first order…) does nothing when staff overrode the
    stage (``lifecycle_stage_locked``). A manual move (``automatic=False``) sets that lock.
    Moving to the current stage records nothing. Idempotent.
    """
    _check_choice("stage", stage, LifecycleStage.values)
    with transaction.atomic():
        contact = _resolve(contact_id)
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
            _event(contact, "lifecycle_changed", f"Stage {old} → {stage} ({reason})",
                   {"from": old, "to": stage, "reason": reason, "automatic": automatic}, actor=actor)
    return contact


# --- consent ------------------------------------------------------------------------------------


def consent_grant(*, contact_id: int, channel: str, how: str) -> Consent:
    """Record that the contact agreed to messages on ``channel`` (``how``: "bot /start", "form"...).

    A fresh explicit consent also lifts a global opt-out and an earlier "unreachable" mark on
    that channel: the person came back by themselves.
    """
    _check_choice("channel", channel, Channel.values)
    now = timezone.now()
    with transaction.atomic():
        contact = _resolve(contact_id)
        if contact.erased_at:
            raise ConflictError(f"Contact #{contact.pk} was erased.", code="erased")
        consent, _ = Consent.objects.get_or_create(contact=contact, channel=channel)
        consent.granted_at, consent.granted_how = now, how[:200]
        consent.revoked_at, consent.revoked_how = None, ""
        consent.unreachable_at, consent.unreachable_reason = None, ""
        consent.save()
        if contact.opted_out_at:
            contact.opted_out_at = None
            contact.save(update_fields=["opted_out_at", "updated_at"])
        _event(contact, "consent_granted", f"Consent granted on {channel} ({how})", {"channel": channel, "how": how})
    return consent


def consent_revoke(*, contact_id: int, channel: str, how: str) -> Consent:
    """Record that the contact withdrew consent on ``channel``. Idempotent."""
    _check_choice("channel", channel, Channel.values)
    with transaction.atomic():
        contact = _resolve(contact_id)
        consent, _ = Consent.objects.get_or_create(contact=contact, channel=channel)
        if consent.revoked_at is None:
            consent.revoked_at, consent.revoked_how = timezone.now(), how[:200]
            consent.save()
            _event(contact, "consent_revoked", f"Consent revoked on {channel} ({how})",
                   {"channel": channel, "how": how})
    return consent


def contact_opt_out(*, contact_id: int, how: str) -> Contact:
    """Global opt-out ("STOP"): no marketing on any channel; every consent is revoked. Idempotent."""
    with transaction.atomic():
        contact = _resolve(contact_id)
        now = timezone.now()
        Consent.objects.filter(contact=contact, revoked_at__isnull=True).update(revoked_at=now, revoked_how=how[:200])
        if contact.opted_out_at is None:
            contact.opted_out_at = now
            contact.save(update_fields=["opted_out_at", "updated_at"])
            _event(contact, "opted_out", f"Opted out of all messages ({how})", {"how": how})
    return contact


def contact_mark_unreachable(*, contact_id: int, channel: str, reason: str) -> Consent:
    """The provider said this identity cannot be reached (bot blocked, no such chat): stop using it."""
    _check_choice("channel", channel, Channel.values)
    with transaction.atomic():
        contact = _resolve(contact_id)
        consent, _ = Consent.objects.get_or_create(contact=contact, channel=channel)
        if consent.unreachable_at is None:
            consent.unreachable_at, consent.unreachable_reason = timezone.now(), reason[:200]
            consent.save()
            _event(contact, "unreachable", f"Unreachable on {channel}: {reason}", {"channel": channel,
                                                                                   "reason": reason})
    return consent


# --- merge -------------------------------------------------------------------------------------------


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
    Identities the target lacks move to it; the target keeps its own when both have one, and
    the source's is written in a note. Blank profile fields are filled from the source; a
    global opt-out of either side wins. The source stays as a tombstone (``merged_into``,
    identities cleared) so that old references still resolve; a ``ContactMerge`` row keeps a
    snapshot of it and the counts moved, and a ``merged`` event goes on the timeline.
    Both rows are locked (in id order, so two crossing merges cannot deadlock).
    """
    if target_id == source_id:
        raise ApplicationError("A contact cannot be merged into itself.", code="validation_error",
                               errors=[field_error("source_id", "Must differ from the target.")])
    with transaction.atomic():
        rows = {c.pk: c for c in Contact.objects.select_for_update().filter(pk__in=[target_id, source_id])
                .order_by("pk")}
        for wanted in (target_id, source_id):
            if wanted not in rows:
                raise NotFoundError(f"No contact #{wanted}.")
        target, source = rows[target_id], rows[source_id]
        for c in (target, source):
            if c.merged_into_id:
                raise ConflictError(f"Contact #{c.pk} was already merged into #{c.merged_into_id}.",
                                    code="already_merged")
            if c.erased_at:
                raise ConflictError(f"Contact #{c.pk} was erased.", code="erased")
        snapshot = _snapshot(source)
        now = timezone.now()

        kept_aside = []
        moving: dict[str, Any] = {}
        for field in (*IDENTITY_FIELDS, "telegram_username", "instagram"):
            sv, tv = getattr(source, field), getattr(target, field)
            if sv and not tv:
                moving[field] = sv
            elif sv and tv and sv != tv:
                kept_aside.append(f"{field}: {sv}")
        # Free the unique identities on the source before the target takes them.
        for field in IDENTITY_FIELDS:
            setattr(source, field, None)
        source.merged_into, source.merged_at = target, now
        source.save()

        for field, value in moving.items():
            setattr(target, field, value)
        for field in ("name", "first_name", "last_name", "salutation", "city", "neighbourhood", "birth_date",
                      "acquisition_channel", "self_reported_source", "preferred_channel", "preferred_hours_start",
                      "preferred_hours_end", "owner_id"):
            if not getattr(target, field) and getattr(source, field):
                setattr(target, field, getattr(source, field))
        if target.segment == Segment.UNKNOWN and source.segment != Segment.UNKNOWN:
            target.segment = source.segment
        if (not target.lifecycle_stage_locked
                and _STAGE_RANK.get(source.lifecycle_stage, 0) > _STAGE_RANK.get(target.lifecycle_stage, 0)):
            target.lifecycle_stage = source.lifecycle_stage
        if source.referred_by_id and not target.referred_by_id and source.referred_by_id != target.pk:
            target.referred_by_id = source.referred_by_id
        if target.referred_by_id == source.pk:
            target.referred_by_id = None
        if source.opted_out_at and not target.opted_out_at:
            target.opted_out_at = source.opted_out_at
        for field in ("last_seen_at", "last_verified_at"):
            values = [v for v in (getattr(target, field), getattr(source, field)) if v]
            setattr(target, field, max(values) if values else None)
        target.save()

        moved: dict[str, int] = {}
        target.tags.add(*source.tags.all())
        moved["tags"] = source.tags.count()
        source.tags.clear()
        moved["notes"] = ContactNote.objects.filter(contact=source).update(contact=target)
        moved["events"] = ContactEvent.objects.filter(contact=source).update(contact=target)
        moved["tasks"] = FollowUpTask.objects.filter(contact=source).update(contact=target)
        moved["referrals"] = Contact.objects.filter(referred_by=source).exclude(pk=target.pk).update(
            referred_by=target)
        Contact.objects.filter(merged_into=source).update(merged_into=target)
        ContactMerge.objects.filter(target=source).update(target=target)

        target_consents = {c.channel: c for c in Consent.objects.filter(contact=target)}
        moved["consents"] = 0
        for consent in Consent.objects.filter(contact=source):
            mine = target_consents.get(consent.channel)
            if mine is None:
                consent.contact = target
                consent.save()
            else:
                def last_decision(c: Consent) -> datetime:
                    return max(d for d in (c.granted_at, c.revoked_at, c.unreachable_at,
                                           datetime.min.replace(tzinfo=UTC)) if d)
                if last_decision(consent) > last_decision(mine):
                    for f in ("granted_at", "granted_how", "revoked_at", "revoked_how", "unreachable_at",
                              "unreachable_reason"):
                        setattr(mine, f, getattr(consent, f))
                    mine.save()
                consent.delete()
            moved["consents"] += 1

        for relation in contact_relations():
            manager = relation.model._default_manager
            try:
                with transaction.atomic():
                    count = manager.filter(**{relation.field_name: source.pk}).update(**{relation.field_name: target.pk})
            except IntegrityError:
                raise ConflictError(f"Cannot move the {relation.label} of #{source.pk} to #{target.pk}: "
                                    "it would break one of their unique rules.", code="merge_conflict") from None
            moved[relation.label] = count

        if kept_aside:
            ContactNote.objects.create(contact=target, author=actor if getattr(actor, "pk", None) else None,
                                       text=f"Kept from merged contact #{source.pk}: " + "; ".join(kept_aside))
        merge = ContactMerge.objects.create(target=target, source=source, source_snapshot=snapshot, moved=moved,
                                            actor=actor if getattr(actor, "pk", None) else None)
        _event(target, "merged", f"Contact #{source.pk} ({source.display_name}) merged into this one",
               {"source_id": source.pk, "merge_id": merge.pk, "moved": moved}, actor=actor)
    return merge


# --- erase ---------------------------------------------------------------------------------------------


def contact_erase(*, contact_id: int, actor: Any = None) -> Contact:
    """Right to be forgotten: remove the personal data of a contact, keep what accounting needs.

    - One-way hashes of each identity go to ``ErasedIdentity`` so that a later import of an old
      file or an upsert does not re-create the person unless they consent again.
    - Registered erasers of other apps run (orders keep amounts, drop names and addresses).
    - Notes, timeline events, tasks, tags and merge snapshots are deleted; consents revoked; the
      row keeps its id, segment and stage (no personal data) so that orders still add up.
    - An ``erased`` event (without personal data) records it. Idempotent.
    """
    with transaction.atomic():
        contact = _resolve(contact_id, follow_merge=False)
        if contact.merged_into_id:
            raise ConflictError(f"Contact #{contact.pk} was merged into #{contact.merged_into_id}: erase that one.",
                                code="already_merged")
        if contact.erased_at:
            return contact
        now = timezone.now()
        identities = {f: getattr(contact, f) for f in IDENTITY_FIELDS if getattr(contact, f)}
        ErasedIdentity.objects.bulk_create(
            [ErasedIdentity(digest=d, kind=_DIGEST_KIND[f]) for f, d in _contact_digests(identities).items()],
            ignore_conflicts=True,
        )
        for relation in contact_relations():
            if relation.eraser is not None:
                relation.eraser(contact.pk)
        ContactNote.objects.filter(contact=contact).delete()
        ContactEvent.objects.filter(contact=contact).delete()
        FollowUpTask.objects.filter(contact=contact).delete()
        ContactMerge.objects.filter(target=contact).update(source_snapshot={})
        Consent.objects.filter(contact=contact, revoked_at__isnull=True).update(revoked_at=now, revoked_how="erased")
        Consent.objects.filter(contact=contact).update(granted_how="", unreachable_reason="")
        contact.tags.clear()
        anonymous: dict[str, Any] = {
            "name": "", "first_name": "", "last_name": "", "salutation": "", "telegram_username": "",
            "instagram": "", "city": "", "neighbourhood": "", "birth_date": None, "self_reported_source": "",
            "preferred_hours_start": None, "preferred_hours_end": None, "owner": None, "last_seen_at": None,
            **dict.fromkeys(IDENTITY_FIELDS),
        }
        Contact.objects.filter(merged_into=contact).update(**anonymous)
        for field, value in anonymous.items():
            setattr(contact, field, value)
        contact.referral_code = referral_code_new()
        contact.opted_out_at = contact.opted_out_at or now
        contact.erased_at = now
        contact.save()
        _event(contact, "erased", "Personal data erased at the person's request",
               {"by": getattr(actor, "pk", None)}, at=now)
    return contact


# --- follow-up tasks -----------------------------------------------------------------------------------


def task_create(*, contact_id: int, kind: str, due_at: datetime, owner: Any = None, note: str = "",
                created_by: Any = None) -> FollowUpTask:
    """Create a follow-up task (call, visit, send a sample) on a contact; owner defaults to the creator."""
    _check_choice("kind", kind, FollowUpTask.Kind.values)
    with transaction.atomic():
        contact = _resolve(contact_id, lock=False)
        task = FollowUpTask(contact=contact, kind=kind, due_at=due_at, note=note,
                            owner=owner or created_by, created_by=created_by)
        task.full_clean()
        task.save()
    return task


def task_update(*, task_id: int, outcome: str | None = None, done: bool | None = None,
                due_at: datetime | None = None, owner: Any = None, note: str | None = None,
                kind: str | None = None) -> FollowUpTask:
    """Update a task; ``done=True`` stamps ``done_at`` (once) and records the outcome on the timeline."""
    _check_choice("kind", kind, FollowUpTask.Kind.values)
    with transaction.atomic():
        task = FollowUpTask.objects.select_for_update().filter(pk=task_id).first()
        if task is None:
            raise NotFoundError(f"No task #{task_id}.")
        for field, value in (("outcome", outcome), ("due_at", due_at), ("note", note), ("kind", kind),
                             ("owner", owner)):
            if value is not None:
                setattr(task, field, value)
        finished = done is True and task.done_at is None
        if done is True and task.done_at is None:
            task.done_at = timezone.now()
        elif done is False:
            task.done_at = None
        task.save()
        if finished:
            _event(task.contact_id, "task_done", f"{task.get_kind_display()} done: {task.outcome or '-'}"[:500],
                   {"task_id": task.pk})
    return task


# --- CSV import ---------------------------------------------------------------------------------------

IMPORT_MAX_BYTES = 50 * 1024 * 1024
# Rows per transaction of the row-by-row path (SQLite, and the rare rows the SQL path hands
# back): 1,000 and 2,000 give the same throughput; smaller batches lose ~20% to round trips.
IMPORT_BATCH_SIZE = 2000
# Rows per transaction of the set-based path on PostgreSQL. Each batch costs a fixed set of
# statements whatever its size, so bigger is faster (bench/import_contacts.py, 100,000 rows:
# 4.1 s with 50,000 per batch, 5.0 s with 25,000); progress still moves every 2 s or so.
IMPORT_SQL_BATCH_SIZE = 50000
IMPORT_STALLED_AFTER = timedelta(minutes=2)
# A batch that failed this many times in a row (an unexpected error each time, not a killed
# worker) fails the job instead of being retried forever by the stalled-job sweep.
IMPORT_MAX_ATTEMPTS = 5


def import_job_create(*, file_name: str, data: bytes, created_by: Any = None,
                      consent_given: bool = False) -> ImportJob:
    """Store an uploaded CSV as an ``ImportJob`` and queue it (after commit) for a worker.

    Detects the encoding (UTF-8 with or without BOM, else Windows-1252) and the separator,
    maps French or English headers, and refuses (400) a file without a phone, WhatsApp or
    e-mail column. ``consent_given`` states that the people in the file consented again, so
    identities of erased persons are accepted. The file is read as bytes, chunk by chunk,
    never decoded whole (memory stays flat whatever its size).
    """
    if not data:
        raise ApplicationError("The file is empty.", code="validation_error",
                               errors=[field_error("file", "The file is empty.", "empty")])
    if len(data) > IMPORT_MAX_BYTES:
        raise ApplicationError("The file is larger than 50 MB; split it.", code="validation_error",
                               errors=[field_error("file", "At most 50 MB.", "too_large")])
    encoding = csv_io.detect_encoding(data)
    sample = csv_io.sample(data, encoding)
    delimiter = csv_io.sniff_delimiter(sample)
    first = csv_io.read_header(sample, delimiter)
    columns, ignored = csv_io.map_headers(first)
    if not set(columns.values()) & csv_io.IDENTITY_COLUMNS:
        raise ApplicationError(
            "The file has no phone, WhatsApp or e-mail column. Recognised headers include: nom, téléphone, "
            "whatsapp, email, ville, quartier, segment, source, tags (or name, phone, city…).",
            code="validation_error", errors=[field_error("file", f"Headers found: {', '.join(first)[:300]}", "headers")],
        )
    try:
        total = csv_io.count_data_rows_bytes(data, encoding, delimiter)
    except csv.Error as exc:  # e.g. a lone carriage return inside a cell (old Mac line endings)
        raise ApplicationError(f"The file cannot be read as CSV: {exc}.", code="validation_error",
                               errors=[field_error("file", f"Not a readable CSV file: {exc}.", "csv")]) from None
    job = ImportJob.objects.create(
        created_by=created_by if getattr(created_by, "pk", None) else None, file_name=file_name[:255], data=data,
        encoding=encoding, delimiter=delimiter, columns={**columns, "_header": first, "_ignored": ignored},
        consent_given=consent_given, total_rows=total,
    )
    job_id = job.pk

    def kick() -> None:
        from workers.tasks.contacts import import_job_run as task

        task.delay(job_id)

    transaction.on_commit(kick)
    return job


def _claim_job(job_id: int) -> ImportJob | None:
    """Mark the job running (and stamp it) unless it is unknown, done or failed."""
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().defer("data").filter(pk=job_id).first()
        if job is None or job.status in (ImportJob.Status.DONE, ImportJob.Status.FAILED):
            return None
        now = timezone.now()
        job.status = ImportJob.Status.RUNNING
        job.started_at = job.started_at or now
        job.heartbeat_at = now
        job.save(update_fields=["status", "started_at", "heartbeat_at"])
        return job


@dataclass
class _ImportBatch:
    """Consecutive data rows ``start + 1 … end`` of a file (row index 1 is the line after the header).

    Either ``lines``: the rows as they are in a plain file, one line each, already escaped for
    PostgreSQL's ``COPY`` text format; or ``rows``: ``(index, cells)`` parsed by the csv module.
    """

    start: int
    end: int
    lines: bytes | None = None
    rows: list[tuple[int, list[str]]] | None = None


_NEWLINE = re.compile(b"\n")


def _import_batches(job: ImportJob, data: bytes, start: int, batch_size: int) -> Iterator[_ImportBatch]:
    """The rows after the cursor ``start``, in batches of ``batch_size``.

    On PostgreSQL a plain file (no quotes: each line is a row) is cut into lines without the
    csv module, and each batch goes to ``COPY`` as it is: the per-row work of Python is nil.
    Any other file is parsed by the csv module, streaming from the bytes.
    """
    if connection.vendor == "postgresql" and csv_io.is_plain(data):
        yield from _import_line_batches(data, job.encoding, start, batch_size)
        return
    batch: list[tuple[int, list[str]]] = []
    for index, cells in csv_io.iter_data_rows_bytes(data, job.encoding, job.delimiter, start=start):
        batch.append((index, cells))
        if len(batch) >= batch_size:
            yield _ImportBatch(start=batch[0][0] - 1, end=batch[-1][0], rows=batch)
            batch = []
    if batch:
        yield _ImportBatch(start=batch[0][0] - 1, end=batch[-1][0], rows=batch)


def _import_line_batches(data: bytes, encoding: str, start: int, batch_size: int) -> Iterator[_ImportBatch]:
    """Batches of a plain file as ``COPY`` text: re-encoded to UTF-8, ``\\r\\n`` made ``\\n``,
    backslashes and tabs escaped (the only characters ``COPY`` would read otherwise; quotes,
    NUL and lone carriage returns do not occur in a plain file)."""
    newlines = _NEWLINE.finditer(data, csv_io.body_offset(data, encoding))
    # The header line, then the rows already committed.
    match = next(itertools.islice(newlines, start, None), None)
    if match is None:
        return
    pos = match.end()
    index = start
    while pos < len(data):
        match = next(itertools.islice(newlines, batch_size - 1, None), None)
        end = len(data) if match is None else match.end()
        chunk = data[pos:end]
        count = csv_io.line_count(chunk)
        if encoding != "utf-8-sig":
            chunk = chunk.decode(encoding).encode()
        chunk = chunk.replace(b"\r\n", b"\n").replace(b"\\", b"\\\\").replace(b"\t", b"\\t")
        if not chunk.endswith(b"\n"):
            chunk += b"\n"
        yield _ImportBatch(start=index, end=index + count, lines=chunk)
        index += count
        pos = end


def import_job_run(*, job_id: int, batch_size: int | None = None, max_batches: int | None = None) -> ImportJob | None:
    """Process an import job from its cursor to the end, one transaction per batch.

    Each batch commits its contacts, its row errors and the new cursor (``rows_done``)
    together, under a lock of the job row; a batch whose start no longer matches the cursor
    (another worker got there first) is not applied. So a worker killed mid-way, a task
    delivered twice or two workers on one job never duplicate a row, and a re-run resumes.
    A batch that raises is counted (``attempts``); after ``IMPORT_MAX_ATTEMPTS`` failures in
    a row the job is marked failed with the error, instead of being retried forever.
    ``max_batches`` stops after that many batches (tests use it to simulate a killed worker).
    Returns the job, or None when there is nothing to do (unknown, done or failed job).
    """
    job = _claim_job(job_id)
    if job is None:
        return None
    if batch_size is None:
        batch_size = IMPORT_SQL_BATCH_SIZE if connection.vendor == "postgresql" else IMPORT_BATCH_SIZE
    data = _import_file(job_id)
    columns = {k: v for k, v in job.columns.items() if not k.startswith("_")}
    header = job.columns.get("_header", [])
    for batches, batch in enumerate(_import_batches(job, data, job.rows_done, batch_size), start=1):
        try:
            applied = _import_commit_batch(job_id, batch, columns, header)
        except Exception as exc:
            _import_record_failure(job_id, batch.start, exc)
            raise
        if not applied:
            return ImportJob.objects.defer("data").get(pk=job_id)
        if max_batches is not None and batches >= max_batches:
            return ImportJob.objects.defer("data").get(pk=job_id)
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().defer("data").get(pk=job_id)
        if job.status == ImportJob.Status.RUNNING:
            job.status = ImportJob.Status.DONE
            job.finished_at = timezone.now()
            job.save(update_fields=["status", "finished_at"])
    return job


def _import_file(job_id: int) -> bytes:
    """The stored file of a job. PostgreSQL sends it in binary: the text protocol turns a bytea into hex, so a
    50 MB file would arrive as 100 MB of text beside its 50 MB of bytes (the import's peak of memory)."""
    if connection.vendor != "postgresql":
        stored = ImportJob.objects.filter(pk=job_id).values_list("data", flat=True).get()
        return stored if isinstance(stored, bytes) else bytes(stored)
    import psycopg

    connection.ensure_connection()
    # Django's cursors bind parameters on the client, which rules out binary results: a plain psycopg cursor
    # on the same connection (and transaction), its errors turned into Django's (a lost connection is marked
    # unusable, as through any Django cursor).
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as raw:
        raw.execute(f"SELECT data FROM {ImportJob._meta.db_table} WHERE id = %s", [job_id], binary=True)
        row = raw.fetchone()
    if row is None:
        raise ImportJob.DoesNotExist(f"import job {job_id} is gone")
    return bytes(row[0])


def _import_record_failure(job_id: int, start: int, exc: Exception) -> None:
    """Count a failed attempt at the batch after ``start``; fail the job after too many."""
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().defer("data").filter(pk=job_id).first()
        if job is None or job.status != ImportJob.Status.RUNNING or job.rows_done != start:
            return
        job.attempts += 1
        message = f"{type(exc).__name__}: {exc}"[:1000]
        if job.attempts >= IMPORT_MAX_ATTEMPTS:
            job.status = ImportJob.Status.FAILED
            job.finished_at = timezone.now()
            job.failure = (f"The rows after row {start + 1} failed {job.attempts} times in a row; the import "
                           f"stopped there (rows before it are imported). Last error: {message}")
            logger.error("import job %s failed: %s", job_id, job.failure)
        else:
            job.failure = f"Attempt {job.attempts} of {IMPORT_MAX_ATTEMPTS} failed: {message}"
        job.save(update_fields=["attempts", "status", "finished_at", "failure"])


def _import_commit_batch(job_id: int, batch: _ImportBatch, columns: dict[str, str], header: list[str]) -> bool:
    """Apply one batch and advance the cursor; False when the job moved on without us."""
    for attempt in range(3):
        try:
            with transaction.atomic():
                job = ImportJob.objects.select_for_update().defer("data").get(pk=job_id)
                if job.status != ImportJob.Status.RUNNING or job.rows_done != batch.start:
                    return False
                counts = _import_apply_batch(job, batch, columns, header)
                job.rows_done = batch.end
                job.created_count += counts["created"]
                job.updated_count += counts["updated"]
                job.unchanged_count += counts["unchanged"]
                job.error_count += counts["errors"]
                job.heartbeat_at = timezone.now()
                job.attempts = 0
                job.save(update_fields=["rows_done", "created_count", "updated_count", "unchanged_count",
                                        "error_count", "heartbeat_at", "attempts"])
                return True
        except IntegrityError:
            # Someone created one of these identities while we worked: the batch rolled back
            # as a whole; the retry sees their rows and updates instead of inserting.
            if attempt == 2:
                raise
    return False


def _import_apply_batch(job: ImportJob, batch: _ImportBatch, columns: dict[str, str],
                        header: list[str]) -> dict[str, int]:
    """Write one batch: set-based SQL on PostgreSQL, row by row in Python elsewhere (SQLite)."""
    if connection.vendor == "postgresql":
        return _import_apply_sql(job, batch, columns, header)
    return _import_apply_rows(job, batch.rows or [], columns, header)


def _import_apply_rows(job: ImportJob, batch: list[tuple[int, list[str]]], columns: dict[str, str],
                       header: list[str]) -> dict[str, int]:
    """Dedupe and write one batch with a handful of queries (no query per row).

    A row matches an existing contact (or an earlier row of the file) by phone/WhatsApp or
    e-mail; a row whose phone and e-mail belong to two contacts is reported, not applied.
    """
    errors: list[ImportRowError] = []
    parsed: list[tuple[int, dict[str, Any]]] = []
    for index, cells in batch:
        line = index + 1
        if not any(c.strip() for c in cells):
            continue  # blank line
        values, problems = csv_io.parse_row(cells, columns, header)
        if problems:
            errors.extend(ImportRowError(job=job, row=line, column=col[:100], message=msg[:500]) for col, msg in problems)
            continue
        if not (values.get("phone") or values.get("whatsapp") or values.get("email")):
            errors.append(ImportRowError(job=job, row=line, column="", message=csv_io.NO_IDENTITY))
            continue
        if "whatsapp" in values and "phone" not in values:
            values["phone"] = values["whatsapp"]
        parsed.append((line, values))

    # Erased persons: refused unless the uploader stated they consented again.
    digests: dict[str, list[int]] = {}
    for line, values in parsed:
        for field in ("phone", "whatsapp", "email"):
            if values.get(field):
                digests.setdefault(identity_digest(field, values[field]), []).append(line)
    erased = set(ErasedIdentity.objects.filter(digest__in=list(digests)).values_list("digest", flat=True))
    if erased:
        if job.consent_given:
            ErasedIdentity.objects.filter(digest__in=erased).delete()
        else:
            refused = {line for d in erased for line in digests[d]}
            for line in sorted(refused):
                errors.append(ImportRowError(job=job, row=line, column="", message=csv_io.FORGOTTEN))
            parsed = [(line, v) for line, v in parsed if line not in refused]

    phones = {v["phone"] for _, v in parsed if v.get("phone")}
    emails = {v["email"] for _, v in parsed if v.get("email")}
    fields = sorted({f for _, v in parsed for f in v} - {"tags", "note"} | {"phone", "email", "segment"})
    index_by: dict[tuple[str, str], dict[str, Any]] = {}
    for row in _import_existing(phones, emails, fields):
        if row["phone"]:
            index_by[("phone", row["phone"])] = row
        if row["email"]:
            index_by[("email", row["email"].lower())] = row

    to_create: list[dict[str, Any]] = []
    to_update: dict[int, dict[str, Any]] = {}
    changed_fields: set[str] = set()
    tags_for: list[tuple[dict[str, Any], list[str]]] = []
    notes_for: list[tuple[dict[str, Any], str]] = []
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    for line, values in parsed:
        keys = [("phone", values["phone"])] if values.get("phone") else []
        if values.get("email"):
            keys.append(("email", values["email"]))
        hits = {id(c): c for k in keys if (c := index_by.get(k)) is not None}
        if len(hits) > 1:
            names = " and ".join(f"#{c['pk']}" if c.get("pk") else "another row of this file" for c in hits.values())
            errors.append(ImportRowError(job=job, row=line, column="",
                                         message=csv_io.TWO_CONTACTS.format(names)))
            continue
        tags = values.pop("tags", None)
        note = values.pop("note", None)
        if hits:
            contact = next(iter(hits.values()))
            changed = []
            for field, value in values.items():
                current = contact.get(field)
                # An import fills what is missing and never overwrites what is there (staff edits
                # win over an old file); so the first row of a person wins and a re-import is a no-op.
                if current not in (None, "") and not (field == "segment" and current == Segment.UNKNOWN):
                    continue
                if current != value:
                    contact[field] = value
                    changed.append(field)
            for key in keys:
                index_by.setdefault(key, contact)
            if not contact.get("pk"):
                counts["unchanged"] += 1  # a duplicate line of the same file
            elif changed:
                to_update[contact["pk"]] = contact
                changed_fields.update(changed)
                counts["updated"] += 1
            else:
                counts["unchanged"] += 1
        else:
            contact = {"acquisition_channel": "import", **values, "referral_code": referral_code_new()}
            to_create.append(contact)
            for key in keys:
                index_by[key] = contact
            counts["created"] += 1
            if note:
                notes_for.append((contact, note))
        if tags:
            tags_for.append((contact, tags))

    if to_create:
        _import_insert(to_create)
    if to_update:
        update_fields = sorted(changed_fields)
        objs = [Contact(pk=pk, **{f: row.get(f) for f in update_fields}) for pk, row in to_update.items()]
        Contact.objects.bulk_update(objs, update_fields, batch_size=1000)
    if tags_for:
        tag_names = {n for _, tags in tags_for for n in tags}
        Tag.objects.bulk_create([Tag(name=n) for n in tag_names], ignore_conflicts=True)
        tag_ids = dict(Tag.objects.filter(name__in=tag_names).values_list("name", "pk"))
        through = Contact.tags.through
        Contact.tags.through.objects.bulk_create(
            [through(contact_id=c["pk"], tag_id=tag_ids[n]) for c, tags in tags_for for n in tags],
            ignore_conflicts=True,
        )
    if notes_for:
        author = job.created_by_id
        ContactNote.objects.bulk_create([ContactNote(contact_id=c["pk"], author_id=author, text=t) for c, t in notes_for])
    if errors:
        ImportRowError.objects.bulk_create(errors)
    counts["errors"] = len({e.row for e in errors})
    return counts


def _import_existing(phones: set[str], emails: set[str], fields: list[str]) -> list[dict[str, Any]]:
    """Existing contacts owning one of these phones or e-mails, as dicts of ``fields`` plus ``pk``.

    Plain rows, not model instances: building 2,000 instances per batch cost a third of the
    import time (measured with cProfile on bench/import_contacts.py).
    """
    if not phones and not emails:
        return []
    if connection.vendor == "postgresql":
        # One array parameter instead of 2,000 placeholders, matching the unique indexes.
        columns = ", ".join(connection.ops.quote_name(f) for f in fields)
        sql = (f"SELECT id, {columns} FROM contacts_contact "
               "WHERE phone = ANY(%s) OR LOWER(email) = ANY(%s)")
        with connection.cursor() as cursor:
            cursor.execute(sql, [list(phones), list(emails)])
            return [{"pk": row[0], **dict(zip(fields, row[1:], strict=True))} for row in cursor.fetchall()]
    qs = Contact.objects.alias(email_l=Lower("email")).filter(Q(phone__in=phones) | Q(email_l__in=emails))
    return [{"pk": row.pop("id"), **row} for row in qs.values("id", *fields)]


def _import_insert(rows: list[dict[str, Any]]) -> None:
    """Insert new contacts (dicts of field values) and set their ``pk``.

    On PostgreSQL through ``COPY`` (about 5 times faster than a multi-row INSERT built by the
    ORM, measured with bench/import_contacts.py); a duplicate identity still raises
    ``IntegrityError``, so the batch retries like with ``bulk_create``.
    """
    now = timezone.now()
    if connection.vendor != "postgresql":
        objs = [Contact(**row) for row in rows]
        Contact.objects.bulk_create(objs, batch_size=500)
        if any(o.pk is None for o in objs):
            by_code = dict(Contact.objects.filter(referral_code__in=[o.referral_code for o in objs])
                           .values_list("referral_code", "pk"))
            for o in objs:
                o.pk = by_code[o.referral_code]
        for row, obj in zip(rows, objs, strict=True):
            row["pk"] = obj.pk
        return
    fields = [f for f in Contact._meta.concrete_fields if not f.primary_key]
    defaults = {f.attname: (now if f.attname in ("created_at", "updated_at") else f.get_default()) for f in fields}
    names = [f.attname for f in fields]
    sql = f"COPY contacts_contact ({', '.join(connection.ops.quote_name(n) for n in names)}) FROM STDIN"
    with connection.cursor() as cursor, connection.wrap_database_errors:
        raw = cursor.cursor
        with raw.copy(sql) as copy:
            for row in rows:
                copy.write_row([row.get(n, defaults[n]) for n in names])
        raw.execute("SELECT referral_code, id FROM contacts_contact WHERE referral_code = ANY(%s)",
                    [[row["referral_code"] for row in rows]])
        ids = dict(raw.fetchall())
    for row in rows:
        row["pk"] = ids[row["referral_code"]]


# --- CSV import on PostgreSQL: set-based --------------------------------------------------------------
# The batch goes to a temporary table with one COPY; cells are trimmed, validated and
# normalized by a few statements over the whole batch; only the cells that the SQL rules do not
# cover for sure (odd phone formats, unusual e-mails, segments, dates, tags: few distinct values)
# go through ``csv_io.parse_cell`` in Python, once per distinct value. Dedupe follows the rules
# of ``_import_apply_rows`` exactly (see ``_import_apply_sql``); rows whose outcome depends on
# their order in a way the set-based rules do not model are handed to ``_import_apply_rows``.

_EMAIL_FAST = (  # An ASCII subset of what Django's EmailValidator accepts (checked by a test).
    r"^[-!#$%&'*+/=?^_`{}|~0-9A-Za-z]+(\.[-!#$%&'*+/=?^_`{}|~0-9A-Za-z]+)*"
    r"@[A-Za-z0-9]+(-+[A-Za-z0-9]+)*(\.[A-Za-z0-9]+(-+[A-Za-z0-9]+)*)*\.[A-Za-z][A-Za-z]+$"
)
_TEMP_TABLES = "imp_line, imp_row, imp_map, imp_val, imp_err, imp_erased, imp_ok, imp_grp, imp_new"
# Fields whose cells Python parses (few distinct values per file), and those SQL checks itself.
_PY_FIELDS = ("segment", "birth_date", "tags")


@functools.lru_cache(maxsize=1)
def _py_whitespace() -> str:
    """Every character Python's ``str.strip()`` removes, for ``btrim`` to trim cells the same way."""
    return "".join(chr(c) for c in range(0x110000) if chr(c).isspace())


def _hmac_pads() -> tuple[bytes, bytes]:
    """The inner and outer keys of HMAC-SHA256 with SECRET_KEY (RFC 2104), so that PostgreSQL's
    built-in ``sha256()`` computes ``identity_digest`` without the pgcrypto extension."""
    key = settings.SECRET_KEY.encode()
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    key = key.ljust(64, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


def _sql_digest(kind: str, value_sql: str) -> str:
    """SQL computing ``identity_digest(kind, value)`` for a value already stripped and lower case."""
    return (f"encode(sha256(%(opad)s::bytea || sha256(%(ipad)s::bytea || convert_to('{kind}:' || {value_sql}, "
            f"'UTF8'))), 'hex')")


def _import_apply_sql(job: ImportJob, batch: _ImportBatch, columns: dict[str, str],
                      header: list[str]) -> dict[str, int]:
    """Write one batch on PostgreSQL with set-based statements; the same results as
    ``_import_apply_rows``.

    How the row-by-row rules become set-based: every valid row has a *target*. A row whose
    phone or e-mail belongs to an existing contact targets it (two different ones: reported);
    any other row targets the new contact of its phone (or, without phone, of its e-mail).
    When every phone and every e-mail of the batch leads to one target, the row-by-row
    algorithm, in any order, sends each row to its target: the first row of a new target
    creates it, and each field of a target takes the first non-empty value in file order
    when the contact has none. Rows connected to a phone or e-mail with two targets keep an
    order-dependent outcome: they, and every row connected to them, go to ``_import_apply_rows``.
    """
    start = batch.start
    fields = {int(i): f for i, f in columns.items()}
    mapped = set(fields.values())
    labels = {i: csv_io.column_label(header, i, f) for i, f in fields.items()}
    now = timezone.now()
    ipad, opad = _hmac_pads()
    general_re, types_re = cm_validity_patterns()
    params: dict[str, Any] = {
        "ws": _py_whitespace(), "delim": job.delimiter, "gen": general_re, "typ": types_re, "ef": _EMAIL_FAST, "ipad": ipad, "opad": opad,
        "now": now, "job": job.pk, "start": start, "invalid_phone": INVALID_PHONE, "no_identity": csv_io.NO_IDENTITY,
        "forgotten": csv_io.FORGOTTEN, "two_contacts": csv_io.TWO_CONTACTS,
    }
    with connection.cursor() as cursor, connection.wrap_database_errors:
        raw = cursor.cursor

        def run(sql: str) -> Any:
            raw.execute(sql, params)
            return raw

        # 1. The raw rows, numbered in file order (row index = start + n).
        raw.execute(f"DROP TABLE IF EXISTS {_TEMP_TABLES}")
        raw.execute("CREATE TEMP TABLE imp_line (n integer GENERATED ALWAYS AS IDENTITY, line text, cells text[]) "
                    "ON COMMIT DROP")
        if batch.lines is not None:
            with raw.copy("COPY imp_line (line) FROM STDIN") as copy:
                copy.write(batch.lines)
        else:
            with raw.copy("COPY imp_line (cells) FROM STDIN") as copy:
                copy.set_types(["text[]"])
                for _, cells in batch.rows or []:
                    copy.write_row((cells,))

        # 2. Mapped cells, trimmed like str.strip(); empty cells are NULL (an import never blanks a field).
        cells_sql = ", ".join(f"nullif(btrim(coalesce(a[{i + 1}], ''), %(ws)s), '') AS r_{f}" for i, f in fields.items())
        #    Computed once here (OFFSET 0 keeps the planner from inlining the subqueries, which
        #    would evaluate each expression once per use): the national number of phone cells on
        #    the fast path, its validity, and whether an e-mail cell is on the fast path.
        fast = settings.DEFAULT_PHONE_REGION == "CM"
        phones = [f for f in ("phone", "whatsapp") if f in mapped]
        digits = "".join(f", {sql_phone_digits(f'r_{f}') if fast else 'NULL::text'} AS d_{f}" for f in phones)
        nats = "".join(f", {sql_national(f'd_{f}')} AS nat_{f}" for f in phones)
        valids = "".join(f", (nat_{f} ~ %(gen)s AND nat_{f} ~ %(typ)s) AS valid_{f}" for f in phones)
        email_fast = ("(r_email ~ %(ef)s AND char_length(r_email) <= 320 "
                      "AND char_length(split_part(r_email, '@', 2)) <= 63)")
        emails = f", {email_fast} AS fast_email" if "email" in mapped else ""
        run("CREATE TEMP TABLE imp_row ON COMMIT DROP AS "
            f"SELECT *{valids} FROM (SELECT *{nats} FROM (SELECT *{digits}{emails} FROM ("
            f"SELECT n, btrim(array_to_string(a, ''), %(ws)s) = '' AS blank, {cells_sql} "
            "FROM (SELECT n, coalesce(cells, string_to_array(line, %(delim)s)) AS a FROM imp_line OFFSET 0) x"
            " OFFSET 0) x0 OFFSET 0) x1 OFFSET 0) x2")
        # Temporary tables have no statistics until analysed: without them the planner picks
        # nested loops over the batch (measured: 1.5 s instead of 0.1 s for 25,000 rows).
        # A sample of 3,000 rows (statistics target 10) is enough for these plans: counts and the number
        # of distinct values; the default target samples 30,000 rows, for 0.1 s per batch.
        run("SET LOCAL default_statistics_target = 10")
        run("ANALYZE imp_row")

        # 3. Cells outside the SQL fast paths: parsed in Python, once per distinct value.
        parts = []
        for f in ("phone", "whatsapp"):
            if f in mapped:
                parts.append(f"SELECT 'phone', r_{f} FROM imp_row WHERE r_{f} IS NOT NULL AND nat_{f} IS NULL")
        if "email" in mapped:
            parts.append("SELECT 'email', r_email FROM imp_row WHERE r_email IS NOT NULL AND NOT fast_email")
        for f in _PY_FIELDS:
            if f in mapped:
                parts.append(f"SELECT '{f}', r_{f} FROM imp_row WHERE r_{f} IS NOT NULL")
        run("CREATE TEMP TABLE imp_map (kind text, raw text, value text, error text) ON COMMIT DROP")
        if parts:
            pending = run("SELECT DISTINCT * FROM (" + " UNION ALL ".join(parts) + ") s").fetchall()
            with raw.copy("COPY imp_map (kind, raw, value, error) FROM STDIN") as copy:
                for kind, cell in pending:
                    try:
                        value = csv_io.parse_cell(kind, cell)
                    except csv_io.CellError as exc:
                        copy.write_row((kind, cell, None, str(exc)))
                        continue
                    if kind == "tags":
                        for tag in value:
                            copy.write_row(("tag", cell, tag, None))
                    else:
                        copy.write_row((kind, cell, str(value), None))
            run("ANALYZE imp_map")

        # 4. Values and errors of each cell.
        select = ["n", "blank"]
        joins = []
        errors = []  # (column index, field) of the columns that can hold a bad cell
        for i, f in sorted(fields.items()):
            if f in ("phone", "whatsapp"):
                valid = f"valid_{f}"
                joins.append(f"LEFT JOIN imp_map m_{f} ON m_{f}.kind = 'phone' AND m_{f}.raw = r_{f}")
                select.append(f"CASE WHEN nat_{f} IS NOT NULL THEN CASE WHEN {valid} THEN '+237' || nat_{f} END "
                              f"ELSE m_{f}.value END AS v_{f}")
                select.append(f"CASE WHEN nat_{f} IS NOT NULL THEN CASE WHEN NOT {valid} THEN "
                              f"replace(%(invalid_phone)s, '{{}}', r_{f}) END ELSE m_{f}.error END AS e_{f}")
            elif f == "email":
                joins.append("LEFT JOIN imp_map m_email ON m_email.kind = 'email' AND m_email.raw = r_email")
                select.append("CASE WHEN fast_email THEN lower(r_email) ELSE m_email.value END AS v_email")
                select.append("CASE WHEN fast_email THEN NULL ELSE m_email.error END AS e_email")
            elif f in ("segment", "birth_date"):
                joins.append(f"LEFT JOIN imp_map m_{f} ON m_{f}.kind = '{f}' AND m_{f}.raw = r_{f}")
                cast = "::date" if f == "birth_date" else ""
                select.append(f"m_{f}.value{cast} AS v_{f}")
                select.append(f"m_{f}.error AS e_{f}")
            elif f in ("tags", "note"):
                select.append(f"r_{f} AS v_{f}")
                continue
            elif f in ("telegram_username", "instagram"):
                select.append(f"nullif(left(ltrim(r_{f}, '@'), {csv_io.MAX_LENGTHS[f]}), '') AS v_{f}")
                continue
            else:
                limit = csv_io.MAX_LENGTHS[f]
                params[f"too_long_{f}"] = csv_io.TOO_LONG.format(limit)
                select.append(f"CASE WHEN char_length(r_{f}) <= {limit} THEN r_{f} END AS v_{f}")
                select.append(f"CASE WHEN char_length(r_{f}) > {limit} THEN %(too_long_{f})s END AS e_{f}")
            errors.append((i, f))
        bad = " OR ".join(f"e_{f} IS NOT NULL" for _, f in errors) or "false"
        phone = "coalesce(" + ", ".join([f"v_{f}" for f in ("phone", "whatsapp") if f in mapped] + ["NULL"]) + ")"
        email = "v_email" if "email" in mapped else "NULL::text"
        run("CREATE TEMP TABLE imp_val ON COMMIT DROP AS "
            "SELECT *, NOT blank AND NOT bad AND (p IS NOT NULL OR e IS NOT NULL) AS ok FROM ("
            f"SELECT *, ({bad}) AS bad, {phone} AS p, {email} AS e FROM ("
            f"SELECT {', '.join(select)} FROM imp_row r {' '.join(joins)}"
            ") v0) v1")

        # 5. The row report: bad cells (in column order), then rows without an identity.
        run("CREATE TEMP TABLE imp_err (n integer, ord integer, col text, msg text) ON COMMIT DROP")
        if errors:
            for i, _ in errors:
                params[f"label_{i}"] = labels[i]
            bad_cells = ", ".join(f"({i}, %(label_{i})s, e_{f})" for i, f in errors)
            run("INSERT INTO imp_err SELECT v.n, x.ord, x.col, x.msg FROM imp_val v "
                f"CROSS JOIN LATERAL (VALUES {bad_cells}) x(ord, col, msg) WHERE v.bad AND NOT v.blank AND x.msg IS NOT NULL")
        run("INSERT INTO imp_err SELECT n, -1, '', %(no_identity)s FROM imp_val "
            "WHERE NOT blank AND NOT bad AND p IS NULL AND e IS NULL")

        # 6. Erased persons (skipped when nobody was ever erased: no digest can match).
        refused = "false"
        if ErasedIdentity.objects.exists():
            digests = [f"SELECT n, {_sql_digest('phone', 'p')} AS digest FROM imp_val WHERE ok AND p IS NOT NULL"]
            if "whatsapp" in mapped:
                digests.append(f"SELECT n, {_sql_digest('phone', 'v_whatsapp')} FROM imp_val "
                               "WHERE ok AND v_whatsapp IS NOT NULL")
            if "email" in mapped:
                digests.append(f"SELECT n, {_sql_digest('email', 'e')} FROM imp_val WHERE ok AND e IS NOT NULL")
            run("CREATE TEMP TABLE imp_erased ON COMMIT DROP AS SELECT DISTINCT d.n, d.digest FROM ("
                + " UNION ALL ".join(digests) + ") d JOIN contacts_erasedidentity x ON x.digest = d.digest")
            if job.consent_given:
                run("DELETE FROM contacts_erasedidentity WHERE digest IN (SELECT digest FROM imp_erased)")
            else:
                run("INSERT INTO imp_err SELECT DISTINCT n, -1, '', %(forgotten)s FROM imp_erased")
                refused = "n IN (SELECT n FROM imp_erased)"

        # 7. Targets: the existing contact owning the phone or the e-mail, else a new contact.
        run("CREATE TEMP TABLE imp_ok ON COMMIT DROP AS "
            "SELECT v.*, cp.id AS cp, ce.id AS ce, coalesce(cp.id, ce.id) AS cid, "
            "(CASE WHEN coalesce(cp.id, ce.id) IS NOT NULL THEN 'c' || coalesce(cp.id, ce.id) "
            "WHEN v.p IS NOT NULL THEN 'p' || v.p ELSE 'e' || v.e END) COLLATE \"C\" AS tgt, false AS complex "
            "FROM imp_val v LEFT JOIN contacts_contact cp ON cp.phone = v.p "
            f"LEFT JOIN contacts_contact ce ON lower(ce.email) = v.e WHERE v.ok AND NOT ({refused})")
        run("INSERT INTO imp_err SELECT n, -1, '', replace(%(two_contacts)s, '{}', '#' || cp || ' and #' || ce) "
            "FROM imp_ok WHERE cp <> ce")
        run("DELETE FROM imp_ok WHERE cp <> ce")

        # 8. Rows whose outcome depends on their order: a phone or an e-mail with two targets, or
        #    a contact whose segment is blank (the row-by-row rules treat it in two steps).
        seeds = run(
            "SELECT 'p', p FROM imp_ok WHERE p IS NOT NULL GROUP BY p HAVING min(tgt) <> max(tgt) "
            "UNION ALL SELECT 'e', e FROM imp_ok WHERE e IS NOT NULL GROUP BY e HAVING min(tgt) <> max(tgt) "
            "UNION ALL SELECT DISTINCT 'c', o.cid::text FROM imp_ok o JOIN contacts_contact c ON c.id = o.cid "
            "WHERE coalesce(c.segment, '') = ''").fetchall()
        counts = {"created": 0, "updated": 0, "unchanged": 0, "errors": 0}
        if seeds:
            params["sp"] = [v for k, v in seeds if k == "p"]
            params["se"] = [v for k, v in seeds if k == "e"]
            params["sc_ids"] = [int(v) for k, v in seeds if k == "c"]
            run("UPDATE imp_ok SET complex = true WHERE p = ANY(%(sp)s) OR e = ANY(%(se)s) OR cid = ANY(%(sc_ids)s)")
            while run("UPDATE imp_ok SET complex = true WHERE NOT complex AND ("
                      "p IN (SELECT p FROM imp_ok WHERE complex) OR e IN (SELECT e FROM imp_ok WHERE complex) "
                      "OR cid IN (SELECT cid FROM imp_ok WHERE complex))").rowcount:
                pass
            rows = run("SELECT n, coalesce(cells, string_to_array(line, %(delim)s)) FROM imp_line "
                       "WHERE n IN (SELECT n FROM imp_ok WHERE complex) ORDER BY n").fetchall()
            counts = _import_apply_rows(job, [(start + n, list(cells)) for n, cells in rows], columns, header)

        # 9. One row per target: its first row, and per field the first non-empty value in file order.
        value_fields = sorted((mapped - {"tags", "note"}) | {"phone", "email"})
        column_of = {f: ("p" if f == "phone" else "e" if f == "email" else f"v_{f}") for f in value_fields}
        #    Most targets have one row, whose values are the first ones: only targets of several rows
        #    go through the window functions (their sort costs as much as the rest of this step).
        window, single = [], []
        for f in value_fields:
            present = f"{column_of[f]} IS NOT NULL" + (" AND v_segment <> 'unknown'" if f == "segment" else "")
            window.append(f"min(n) FILTER (WHERE {present}) OVER w AS n_{f}")
            window.append(f"(array_agg({column_of[f]}) FILTER (WHERE {present}) OVER w)[1] AS f_{f}")
            single.append(f"CASE WHEN {present} THEN n END AS n_{f}")
            single.append(f"CASE WHEN {present} THEN {column_of[f]} END AS f_{f}")
        own = "".join(f"v_{f}, " for f in ("note", "acquisition_channel") if f in mapped)
        firsts = ", ".join(f"n_{f}, f_{f}" for f in value_fields)
        run("CREATE TEMP TABLE imp_grp ON COMMIT DROP AS "
            "WITH multi AS (SELECT tgt FROM imp_ok WHERE NOT complex GROUP BY tgt HAVING count(*) > 1) "
            f"SELECT tgt, n, cid, {own}{', '.join(single)} FROM imp_ok o "
            "WHERE NOT complex AND NOT EXISTS (SELECT FROM multi m WHERE m.tgt = o.tgt) "
            f"UNION ALL SELECT tgt, n, cid, {own}{firsts} FROM ("
            f"SELECT tgt, n, cid, {own}{', '.join(window)}, row_number() OVER (PARTITION BY tgt ORDER BY n) AS rn "
            "FROM imp_ok WHERE NOT complex AND tgt IN (SELECT tgt FROM multi) "
            "WINDOW w AS (PARTITION BY tgt ORDER BY n ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)"
            ") x WHERE rn = 1")

        # 10. New contacts: ids and referral codes drawn in file order; the first row's note.
        new_count = run("SELECT count(*) FROM imp_grp WHERE cid IS NULL").fetchone()[0]
        if new_count:
            # Ids drawn in file order: the window function hands the rows over sorted by n, and nextval()
            # runs on them in that order. Referral codes are drawn in Python, all at once, and sent as one
            # string of 8-byte codes that the k-th new contact slices at 8k - 7 (a bytea: slicing a text
            # would count characters from its start each time). The sequence is looked up once here:
            # pg_get_serial_sequence() in the select list would run once per row.
            params["codes"] = "".join(referral_codes_new(new_count)).encode()
            params["seq"] = run("SELECT pg_get_serial_sequence('contacts_contact', 'id')").fetchone()[0]
            run("CREATE TEMP TABLE imp_new ON COMMIT DROP AS SELECT nextval(%(seq)s::regclass) AS id, "
                "encode(substring(%(codes)s::bytea FROM (8 * row_number() OVER (ORDER BY n) - 7)::int FOR 8), "
                "'escape') AS code, g.* FROM imp_grp g WHERE cid IS NULL")
            names, values = ["id", "referral_code", "created_at", "updated_at"], ["id", "code", "%(now)s", "%(now)s"]
            for field in Contact._meta.concrete_fields:
                name = field.attname
                if field.primary_key or name in names:
                    continue
                params[f"d_{name}"] = field.get_default()
                default = f"%(d_{name})s::{field.cast_db_type(connection)}"
                if name == "acquisition_channel":
                    value = "coalesce(v_acquisition_channel, 'import')" if name in mapped else "'import'"
                elif name in column_of:
                    value = f"coalesce(f_{name}, {default})"
                else:
                    value = default
                names.append(name)
                values.append(value)
            run(f"INSERT INTO contacts_contact ({', '.join(connection.ops.quote_name(n) for n in names)}) "
                f"SELECT {', '.join(values)} FROM imp_new ORDER BY id")
            if "note" in mapped:
                params["author"] = job.created_by_id
                run("INSERT INTO contacts_contactnote (contact_id, author_id, text, created_at) "
                    "SELECT id, %(author)s, v_note, %(now)s FROM imp_new WHERE v_note IS NOT NULL ORDER BY id")
        else:
            run("CREATE TEMP TABLE imp_new ON COMMIT DROP AS SELECT 0::bigint AS id, ''::text AS tgt LIMIT 0")

        # 11. Existing contacts: fill what is missing, never overwrite (staff edits win over an old file).
        updated = 0
        fill = [f for f in value_fields if f != "acquisition_channel" or f in mapped]
        missing = {f: ("(c.segment = 'unknown')" if f == "segment"
                       else f"(c.{f} IS NULL)" if f == "birth_date" else f"coalesce(c.{f}, '') = ''") for f in fill}
        if fill and run("SELECT 1 FROM imp_grp WHERE cid IS NOT NULL LIMIT 1").fetchone():
            setters = ", ".join(f"(CASE WHEN {missing[f]} THEN g.n_{f} END)" for f in fill)
            updated = run("SELECT count(DISTINCT s.n) FROM imp_grp g JOIN contacts_contact c ON c.id = g.cid "
                          f"CROSS JOIN LATERAL (VALUES {setters}) s(n) WHERE s.n IS NOT NULL").fetchone()[0]
            if updated:
                sets = ", ".join(f"{f} = CASE WHEN {missing[f]} AND g.f_{f} IS NOT NULL THEN g.f_{f} ELSE c.{f} END"
                                 for f in fill)
                changed = " OR ".join(f"({missing[f]} AND g.f_{f} IS NOT NULL)" for f in fill)
                run(f"UPDATE contacts_contact c SET {sets} FROM imp_grp g WHERE c.id = g.cid AND ({changed})")

        # 12. Tags of every row, on its target.
        if "tags" in mapped:
            run("INSERT INTO contacts_tag (name, created_at) SELECT DISTINCT m.value, %(now)s FROM imp_ok o "
                "JOIN imp_map m ON m.kind = 'tag' AND m.raw = o.v_tags WHERE NOT o.complex "
                "ON CONFLICT (name) DO NOTHING")
            # A contact created by this batch has no tag yet: a plain insert (ON CONFLICT costs a third
            # more). An existing one may have the tag already.
            tagged = ("FROM imp_ok o JOIN imp_map m ON m.kind = 'tag' AND m.raw = o.v_tags "
                      "JOIN contacts_tag t ON t.name = m.value")
            run("INSERT INTO contacts_contact_tags (contact_id, tag_id) SELECT DISTINCT nw.id, t.id "
                f"{tagged} JOIN imp_new nw ON nw.tgt = o.tgt WHERE NOT o.complex AND o.cid IS NULL")
            run("INSERT INTO contacts_contact_tags (contact_id, tag_id) SELECT DISTINCT o.cid, t.id "
                f"{tagged} WHERE NOT o.complex AND o.cid IS NOT NULL ON CONFLICT DO NOTHING")

        # 13. The row report, and the counts.
        run('INSERT INTO contacts_importrowerror (job_id, "row", "column", message) '
            "SELECT %(job)s, %(start)s + n + 1, left(col, 100), left(msg, 500) FROM imp_err ORDER BY n, ord")
        error_rows, simple_rows = run(
            "SELECT (SELECT count(DISTINCT n) FROM imp_err), (SELECT count(*) FROM imp_ok WHERE NOT complex)"
        ).fetchone()
    counts["created"] += new_count
    counts["updated"] += updated
    counts["unchanged"] += simple_rows - new_count - updated
    counts["errors"] += error_rows
    return counts


def import_jobs_claim_stalled(*, stalled_after: timedelta = IMPORT_STALLED_AFTER, limit: int = 20) -> list[int]:
    """Ids of pending or running jobs whose worker stopped reporting (killed, or a lost kick).

    Claimed with ``SELECT … FOR UPDATE SKIP LOCKED`` where the database supports it and
    stamped, so that two beat ticks or two beat processes do not kick the same job twice
    within ``stalled_after``. The caller queues ``import_job_run`` for each id.
    """
    cutoff = timezone.now() - stalled_after
    skip_locked = connection.features.has_select_for_update_skip_locked
    with transaction.atomic():
        qs = (ImportJob.objects.defer("data")
              .filter(status__in=[ImportJob.Status.PENDING, ImportJob.Status.RUNNING])
              .filter(Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, created_at__lt=cutoff))
              .order_by("pk"))
        ids = list(qs.select_for_update(skip_locked=skip_locked).values_list("pk", flat=True)[:limit])
        ImportJob.objects.filter(pk__in=ids).update(heartbeat_at=timezone.now())
    return ids


def business_day_bounds(day: datetime | None = None) -> tuple[datetime, datetime]:
    """Start and end (UTC-aware) of the business day (Africa/Douala) containing ``day``."""
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(settings.BUSINESS_TIME_ZONE)
    local = (day or timezone.now()).astimezone(tz)
    start = datetime.combine(local.date(), time.min, tzinfo=tz)
    return start, start + timedelta(days=1)
