"""The contact's timeline: the contacts app's own events and every registered source, merged by page."""

from __future__ import annotations

import base64
import heapq
import json
from datetime import datetime
from itertools import islice

from django.utils.dateparse import parse_datetime

from api.common.errors import ApplicationError, field_error
from api.contacts.models import Contact, ContactEvent
from api.contacts.registry import TimelineEvent, timeline_sources
from api.contacts.selectors.contacts import contact_get

# Extra events asked of each timeline source, so that events sharing the timestamp of the
# page boundary (already shown and dropped) do not make a page short.
_TIMELINE_TIE_SLACK = 20


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
