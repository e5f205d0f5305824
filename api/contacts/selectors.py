"""Reads of the customer file: lookups, audiences, the timeline, duplicates, privacy export."""

from __future__ import annotations

import base64
import calendar
import heapq
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import islice
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Count, Max, Q, QuerySet, Value
from django.db.models.functions import Coalesce, Lower
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from api.common.businesstime import business_today, day_bounds
from api.common.errors import ApplicationError, NotFoundError, field_error
from api.contacts.enums import Channel, LifecycleStage
from api.contacts.models import (
    Consent,
    Contact,
    ContactEvent,
    ContactIdentity,
    ContactMerge,
    FollowUpTask,
    ImportJob,
    ImportRowError,
)
from api.contacts.registry import (
    TimelineEvent,
    contact_attributes,
    contact_groupings,
    contact_relations,
    timeline_sources,
)

STALE_AFTER = timedelta(days=365)
# Extra events asked of each timeline source, so that events sharing the timestamp of the
# page boundary (already shown and dropped) do not make a page short.
_TIMELINE_TIE_SLACK = 20

# Which identity a channel needs.
CHANNEL_IDENTITY: dict[str, tuple[str, ...]] = {
    Channel.TELEGRAM: ("telegram_chat_id",),
    Channel.MESSENGER: ("facebook_psid",),
    Channel.WHATSAPP: ("whatsapp", "phone"),
    Channel.INSTAGRAM: ("instagram",),
    Channel.EMAIL: ("email",),
    Channel.SMS: ("phone",),
    Channel.PHONE: ("phone",),
    Channel.IN_PERSON: (),
}


# --- the published surface: what other apps read of the customer file ------------------------------
# Other apps never read ``Contact`` (nor its table) themselves: they call these, so that what a
# live contact is, and where a merged contact went, is decided here once.

# Longest merge chain followed. A merge repoints the contacts already merged into its source at its
# target, so a chain has one hop; the bound only guards against a corrupt file (a hand-edited cycle).
MERGE_CHAIN_MAX_HOPS = 10


def contacts_live() -> QuerySet[Contact]:
    """The live contacts: neither merge tombstones (``merged_into``) nor erased (``erased_at``).

    The one definition of a live contact; other apps compose it further (order, values, filters on
    the fields they need) instead of writing the filter themselves.
    """
    return Contact.objects.filter(merged_into__isnull=True, erased_at__isnull=True)


def contact_id_resolve(contact_id: int) -> int | None:
    """The contact that ``contact_id`` stands for today: itself, or the survivor of its merge chain.

    None when there is no such contact, or when the chain is longer than ``MERGE_CHAIN_MAX_HOPS`` or
    loops (neither happens through ``contact_merge``). The survivor may be erased: callers that need a
    live contact check ``contact_is_live``. One query per hop (one in practice).
    """
    seen: set[int] = set()
    current = contact_id
    for _hop in range(MERGE_CHAIN_MAX_HOPS + 1):
        row = Contact.objects.filter(pk=current).values_list("pk", "merged_into_id").first()
        if row is None:
            return None
        merged_into = row[1]
        if merged_into is None:
            return current
        seen.add(current)
        if merged_into in seen:
            return None  # a cycle
        current = merged_into
    return None


def contact_ids_resolve(contact_ids: Iterable[int]) -> dict[int, int]:
    """``{contact_id: surviving contact id}`` for many contacts at once (``contact_id_resolve`` in bulk):
    one query per hop for all of them. Unknown ids, too long chains and cycles are left out."""
    pending = {cid: cid for cid in set(contact_ids)}  # asked id -> where its walk stands
    resolved: dict[int, int] = {}
    seen: dict[int, set[int]] = {cid: set() for cid in pending}
    for _hop in range(MERGE_CHAIN_MAX_HOPS + 1):
        if not pending:
            break
        rows = dict(Contact.objects.filter(pk__in=set(pending.values())).values_list("pk", "merged_into_id"))
        following: dict[int, int] = {}
        for asked, current in pending.items():
            if current not in rows:
                continue
            merged_into = rows[current]
            if merged_into is None:
                resolved[asked] = current
            elif merged_into not in seen[asked] and merged_into != asked:
                seen[asked].add(current)
                following[asked] = merged_into
        pending = following
    return resolved


def contact_is_live(contact_id: int) -> bool:
    """Whether ``contact_id`` is a live contact (not merged away, not erased)."""
    return contacts_live().filter(pk=contact_id).exists()


def contact_exists(contact_id: int) -> bool:
    """Whether a contact row ``contact_id`` exists at all (merge tombstones and erased ones included)."""
    return Contact.objects.filter(pk=contact_id).exists()


def contact_live_get(contact_id: int) -> Contact | None:
    """The live contact ``contact_id`` (for its identities, names, consent), or None when there is none,
    or it was merged or erased. The merge chain is not followed: call ``contact_id_resolve`` first."""
    return contacts_live().filter(pk=contact_id).first()


def contact_find(contact_id: int) -> Contact | None:
    """The contact row ``contact_id`` as it is (tombstones and erased ones too), without related rows;
    None when there is none. ``contact_get`` is the same with tags and consents, 404 when missing."""
    return Contact.objects.filter(pk=contact_id).first()


def contact_id_by_telegram_chat(chat_id: str | int) -> int | None:
    """The contact owning the Telegram chat ``chat_id`` (identities are unique and cleared on merge and
    erase, so this is a live contact), or None."""
    return Contact.objects.filter(telegram_chat_id=str(chat_id)).values_list("pk", flat=True).first()


# Identities kept as rows (``ContactIdentity``): several per contact, one owner each.
IDENTITY_ROW_KINDS = ("phone", "whatsapp", "email")
# Identities that are columns of the contact alone (one per contact, unique constraints).
_FIELD_ONLY_IDENTITIES = ("telegram_chat_id", "facebook_psid")


def identity_owner_ids(identities: dict[str, str], *, phone_fallback: bool = True) -> dict[str, int]:
    """``{field: contact id}``: who owns each of the given (normalized) identities, ``field`` being one of
    phone, whatsapp, email, telegram_chat_id, facebook_psid.

    A phone, WhatsApp number or e-mail is looked up in the identity rows first (they hold the extra
    numbers a merge brought), then in the contacts' own columns for a contact written without rows (an
    import, a fixture). A WhatsApp number held in the column of several old contacts answers the oldest.
    A WhatsApp number nobody has as WhatsApp falls back to the owner of that number as a phone (people
    give the number they use on WhatsApp as their phone); the fallback is reported under ``whatsapp``
    only when no other identity found anyone, as before identities were rows (``phone_fallback=False``
    for a uniqueness check: a WhatsApp number is not taken by someone's phone).
    """
    owners: dict[str, int] = {}
    pairs = Q()
    for kind in IDENTITY_ROW_KINDS:
        if identities.get(kind):
            pairs |= Q(kind=kind, value=identities[kind])
    if pairs:
        for kind, contact_id in ContactIdentity.objects.filter(pairs).values_list("kind", "contact_id"):
            owners[kind] = contact_id
    live = contacts_live()
    for field in (*IDENTITY_ROW_KINDS, *_FIELD_ONLY_IDENTITIES):
        value = identities.get(field)
        if not value or field in owners:
            continue
        qs: QuerySet[Contact] = (live.alias(email_l=Lower("email")).filter(email_l=value) if field == "email"
                                 else live.filter(**{field: value}))
        found = qs.order_by("created_at", "pk").values_list("pk", flat=True).first()
        if found is not None:
            owners[field] = found
    wa = identities.get("whatsapp")
    if phone_fallback and wa and "whatsapp" not in owners and not owners:
        as_phone = (ContactIdentity.objects.filter(kind="phone", value=wa).values_list("contact_id", flat=True).first()
                    or live.filter(phone=wa).values_list("pk", flat=True).first())
        if as_phone is not None:
            owners["whatsapp"] = as_phone
    return owners


def contact_id_by_phone(phone: str) -> int | None:
    """The live contact known by the E.164 ``phone`` (their main phone or one a merge brought), or None."""
    return identity_owner_ids({"phone": phone}).get("phone")


def contact_id_by_whatsapp(number: str) -> int | None:
    """The live contact known by the WhatsApp number ``number`` (E.164), or by that number as a phone
    when no one has it as WhatsApp; None when nobody."""
    return identity_owner_ids({"whatsapp": number}).get("whatsapp")


def contact_id_by_email(email: str) -> int | None:
    """The live contact known by ``email`` (any case), or None."""
    return identity_owner_ids({"email": email.strip().lower()}).get("email")


def contact_identities(contact_id: int) -> list[dict[str, Any]]:
    """Every phone, WhatsApp number and e-mail of the contact: ``{"kind", "value", "primary"}`` rows,
    the main ones (the contact's own fields) first. A main identity without a row (written by an import)
    is listed too."""
    contact = Contact.objects.filter(pk=contact_id).values("phone", "whatsapp", "email").first()
    if contact is None:
        return []
    return identities_with_primary(contact, ContactIdentity.objects.filter(contact_id=contact_id)
                                   .values_list("kind", "value"))


def identities_with_primary(primary: Mapping[str, Any], rows: Iterable[tuple[str, str]]) -> list[dict[str, Any]]:
    """The identity list of one contact from its main fields and its rows (see ``contact_identities``)."""
    out = []
    seen = set()
    for kind in IDENTITY_ROW_KINDS:
        value = primary.get(kind)
        if value:
            value = value.lower() if kind == "email" else value
            out.append({"kind": kind, "value": value, "primary": True})
            seen.add((kind, value))
    for kind, value in sorted(rows):
        if (kind, value) not in seen:
            out.append({"kind": kind, "value": value, "primary": False})
    return out


def contact_id_by_referral_code(code: str) -> int | None:
    """The contact whose referral code is ``code`` (trimmed, case-insensitive), or None."""
    return Contact.objects.filter(referral_code=code.strip().upper()).values_list("pk", flat=True).first()


# Prefixes a referral code may be printed or typed with ("AMB-K7MQ2XPA", "ref_K7MQ2XPA", "CODE K7MQ2XPA"):
# codes are stored bare (``services.identity.referral_code_new``); a bare code that happens to start with
# one of these letters is still found, since the code as typed is tried first.
REFERRAL_CODE_PREFIXES = ("AMB", "REF", "CODE", "PARRAIN")
# How far up a chain of referrers the loop check walks; referral chains are a few links long in practice,
# and a longer one is refused rather than walked without end.
REFERRAL_CHAIN_MAX_HOPS = 50
_REFERRAL_CODE_NOISE = str.maketrans("", "", " \t\n\r-_.:/#")


def referral_code_normalize(code: str | None) -> list[str]:
    """The stored codes a typed referral code may stand for, most literal first: upper case without spaces,
    dashes, dots or underscores, then the same without a printed prefix (``AMB``, ``REF``…). Empty when
    nothing is left."""
    bare = str(code or "").upper().translate(_REFERRAL_CODE_NOISE)
    if not bare or len(bare) > 32:
        return []
    candidates = [bare]
    for prefix in REFERRAL_CODE_PREFIXES:
        if bare.startswith(prefix) and len(bare) > len(prefix):
            candidates.append(bare[len(prefix):])
    return candidates


def referral_code_owner_id(code: str | None) -> int | None:
    """The live contact a typed referral code names (normalised as ``referral_code_normalize`` says; the
    survivor when the owner was merged), or None for an unknown code."""
    candidates = referral_code_normalize(code)
    if not candidates:
        return None
    owners = dict(Contact.objects.filter(referral_code__in=candidates).values_list("referral_code", "pk"))
    for candidate in candidates:
        if candidate in owners:
            owner = contact_id_resolve(owners[candidate])
            return owner if owner is not None and contacts_live().filter(pk=owner).exists() else None
    return None


class ReferralRefusal:
    """Why a typed referral code cannot make its owner the referrer of a contact (the ``code`` of the error)."""

    UNKNOWN_CODE = "unknown_referral_code"
    SELF_REFERRAL = "self_referral"
    ALREADY_REFERRED = "already_referred"
    LOOP = "referral_loop"


@dataclass(frozen=True)
class ReferralCheck:
    """What a typed referral code means for a contact: its owner (``referrer_id``, the stored ``code``),
    and ``refusal`` (a ``ReferralRefusal``) when it may not refer this contact. ``already`` is True when
    the contact's referrer is already this owner (accepted, nothing to change)."""

    code: str
    referrer_id: int | None
    refusal: str | None
    already: bool = False

    @property
    def reason(self) -> str:
        """The refusal in words, for an error message."""
        return {
            ReferralRefusal.UNKNOWN_CODE: "No ambassador has this referral code.",
            ReferralRefusal.SELF_REFERRAL: "This is the customer's own referral code: it is for their friends.",
            ReferralRefusal.ALREADY_REFERRED: "This customer was already referred by another ambassador.",
            ReferralRefusal.LOOP: "This ambassador was referred by this customer: a referral cannot go in a loop.",
        }.get(self.refusal or "", "")


def _referral_chain_reaches(start_id: int, target_id: int) -> bool:
    """True when ``target_id`` is ``start_id`` or one of its referrers, referrer's referrers… (or when the chain
    is longer than ``REFERRAL_CHAIN_MAX_HOPS`` or loops already: refused to be safe)."""
    seen: set[int] = set()
    current: int | None = start_id
    for _hop in range(REFERRAL_CHAIN_MAX_HOPS + 1):
        if current is None:
            return False
        if current == target_id or current in seen:
            return True
        seen.add(current)
        current = Contact.objects.filter(pk=current).values_list("referred_by_id", flat=True).first()
    return True


def referral_would_loop(*, contact_id: int, referrer_id: int) -> bool:
    """True when making ``referrer_id`` the referrer of ``contact_id`` would close a loop: the referrer is the
    contact, or was referred by them, directly or through a chain."""
    return _referral_chain_reaches(referrer_id, contact_id)


def referral_code_check(*, contact_id: int | None, code: str | None) -> ReferralCheck:
    """Whether the referral code ``code`` may make its owner the referrer of ``contact_id`` (None: a person
    not in the customer file yet, whom any known code may refer). Reads only: ``services.referral_code_apply``
    writes. Refused: an unknown code, the contact's own code, a contact referred by someone else, a loop
    (the owner was referred, directly or through a chain, by this contact)."""
    candidates = referral_code_normalize(code)
    owner_id = referral_code_owner_id(code)
    if owner_id is None:
        return ReferralCheck(candidates[0] if candidates else "", None, ReferralRefusal.UNKNOWN_CODE)
    stored = Contact.objects.filter(pk=owner_id).values_list("referral_code", flat=True).first() or ""
    if contact_id is None:
        return ReferralCheck(stored, owner_id, None)
    contact_id = contact_id_resolve(contact_id) or contact_id
    if owner_id == contact_id:
        return ReferralCheck(stored, owner_id, ReferralRefusal.SELF_REFERRAL)
    current = Contact.objects.filter(pk=contact_id).values_list("referred_by_id", flat=True).first()
    current = contact_id_resolve(current) if current else None
    if current == owner_id:
        return ReferralCheck(stored, owner_id, None, already=True)
    if current is not None:
        return ReferralCheck(stored, owner_id, ReferralRefusal.ALREADY_REFERRED)
    if _referral_chain_reaches(owner_id, contact_id):
        return ReferralCheck(stored, owner_id, ReferralRefusal.LOOP)
    return ReferralCheck(stored, owner_id, None)


def contact_last_id_created_before(before: datetime) -> int:
    """The highest id of the contacts created before ``before`` (0 when none): a starting cursor."""
    return (Contact.objects.filter(created_at__lt=before).order_by("-id").values_list("id", flat=True).first()
            or 0)


def contacts_live_after_id(*, after_id: int, limit: int) -> list[Contact]:
    """Up to ``limit`` live contacts with an id above ``after_id``, in id order (a cursor over new contacts)."""
    return list(contacts_live().filter(pk__gt=after_id).order_by("id")[:limit])


def contacts_created_between(*, start: datetime, end: datetime, include_merged: bool = False) -> QuerySet[Contact]:
    """Contacts created in ``[start, end)``, for counts of new people (leads, funnel entries).

    Erased contacts count (the person came, whatever they asked later); merge tombstones do not unless
    ``include_merged`` (a duplicate of someone already counted). A QuerySet to aggregate further.
    """
    qs = Contact.objects.filter(created_at__gte=start, created_at__lt=end)
    return qs if include_merged else qs.filter(merged_into__isnull=True)


def contact_stage_moves_between(*, start: datetime, end: datetime) -> list[tuple[datetime, str]]:
    """``(at, stage)`` of every lifecycle move recorded in ``[start, end)`` (from the timeline events)."""
    moves = []
    for at, data in ContactEvent.objects.filter(kind="lifecycle_changed", at__gte=start, at__lt=end).values_list(
            "at", "data"):
        stage = (data or {}).get("to")
        if stage:
            moves.append((at, stage))
    return moves


def contact_lifecycle_stage_counts() -> dict[str, int]:
    """``{stage: count}`` of the contacts that are not merge tombstones (erased ones keep their stage)."""
    return dict(Contact.objects.filter(merged_into__isnull=True).values("lifecycle_stage")
                .annotate(n=Count("pk")).order_by().values_list("lifecycle_stage", "n"))


@dataclass(frozen=True)
class ContactLifecycle:
    """A contact's lifecycle stage and whether staff locked it against automatic moves."""

    stage: str
    locked: bool


def contact_lifecycle_get(contact_id: int) -> ContactLifecycle | None:
    """The lifecycle stage of ``contact_id`` and its lock, or None when there is no such contact."""
    row = Contact.objects.filter(pk=contact_id).values_list("lifecycle_stage", "lifecycle_stage_locked").first()
    return None if row is None else ContactLifecycle(stage=row[0], locked=row[1])


def contacts_inactive_candidates(*, cutoff: datetime) -> QuerySet[Contact]:
    """Live contacts that may turn inactive: created and last seen before ``cutoff`` (or never seen),
    stage not locked by staff and not inactive already. The caller excludes those with recent orders
    or replies (ids it owns) and moves the rest."""
    return (contacts_live().filter(created_at__lt=cutoff, lifecycle_stage_locked=False)
            .exclude(lifecycle_stage=LifecycleStage.INACTIVE).exclude(last_seen_at__gte=cutoff))


@dataclass(frozen=True)
class ContactSummary:
    """What reports and messages show of a contact."""

    id: int
    name: str
    first_name: str
    last_name: str
    phone: str | None
    segment: str
    lifecycle_stage: str
    referral_code: str


def contact_summaries(contact_ids: Iterable[int]) -> dict[int, ContactSummary]:
    """``{id: ContactSummary}`` of the given contacts (missing ids are left out); one query."""
    ids = list(set(contact_ids))
    if not ids:
        return {}
    fields = ("pk", "name", "first_name", "last_name", "phone", "segment", "lifecycle_stage", "referral_code")
    return {row[0]: ContactSummary(*row) for row in Contact.objects.filter(pk__in=ids).values_list(*fields)}


def contact_segments(contact_ids: Iterable[int]) -> dict[int, str]:
    """``{id: segment}`` of the given contacts (missing ids are left out)."""
    ids = list(set(contact_ids))
    return dict(Contact.objects.filter(pk__in=ids).values_list("pk", "segment")) if ids else {}


def contact_referrer_id(contact_id: int) -> int | None:
    """The id of the contact who referred ``contact_id``, or None."""
    return Contact.objects.filter(pk=contact_id).values_list("referred_by_id", flat=True).first()


def contact_ids_referred_by(referrer_id: int) -> list[int]:
    """Ids of the contacts ``referrer_id`` referred (whoever arrived with their link or code)."""
    return list(Contact.objects.filter(referred_by_id=referrer_id).values_list("pk", flat=True).order_by("pk"))


def contact_referral_pairs() -> list[tuple[int, int]]:
    """``(contact_id, referrer_id)`` of every contact that was referred by another (merged-away contacts left
    out: their survivor carries the referral)."""
    return list(Contact.objects.filter(referred_by__isnull=False, merged_into__isnull=True)
                .values_list("pk", "referred_by_id"))


def contact_referral_code_counts() -> dict[int, int]:
    """``{referrer_id: n}``: how many of the contacts each referrer brought typed their referral code (bot
    link, m.me ref, WhatsApp text, order coupon, fair capture: ``services.referral_code_apply``)."""
    rows = (ContactEvent.objects.filter(kind="referred", contact__referred_by__isnull=False,
                                        contact__merged_into__isnull=True)
            .values("contact__referred_by_id").annotate(n=Count("contact_id", distinct=True)).order_by()
            .values_list("contact__referred_by_id", "n"))
    return {referrer: n for referrer, n in rows if referrer is not None}


def contacts_merged_into(contact_ids: Iterable[int]) -> list[int]:
    """Ids of the contacts that the merged ones among ``contact_ids`` were merged into (a merge keeps
    ``merged_into`` pointing at the final survivor)."""
    ids = list(set(contact_ids))
    if not ids:
        return []
    return sorted(set(Contact.objects.filter(pk__in=ids, merged_into__isnull=False)
                      .values_list("merged_into_id", flat=True)))


def contact_facts_sql() -> str:
    """A parenthesised SELECT over the contacts, for set-based SQL of other apps (PostgreSQL fast paths).

    Part of the published surface of the contacts app, like the functions above: another app joins
    this relation and never names the contacts table or its columns. Its columns, one row per contact
    (merge tombstones and erased ones included):

    - ``contact_id`` (bigint): the contact's id;
    - ``self_reported_source`` (text): what the person said brought them ('' when unknown);
    - ``segment`` (text): the target segment (``Segment``);
    - ``acquisition_channel`` (text): the channel the contact arrived through;
    - ``merged_into_id`` (bigint, NULL unless merged): the surviving contact.
    """
    return (f"(SELECT id AS contact_id, self_reported_source, segment, acquisition_channel, merged_into_id "
            f"FROM {Contact._meta.db_table})")


def contact_get(contact_id: int) -> Contact:
    """The contact ``contact_id`` (404 ``NotFoundError`` when there is none). Merge tombstones are
    returned as they are; see ``merged_into_id``."""
    contact = (Contact.objects.select_related("owner", "referred_by")
               .prefetch_related("tags", "consents", "identities").filter(pk=contact_id).first())
    if contact is None:
        raise NotFoundError(f"No contact #{contact_id}.")
    return contact


def contact_list() -> QuerySet[Contact]:
    """Active contacts with what the list shows, for the filter set of ``filters.ContactFilter``."""
    return contacts_live().select_related("owner").prefetch_related("tags", "identities")


def contact_attribute_values(contact_ids: list[int]) -> dict[int, dict[str, datetime | None]]:
    """``{contact_id: {attribute name: value or None}}``: what other apps registered
    (``registry.register_contact_attribute``), one query per attribute for all the ids."""
    attributes = contact_attributes()
    out: dict[int, dict[str, datetime | None]] = {cid: dict.fromkeys(attributes) for cid in contact_ids}
    if not contact_ids:
        return out
    for name, attribute in attributes.items():
        for cid, value in attribute.values(list(contact_ids)).items():
            if cid in out:
                out[cid][name] = value
    return out


def contacts_born_on(*, month: int, day: int) -> QuerySet[Contact]:
    """Live contacts born on ``day``/``month`` (any year), not opted out: whom a birthday message may
    greet today. Born on 29 February: greeted on 28 February in the years without a 29th (pass
    ``month=2, day=29`` on those days too, see ``birthday_days``)."""
    return (contacts_live().filter(birth_date__month=month, birth_date__day=day, opted_out_at__isnull=True)
            .order_by("pk"))


def birthday_days(today: date) -> list[tuple[int, int]]:
    """The ``(month, day)`` birthdays celebrated on ``today``: the day itself, and 29 February on
    28 February of a year without one."""
    days = [(today.month, today.day)]
    if (today.month, today.day) == (2, 28) and not calendar.isleap(today.year):
        days.append((2, 29))
    return days


def contact_can_receive(contact_id: int, channel: str) -> tuple[bool, str]:
    """Whether a marketing message may go to this contact on ``channel`` now, and why not.

    Checked at send time (rule 3). Reasons: ``ok``, ``no_such_contact``, ``erased``,
    ``opted_out``, ``no_identity``, ``no_consent``, ``consent_revoked``, ``unreachable``.
    A merge tombstone answers for the contact it was merged into.
    """
    resolved = contact_id_resolve(contact_id)
    contact = None if resolved is None else Contact.objects.filter(pk=resolved).first()
    consent = None if contact is None else Consent.objects.filter(contact=contact, channel=channel).first()
    return _can_receive(contact, consent, channel)


def contacts_can_receive(contact_ids: Iterable[int], channel: str) -> dict[int, tuple[bool, str]]:
    """``contact_can_receive`` for many contacts at once, ``{contact_id: (ok, reason)}``, in three queries
    whatever their number (the nurture dispatcher asks it for each claimed batch)."""
    ids = set(contact_ids)
    resolved = contact_ids_resolve(ids)
    identities = {field for fields in CHANNEL_IDENTITY.values() for field in fields}
    # Only the fields the rule reads: whole contacts cost more to build than the queries themselves.
    contacts = Contact.objects.only("erased_at", "opted_out_at", *identities).in_bulk(set(resolved.values()))
    consents = {c.contact_id: c for c in Consent.objects.filter(contact_id__in=contacts, channel=channel)
                .only("contact_id", "granted_at", "revoked_at", "unreachable_at")}
    return {cid: _can_receive(contacts.get(resolved.get(cid, 0)), consents.get(resolved.get(cid, 0)), channel)
            for cid in ids}


def _can_receive(contact: Contact | None, consent: Consent | None, channel: str) -> tuple[bool, str]:
    """The rule of ``contact_can_receive``, on the resolved contact and its consent on ``channel``."""
    if contact is None:
        return False, "no_such_contact"
    if contact.erased_at:
        return False, "erased"
    if contact.opted_out_at:
        return False, "opted_out"
    fields = CHANNEL_IDENTITY.get(channel)
    if fields is None:
        return False, "unknown_channel"
    if fields and not any(getattr(contact, f) for f in fields):
        return False, "no_identity"
    if consent is None or consent.granted_at is None:
        return False, "no_consent"
    if consent.revoked_at is not None:
        return False, "consent_revoked"
    if consent.unreachable_at is not None:
        return False, "unreachable"
    return True, "ok"


_AUDIENCE_KEYS = {"segment", "lifecycle_stage", "tags", "self_reported_source", "acquisition_channel", "city",
                  "channel"}


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list | tuple | set):
        return [str(v) for v in value]
    return [str(value)]


def contacts_audience(filters: dict[str, Any]) -> QuerySet[Contact]:
    """Active, not opted-out contacts matching ``filters`` (each value a string or a list of strings,
    any of which matches): ``segment``, ``lifecycle_stage``, ``tags`` (any tag), ``self_reported_source``,
    ``acquisition_channel``, ``city`` (case-insensitive), ``channel`` (has the identity for it), and
    the groupings other apps registered (``rfm_group``). An unknown key or grouping value is a 400, so
    that a campaign with a typo does not reach everyone.
    Consent is not checked here: use ``contact_can_receive`` at send time.
    """
    groupings = contact_groupings()
    unknown = set(filters) - _AUDIENCE_KEYS - set(groupings)
    if unknown:
        raise ApplicationError(f"Unknown audience filter: {', '.join(sorted(unknown))}.", code="validation_error",
                               errors=[field_error(k, "Unknown audience filter.") for k in sorted(unknown)])
    qs = contacts_live().filter(opted_out_at__isnull=True)
    for key in ("segment", "lifecycle_stage", "self_reported_source", "acquisition_channel"):
        values = _as_list(filters.get(key))
        if values:
            qs = qs.filter(**{f"{key}__in": values})
    cities = [c.lower() for c in _as_list(filters.get("city"))]
    if cities:
        qs = qs.alias(city_l=Lower("city")).filter(city_l__in=cities)
    tags = _as_list(filters.get("tags"))
    if tags:
        qs = qs.filter(pk__in=Contact.tags.through.objects.filter(tag__name__in=tags).values("contact_id"))
    for channel in _as_list(filters.get("channel")):
        qs = qs.filter(has_channel_q(channel))
    for name, grouping in groupings.items():
        values = _as_list(filters.get(name))
        wrong = sorted(set(values) - {value for value, _label in grouping.choices})
        if wrong:
            raise ApplicationError(f"Unknown {name}: {', '.join(wrong)}.", code="validation_error",
                                   errors=[field_error(name, f"One of: {', '.join(v for v, _ in grouping.choices)}.")])
        if values:
            qs = qs.filter(pk__in=grouping.contact_ids(values))
    return qs


def has_channel_q(channel: str) -> Q:
    """Contacts with an identity usable on ``channel``."""
    fields = CHANNEL_IDENTITY.get(channel)
    if fields is None:
        raise ApplicationError(f"Unknown channel {channel!r}.", code="validation_error",
                               errors=[field_error("channel", "Unknown channel.", "invalid_choice")])
    q = Q()
    for f in fields:
        q |= Q(**{f"{f}__isnull": False}) & ~Q(**{f: ""})
    return q if fields else Q()


# --- timeline -------------------------------------------------------------------------------------------


def contacts_own_timeline(contact_id: int, before: datetime | None, limit: int) -> list[TimelineEvent]:
    """The contacts app's own timeline source: its events (notes, merges, consents, stage moves,
    erase…) and the creation of the contact."""
    qs = ContactEvent.objects.filter(contact_id=contact_id)
    if before is not None:
        qs = qs.filter(at__lte=before)
    events = [
        TimelineEvent(at=e.at, kind=e.kind, summary=e.summary, source="contacts", ref=f"event:{e.pk:012d}",
                      data=e.data)
        for e in qs.order_by("-at", "-id")[:limit]
    ]
    created = Contact.objects.filter(pk=contact_id).values_list("created_at", flat=True).first()
    if created is not None and (before is None or created <= before):
        events.append(TimelineEvent(at=created, kind="created", summary="Contact created", source="contacts",
                                    ref="created", data={}))
    return events


def _encode_cursor(key: tuple[datetime, str, str]) -> str:
    raw = json.dumps([key[0].isoformat(), key[1], key[2]]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        at, source, ref = json.loads(base64.urlsafe_b64decode(padded.encode()))
        parsed = parse_datetime(at)
        if parsed is None:
            raise ValueError
        return parsed, str(source), str(ref)
    except (ValueError, TypeError, json.JSONDecodeError):
        raise ApplicationError("Invalid cursor.", code="validation_error",
                               errors=[field_error("cursor", "Invalid cursor.")]) from None


def contact_timeline(*, contact_id: int, cursor: str | None = None, limit: int = 50) -> tuple[list[TimelineEvent],
                                                                                          str | None]:
    """One page of the contact's timeline, newest first, merged from every registered source.

    Each source gives its newest ``limit + slack`` events at or before the cursor's time; events
    at or after the cursor key ``(at, source, ref)`` were shown already and are dropped; a k-way
    merge (``heapq.merge``) takes the page. Returns (events, cursor of the next page or None).
    """
    contact_get(contact_id)
    boundary = _decode_cursor(cursor) if cursor else None
    fetch = limit + 1 + _TIMELINE_TIE_SLACK
    streams = []
    for _name, source in timeline_sources().items():
        events = source(contact_id, boundary[0] if boundary else None, fetch)
        if boundary is not None:
            events = [e for e in events if e.sort_key < boundary]
        events.sort(key=lambda e: e.sort_key, reverse=True)
        streams.append(events)
    merged = list(islice(heapq.merge(*streams, key=lambda e: e.sort_key, reverse=True), limit + 1))
    page = merged[:limit]
    next_cursor = _encode_cursor(page[-1].sort_key) if len(merged) > limit and page else None
    return page, next_cursor


# --- duplicates, freshness ----------------------------------------------------------------------------


# Two numbers ending with the same 8 digits are probably one line: another prefix, an old 8-digit
# Cameroonian number, a WhatsApp number equal to another contact's phone.
SIMILAR_PHONE_DIGITS = 8


def contact_duplicate_groups(*, limit: int = 100) -> list[dict[str, Any]]:
    """Groups of contacts that are likely the same person, for staff to merge.

    - ``same_name_and_city``: the same name and city, ignoring case;
    - ``similar_phone``: phone or WhatsApp numbers whose last 8 digits match (the same number
      typed with another prefix, an old 8-digit Cameroonian number, a WhatsApp number equal to
      another contact's phone).
    """
    groups: list[dict[str, Any]] = []
    base = contacts_live()
    name_city = (base.exclude(name="").exclude(city="").annotate(n=Lower("name"), c=Lower("city"))
                 .values("n", "c").annotate(count=Count("id")).filter(count__gt=1).order_by("n", "c")[:limit])
    for row in name_city:
        members = list(base.annotate(n=Lower("name"), c=Lower("city")).filter(n=row["n"], c=row["c"])
                       .order_by("pk"))
        groups.append({"reason": "same_name_and_city", "key": f"{row['n']} / {row['c']}", "contacts": members})
    by_suffix: dict[str, set[int]] = defaultdict(set)
    for pk, phone, whatsapp in (base.filter(Q(phone__isnull=False) | Q(whatsapp__isnull=False))
                                .values_list("pk", "phone", "whatsapp").iterator(chunk_size=5000)):
        for number in {phone, whatsapp}:
            if number:
                by_suffix[number[-SIMILAR_PHONE_DIGITS:]].add(pk)
    suffix_groups = sorted((s, ids) for s, ids in by_suffix.items() if len(ids) > 1)
    for suffix, ids in suffix_groups[: max(0, limit - len(groups))]:
        groups.append({"reason": "similar_phone", "key": f"…{suffix}",
                       "contacts": list(Contact.objects.filter(pk__in=ids).order_by("pk"))})
    return groups[:limit]


def contacts_version() -> tuple[Any, ...]:
    """A fingerprint of the customer file for caches of figures counted over it (the reports' new
    contacts): ``(newest contact id, latest merge)``; it moves when a contact is added or merged
    away. Two index reads (merged contacts have a partial index of their own)."""
    newest = Contact.objects.aggregate(newest=Max("pk"))["newest"]
    return (newest, contacts_merged_version())


def contacts_merged_version() -> Any:
    """When the latest merge happened: what moves the counts of contacts created in a week that is
    over (a new contact only ever lands in the week in progress). One read of a partial index."""
    return Contact.objects.filter(merged_into__isnull=False).aggregate(last=Max("merged_at"))["last"]


def contact_duplicates_of(*, contact_id: int, limit: int = 20) -> list[Contact]:
    """The live contacts ``contact_duplicate_groups`` would put in a group with ``contact_id``: the
    same name and city (ignoring case), or a phone or WhatsApp number with the same last 8 digits.

    One query on this contact's own name, city and numbers (a scan of the contacts table, no
    grouping of the whole file): cheap enough to run after every quick add. Oldest first."""
    contact = contacts_live().filter(pk=contact_id).only("name", "city", "phone", "whatsapp").first()
    if contact is None:
        return []
    same = Q()
    if contact.name and contact.city:
        same |= Q(n=Lower(Value(contact.name)), c=Lower(Value(contact.city)))
    for number in {contact.phone, contact.whatsapp}:
        if number:
            suffix = number[-SIMILAR_PHONE_DIGITS:]
            same |= Q(phone__endswith=suffix) | Q(whatsapp__endswith=suffix)
    if not same:
        return []
    return list(contacts_live().alias(n=Lower("name"), c=Lower("city")).filter(same).exclude(pk=contact_id)
                .order_by("pk")[:limit])


def contacts_stale(*, now: datetime | None = None) -> QuerySet[Contact]:
    """Active contacts not verified for a year (never verified: created over a year ago)."""
    cutoff = (now or timezone.now()) - STALE_AFTER
    return (contact_list().alias(checked=Coalesce("last_verified_at", "created_at"))
            .filter(checked__lt=cutoff))


# --- privacy export -----------------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder, default=str))


def contact_privacy_export(contact_id: int) -> dict[str, Any]:
    """Everything stored about the person, as JSON-ready data, including what other apps
    registered (``registry.register_contact_relation``) under their label."""
    contact = contact_get(contact_id)
    profile = {f.attname: getattr(contact, f.attname) for f in contact._meta.concrete_fields}
    related: dict[str, Any] = {}
    for relation in contact_relations():
        if relation.exporter is not None:
            related[relation.label] = relation.exporter(contact.pk)
        else:
            related[relation.label] = list(relation.model._default_manager
                                           .filter(**{relation.field_name: contact.pk}).values())
    data = {
        "contact": profile,
        "tags": list(contact.tags.values_list("name", flat=True)),
        "consents": list(contact.consents.values("channel", "granted_at", "granted_how", "revoked_at",
                                                 "revoked_how", "unreachable_at", "unreachable_reason")),
        "notes": list(contact.notes.values("created_at", "text", "author__username")),
        "events": list(contact.events.order_by("at").values("at", "kind", "summary", "data")),
        "tasks": list(contact.tasks.values("kind", "due_at", "note", "outcome", "done_at")),
        "identities": contact_identities(contact.pk),
        "merged_contacts": list(ContactMerge.objects.filter(target=contact).values("created_at", "source_id",
                                                                                   "source_snapshot")),
        "related": related,
        "exported_at": timezone.now(),
    }
    return _jsonable(data)


# --- tasks, imports, export -----------------------------------------------------------------------


def tasks_list(*, user: Any, mine: bool = False, due: str | None = None, done: bool | None = None,
               contact_id: int | None = None) -> QuerySet[FollowUpTask]:
    """Follow-up tasks. ``due``: ``today`` (open tasks due by the end of today, Africa/Douala,
    overdue included: a salesperson's day), ``overdue`` (open, due before now), ``upcoming``
    (open, due after today)."""
    # Prefetched, not joined: a join made PostgreSQL hash every contact before it sorted and cut
    # the tasks (40 ms on 100,000 contacts); a prefetch reads only the contacts of the rows kept.
    qs = FollowUpTask.objects.prefetch_related("contact", "owner")
    if mine:
        qs = qs.filter(owner=user)
    if contact_id is not None:
        qs = qs.filter(contact_id=contact_id)
    if due:
        _start, end = day_bounds(business_today())
        qs = qs.filter(done_at__isnull=True)
        if due == "today":
            qs = qs.filter(due_at__lt=end)
        elif due == "overdue":
            qs = qs.filter(due_at__lt=timezone.now())
        elif due == "upcoming":
            qs = qs.filter(due_at__gte=end)
        else:
            raise ApplicationError("due must be today, overdue or upcoming.", code="validation_error",
                                   errors=[field_error("due", "Use today, overdue or upcoming.", "invalid_choice")])
    if done is not None:
        qs = qs.filter(done_at__isnull=not done)
    return qs


def import_job_get(job_id: int) -> ImportJob:
    """The import job ``job_id`` without its file (404 when there is none)."""
    job = ImportJob.objects.defer("data").filter(pk=job_id).first()
    if job is None:
        raise NotFoundError(f"No import job #{job_id}.")
    return job


def contacts_export_rows(qs: QuerySet[Contact]) -> Iterator[dict[str, Any]]:
    """Rows for the CSV export, read 2,000 at a time from a server-side cursor (PostgreSQL)."""
    for contact in qs.order_by("pk").prefetch_related("tags").iterator(chunk_size=2000):
        row = {f: getattr(contact, f) for f in ("id", "name", "phone", "whatsapp", "email", "city", "neighbourhood",
                                                 "segment", "lifecycle_stage", "acquisition_channel",
                                                 "self_reported_source", "telegram_username", "instagram",
                                                 "preferred_channel", "opted_out_at", "last_seen_at",
                                                 "last_verified_at", "created_at")}
        row["tags"] = ", ".join(t.name for t in contact.tags.all())
        yield row


def import_job_row_errors(job_id: int, *, limit: int = 1000) -> list[dict[str, Any]]:
    """The row report of import job ``job_id``: ``{"row", "column", "message"}`` by line of the file
    (the header is line 1), at most ``limit`` entries (a row may have one per bad cell)."""
    return [dict(e) for e in ImportRowError.objects.filter(job_id=job_id).order_by("row", "id")
            .values("row", "column", "message")[:limit]]
