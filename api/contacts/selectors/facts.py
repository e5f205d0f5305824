"""What other apps count over the customer file: new contacts, stage moves, summaries, segments, the
facts relation of their set-based SQL, and the fingerprints of their caches."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Count, Max, QuerySet

from api.contacts.enums import LifecycleStage
from api.contacts.models import Contact, ContactEvent
from api.contacts.selectors.contacts import contacts_live


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


def contacts_version() -> tuple[Any, ...]:
    """A fingerprint of the customer file for caches of figures counted over it (the reports' new
    contacts): ``(newest contact id, latest merge)``; it moves when a contact is added or merged
    away. Two index reads (merged contacts have a partial index of their own)."""
    newest = Contact.objects.aggregate(newest=Max("pk"))["newest"]
    return (newest, contacts_merged_version())


def contact_stage_moves_version() -> Any:
    """The newest lifecycle move (its event id): it moves when a contact changes stage, including a move
    dated back to the fact behind it, which a fingerprint of dates would miss. One partial-index read."""
    return ContactEvent.objects.filter(kind="lifecycle_changed").aggregate(newest=Max("pk"))["newest"]


def contacts_merged_version() -> Any:
    """When the latest merge happened: what moves the counts of contacts created in a week that is
    over (a new contact only ever lands in the week in progress). One read of a partial index."""
    return Contact.objects.filter(merged_into__isnull=False).aggregate(last=Max("merged_at"))["last"]
