"""Reads of the customer file: lookups, audiences, the timeline, duplicates, privacy export."""

from __future__ import annotations

import base64
import heapq
import json
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta
from itertools import islice
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Count, Q, QuerySet
from django.db.models.functions import Coalesce, Lower
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from api.common.errors import ApplicationError, NotFoundError, field_error
from api.contacts.enums import Channel
from api.contacts.models import Consent, Contact, ContactEvent, ContactMerge, FollowUpTask, ImportJob
from api.contacts.registry import TimelineEvent, contact_groupings, contact_relations, timeline_sources

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


def active_contacts() -> QuerySet[Contact]:
    """Contacts that are neither merge tombstones nor erased."""
    return Contact.objects.filter(merged_into__isnull=True, erased_at__isnull=True)


def contact_get(contact_id: int) -> Contact:
    """The contact ``contact_id`` (404 ``NotFoundError`` when there is none). Merge tombstones are
    returned as they are; see ``merged_into_id``."""
    contact = (Contact.objects.select_related("owner", "referred_by").prefetch_related("tags", "consents")
               .filter(pk=contact_id).first())
    if contact is None:
        raise NotFoundError(f"No contact #{contact_id}.")
    return contact


def contact_list() -> QuerySet[Contact]:
    """Active contacts with what the list shows, for the filter set of ``filters.ContactFilter``."""
    return active_contacts().select_related("owner").prefetch_related("tags")


def contact_can_receive(contact_id: int, channel: str) -> tuple[bool, str]:
    """Whether a marketing message may go to this contact on ``channel`` now, and why not.

    Checked at send time (rule 3). Reasons: ``ok``, ``no_such_contact``, ``erased``,
    ``opted_out``, ``no_identity``, ``no_consent``, ``consent_revoked``, ``unreachable``.
    A merge tombstone answers for the contact it was merged into.
    """
    contact = Contact.objects.filter(pk=contact_id).first()
    for _ in range(10):
        if contact is None or contact.merged_into_id is None:
            break
        contact = Contact.objects.filter(pk=contact.merged_into_id).first()
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
    consent = Consent.objects.filter(contact=contact, channel=channel).first()
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
    qs = active_contacts().filter(opted_out_at__isnull=True)
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


def contact_duplicate_groups(*, limit: int = 100) -> list[dict[str, Any]]:
    """Groups of contacts that are likely the same person, for staff to merge.

    - ``same_name_and_city``: the same name and city, ignoring case;
    - ``similar_phone``: phone or WhatsApp numbers whose last 8 digits match (the same number
      typed with another prefix, an old 8-digit Cameroonian number, a WhatsApp number equal to
      another contact's phone).
    """
    groups: list[dict[str, Any]] = []
    base = active_contacts()
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
                by_suffix[number[-8:]].add(pk)
    suffix_groups = sorted((s, ids) for s, ids in by_suffix.items() if len(ids) > 1)
    for suffix, ids in suffix_groups[: max(0, limit - len(groups))]:
        groups.append({"reason": "similar_phone", "key": f"…{suffix}",
                       "contacts": list(Contact.objects.filter(pk__in=ids).order_by("pk"))})
    return groups[:limit]


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
    from api.contacts.services import business_day_bounds

    qs = FollowUpTask.objects.select_related("contact", "owner")
    if mine:
        qs = qs.filter(owner=user)
    if contact_id is not None:
        qs = qs.filter(contact_id=contact_id)
    if due:
        start, end = business_day_bounds()
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
