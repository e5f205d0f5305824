"""Who a contact is: finding a person by any of their identities (upsert), creating and editing
contacts, the one-way digest of an erased identity, and referral codes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from api.common.errors import ApplicationError, ConflictError, NotFoundError, field_error
from api.contacts.enums import Channel, LifecycleStage, Segment
from api.contacts.models import Contact, ContactIdentity, ErasedIdentity
from api.contacts.phones import InvalidPhone, normalize_phone
from api.contacts.selectors import IDENTITY_ROW_KINDS, identity_owner_ids, referral_would_loop
from api.contacts.services._base import (
    DIGEST_KIND,
    IDENTITY_FIELDS,
    UNSET,
    Unset,
    check_choice,
    contact_resolve,
    event_add,
)
from api.contacts.services.consent import consent_grant
from api.contacts.services.identity_rows import (
    identity_rows_claim,
    identity_rows_of_fields,
    identity_rows_replace,
    identity_value,
)
from api.contacts.services.notes import contact_set_lifecycle_stage, contact_tags_set

_REFERRAL_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


@dataclass(frozen=True)
class UpsertResult:
    contact: Contact
    created: bool



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
    kind = DIGEST_KIND.get(kind, kind)
    message = f"{kind}:{str(value).strip().lower()}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()


def contact_digests(identities: dict[str, Any]) -> dict[str, str]:
    """``{field: identity_digest}`` of the identities that have a value."""
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



def _contacts_by_identity(identities: dict[str, str]) -> tuple[list[Contact], dict[str, int]]:
    """The contacts owning any of the identities (``selectors.identity_owner_ids``: main fields and the
    extra numbers a merge brought; a WhatsApp number falls back to the same number as a phone), locked
    in id order, with who owns which identity."""
    owners = identity_owner_ids(identities)
    found = list(Contact.objects.filter(pk__in=set(owners.values())).select_for_update().order_by("pk")[:5])
    return found, owners


def _identity_conflict(contacts: Sequence[Contact], identities: Mapping[str, str | None],
                       owners: Mapping[str, int] | None = None) -> ConflictError:
    """409 ``identity_conflict`` naming, for each identity, the contact that holds it."""
    ids = [c.pk for c in contacts]
    errors = []
    for field, value in identities.items():
        for c in contacts:
            held = owners.get(field) == c.pk if owners is not None else getattr(c, field, None) == value
            if value and held:
                errors.append(field_error(field, f"Belongs to contact #{c.pk}.", "identity_conflict"))
    names = " and ".join(f"#{i}" for i in ids)
    return ConflictError(f"These identities belong to two different contacts: {names}. Merge them first.",
                         code="identity_conflict", errors=errors, extra={"contact_ids": ids})



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
    birth_date: date | None = None,
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
    check_choice("segment", segment, Segment.values)
    check_choice("lifecycle_stage", lifecycle_stage, LifecycleStage.values)
    for channel in consents or ():
        check_choice("consents", channel, Channel.values)
    profile = {
        "name": name, "first_name": first_name, "last_name": last_name, "city": city,
        "neighbourhood": neighbourhood, "segment": segment, "acquisition_channel": acquisition_channel,
        "self_reported_source": self_reported_source, "birth_date": birth_date,
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
    found, owners = _contacts_by_identity(identities)
    if len(found) > 1:
        raise _identity_conflict(found, identities, owners)
    digests = contact_digests(identities)
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
        # Rows for its numbers and e-mail: another contact holding one (a race) fails the savepoint, and
        # contact_upsert looks the identities up again.
        identity_rows_claim(contact.pk, identity_rows_of_fields(contact))
        return UpsertResult(contact, True)

    contact = found[0]
    if contact.merged_into_id or contact.erased_at:  # identities are cleared on both; defensive
        raise ConflictError(f"Contact #{contact.pk} was merged or erased.", code="identity_conflict")
    held = set(ContactIdentity.objects.filter(contact_id=contact.pk).values_list("kind", "value"))
    changed = []
    new_identities = []
    former_identities = []
    for field, value in {**identities, **profile}.items():
        if field in IDENTITY_ROW_KINDS:
            current = identity_value(field, getattr(contact, field))
            if current == value or (field, value) in held:
                # Already theirs (their main one, or one a merge brought): a message from the merged-away
                # number must not replace the survivor's main number.
                continue
            new_identities.append((field, value))
            if current:
                former_identities.append((field, current))  # the former main one stays theirs, as a row
        if getattr(contact, field) != value:
            setattr(contact, field, value)
            changed.append(field)
    if (referred_by_id is not None and referred_by_id != contact.pk and contact.referred_by_id != referred_by_id
            and not referral_would_loop(contact_id=contact.pk, referrer_id=referred_by_id)):
        contact.referred_by_id = referred_by_id
        changed.append("referred_by")
    if changed:
        contact.save(update_fields=[*changed, "updated_at"])
        identity_rows_claim(contact.pk, former_identities, strict=False)
        identity_rows_claim(contact.pk, new_identities)
        moved = [f for f in changed if f in IDENTITY_FIELDS]
        if moved:
            event_add(contact, "identities_changed", "Identities updated: " + ", ".join(moved), {"fields": moved},
                   actor=actor)
    if lifecycle_stage and lifecycle_stage != contact.lifecycle_stage:
        contact = contact_set_lifecycle_stage(contact_id=contact.pk, stage=lifecycle_stage, reason="upsert",
                                              actor=actor, automatic=actor is None)
    return UpsertResult(contact, False)


def contact_create(
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
    birth_date: date | None = None,
    referred_by_id: int | None = None,
    lifecycle_stage: str | None = None,
    actor: Any = None,
    consents: Sequence[str] | None = None,
    consent_how: str = "",
) -> Contact:
    """Create a contact; 409 (``already_exists``, with ``contact_ids``) when one of its identities is taken.

    The arguments are those of ``contact_upsert``, which does the creation once no contact owns the
    identities (the check and the creation share one transaction).
    """
    identities = _normalize_identities(phone=phone, email=email, whatsapp=whatsapp,
                                       telegram_chat_id=telegram_chat_id, facebook_psid=facebook_psid)
    with transaction.atomic():
        owners = identity_owner_ids(identities)
        if owners:
            existing = sorted(set(owners.values()))[:5]
            if existing:
                raise ConflictError(f"A contact with these identities exists: #{existing[0]}. Use upsert to update it.",
                                    code="already_exists", extra={"contact_ids": existing})
        return contact_upsert(
            phone=phone, email=email, whatsapp=whatsapp, telegram_chat_id=telegram_chat_id,
            telegram_username=telegram_username, facebook_psid=facebook_psid, instagram=instagram, name=name,
            first_name=first_name, last_name=last_name, city=city, neighbourhood=neighbourhood, segment=segment,
            acquisition_channel=acquisition_channel, self_reported_source=self_reported_source,
            birth_date=birth_date, referred_by_id=referred_by_id, lifecycle_stage=lifecycle_stage, actor=actor, consents=consents,
            consent_how=consent_how,
        ).contact


def contact_update(
    *,
    contact_id: int,
    actor: Any = None,
    phone: str | None | Unset = UNSET,
    email: str | None | Unset = UNSET,
    whatsapp: str | None | Unset = UNSET,
    telegram_chat_id: str | None | Unset = UNSET,
    facebook_psid: str | None | Unset = UNSET,
    telegram_username: str | None | Unset = UNSET,
    instagram: str | None | Unset = UNSET,
    name: str | None | Unset = UNSET,
    first_name: str | None | Unset = UNSET,
    last_name: str | None | Unset = UNSET,
    salutation: str | None | Unset = UNSET,
    language: str | None | Unset = UNSET,
    city: str | None | Unset = UNSET,
    neighbourhood: str | None | Unset = UNSET,
    segment: str | None | Unset = UNSET,
    acquisition_channel: str | None | Unset = UNSET,
    self_reported_source: str | None | Unset = UNSET,
    preferred_channel: str | None | Unset = UNSET,
    birth_date: date | None | Unset = UNSET,
    referred_by_id: int | None | Unset = UNSET,
    owner_id: int | None | Unset = UNSET,
    owner: Any = UNSET,
    preferred_hours_start: time | None | Unset = UNSET,
    preferred_hours_end: time | None | Unset = UNSET,
    tags: Sequence[str] | None = None,
    lifecycle_stage: str | None = None,
    lifecycle_stage_locked: bool | None = None,
    verified: bool = False,
) -> Contact:
    """Staff edit of a contact: identities (normalized, 409 when taken), profile, owner, tags.

    Only the fields given change (``UNSET`` leaves one alone); ``None`` or ``""`` clears an identity.
    ``tags`` replaces the set of tags; ``lifecycle_stage`` is a manual move (it locks the stage
    against automatic moves); ``lifecycle_stage_locked=False`` hands the stage back to automation;
    ``verified=True`` stamps ``last_verified_at``. 409 when the contact was merged or erased.
    """
    given = {k: v for k, v in {
        "phone": phone, "email": email, "whatsapp": whatsapp, "telegram_chat_id": telegram_chat_id,
        "facebook_psid": facebook_psid, "telegram_username": telegram_username, "instagram": instagram,
        "name": name, "first_name": first_name, "last_name": last_name, "salutation": salutation,
        "language": language, "city": city, "neighbourhood": neighbourhood, "segment": segment,
        "acquisition_channel": acquisition_channel, "self_reported_source": self_reported_source,
        "preferred_channel": preferred_channel, "birth_date": birth_date, "referred_by_id": referred_by_id,
        "owner_id": owner_id, "owner": owner, "preferred_hours_start": preferred_hours_start,
        "preferred_hours_end": preferred_hours_end,
    }.items() if v is not UNSET}
    with transaction.atomic():
        contact = contact_resolve(contact_id, follow_merge=False)
        if contact.merged_into_id or contact.erased_at:
            raise ConflictError(f"Contact #{contact.pk} was merged or erased; it cannot be edited.")
        previous = {kind: getattr(contact, kind) for kind in IDENTITY_ROW_KINDS}
        _contact_apply_edit(contact, given)
        if verified:
            contact.last_verified_at = timezone.now()
        if lifecycle_stage_locked is not None:
            contact.lifecycle_stage_locked = lifecycle_stage_locked
        try:
            with transaction.atomic():
                contact.save()
                identity_rows_replace(contact, previous)
        except IntegrityError:
            raise ConflictError("Another contact took one of these identities meanwhile; try again.",
                                code="identity_conflict") from None
        if tags is not None:
            contact_tags_set(contact_id=contact.pk, tags=tags)
        if lifecycle_stage is not None:
            contact = contact_set_lifecycle_stage(contact_id=contact.pk, stage=lifecycle_stage,
                                                  reason="set by staff", actor=actor, automatic=False)
        return contact


def _contact_apply_edit(contact: Contact, fields: dict[str, Any]) -> None:
    """Set the given fields on the locked ``contact`` (not saved): identities normalized and checked
    against other contacts (409), choices checked (400)."""
    id_fields = {k: fields.pop(k) for k in list(fields) if k in IDENTITY_FIELDS}
    identities: dict[str, str | None] = dict(_normalize_identities(**id_fields))
    for field in id_fields:
        if id_fields[field] in (None, ""):
            identities[field] = None  # explicit clear
    owners = identity_owner_ids({k: v for k, v in identities.items() if v}, phone_fallback=False)
    others = sorted({pk for pk in owners.values() if pk != contact.pk})[:5]
    if others:
        raise _identity_conflict([contact, *Contact.objects.filter(pk__in=others)], identities, owners)
    check_choice("segment", fields.get("segment"), Segment.values)
    check_choice("preferred_channel", fields.get("preferred_channel") or None, Channel.values)
    for field, value in {**identities, **fields}.items():
        setattr(contact, field, value)
    if "referred_by_id" in fields and fields["referred_by_id"] == contact.pk:
        raise ApplicationError("A contact cannot refer themselves.", code="validation_error",
                               errors=[field_error("referred_by_id", "Cannot be the contact itself.")])
    if fields.get("referred_by_id") and referral_would_loop(contact_id=contact.pk,
                                                          referrer_id=fields["referred_by_id"]):
        raise ApplicationError("This referrer was referred by this contact: a referral cannot go in a loop.",
                               code="validation_error",
                               errors=[field_error("referred_by_id", "Would make a referral loop.", "referral_loop")])


def contact_touch_seen(*, contact_id: int, at: datetime | None = None) -> None:
    """Stamp ``last_seen_at`` (an inbound message, a visit). Never moves it backwards."""
    at = at or timezone.now()
    Contact.objects.filter(pk=contact_id).filter(Q(last_seen_at__isnull=True) | Q(last_seen_at__lt=at)).update(
        last_seen_at=at)

