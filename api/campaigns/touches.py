"""Touches as other apps read them: the channel rule and the windows of touches before an order.

Attribution credits each order to the touches of its contact in a window before it. What a touch's
channel is, which touches are tracked and which fall in a window are campaigns' rules, decided here
once, in three forms that agree (``tests/campaigns/test_touches.py`` proves it):

- Python: :func:`touch_channel`, :func:`touch_windows` (portable, any database), and its PostgreSQL
  twin with the same signature, :func:`touch_windows_pg`;
- the ORM: :func:`touch_channel_expression`, :func:`touch_first_key` (querysets other apps compose);
- PostgreSQL, set-based: :func:`pg_touch_window`, a join fragment with documented columns that a
  caller appends to its own relation of orders, so it never names campaigns' tables or columns.

The channel rule: a touch's channel is its campaign's channel; without a campaign, the channel its
kind stands for (a tasting visit is ``tasting``, a fair visit ``fair``, a referral ``referral``);
else the touchpoint's own channel; else ``unknown``. Stated sources (``self_reported_source``
touchpoints, what a customer said on a capture form) are not tracked touches: they are read on
their own with :func:`stated_sources`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import CharField, F, Q, QuerySet, Subquery, Value
from django.db.models.expressions import Case, Combinable, Expression, When
from django.db.models.functions import Cast, Coalesce, Concat, NullIf

from api.campaigns.enums import CampaignChannel, TouchpointKind
from api.campaigns.models import Campaign, Touchpoint

#: The channel of a touch that names none (no campaign, no channel): also the channel attribution
#: gives an order with no touch at all.
UNKNOWN_CHANNEL = "unknown"
#: Kinds of touch that stand for a campaign channel when the touch has no campaign.
KIND_CHANNELS: Mapping[str, str] = {
    TouchpointKind.TASTING_VISIT.value: CampaignChannel.TASTING.value,
    TouchpointKind.FAIR_VISIT.value: CampaignChannel.FAIR.value,
    TouchpointKind.REFERRAL.value: CampaignChannel.REFERRAL.value,
}
#: The kind of touchpoint that records a stated source: not a tracked touch.
STATED_SOURCE_KIND = TouchpointKind.SELF_REPORTED_SOURCE.value

#: A touch in a window: ``(occurred_us, touch_id, channel, campaign_id)``, the time in integer
#: microseconds since the epoch (attribution's ``engine.FastTouch``).
TouchTuple = tuple[int, int, str, "int | None"]
#: An order asking for its window: ``(order_id, contact_id, placed_us)``.
OrderKey = tuple[int, int, int]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)
_CHUNK = 5000  # ids per IN (...) list: far below SQLite's bound on query parameters


def _to_us(moment: datetime) -> int:
    return (moment - _EPOCH) // _ONE_US


# --- the channel rule ------------------------------------------------------------------------------


def touch_channel(*, campaign_channel: str | None, kind: str, channel: str | None,
                  unknown: str = UNKNOWN_CHANNEL) -> str:
    """The channel of a touch: its campaign's, else its kind's (``KIND_CHANNELS``), else its own, else ``unknown``.

    Empty strings count as missing. ``unknown`` is what a touch naming nothing gets.
    """
    return campaign_channel or KIND_CHANNELS.get(kind) or channel or unknown


def touch_channel_expression(*, touch: str = "") -> Expression:
    """:func:`touch_channel` as an ORM expression over a ``Touchpoint`` queryset.

    ``touch`` is the lookup path to the touchpoint (``""`` on a touchpoint queryset itself), so it
    also serves querysets that reach touchpoints through a relation.
    """
    prefix = f"{touch}__" if touch else ""
    by_kind = Case(*[When(**{f"{prefix}kind": kind}, then=Value(channel)) for kind, channel in KIND_CHANNELS.items()],
                   default=None, output_field=CharField())
    return Coalesce(NullIf(F(f"{prefix}campaign__channel"), Value("")), by_kind,
                    NullIf(F(f"{prefix}channel"), Value("")), Value(UNKNOWN_CHANNEL), output_field=CharField())


def _pg_touch_channel_sql(touch: str, campaign: str) -> str:
    """:func:`touch_channel` in SQL, for touchpoint alias ``touch`` and its campaign ``campaign``."""
    kinds = " ".join(f"WHEN '{kind}' THEN '{channel}'" for kind, channel in KIND_CHANNELS.items())
    return (f"COALESCE(NULLIF({campaign}.channel, ''), CASE {touch}.kind {kinds} END, "
            f"NULLIF({touch}.channel, ''), '{UNKNOWN_CHANNEL}')")


def tracked_touchpoints() -> QuerySet[Touchpoint]:
    """Every tracked touch: the touchpoints that are not stated sources."""
    return Touchpoint.objects.exclude(kind=STATED_SOURCE_KIND)


# --- windows of touches before orders -------------------------------------------------------------------


def touch_windows(*, orders: Iterable[OrderKey], lookback: timedelta) -> dict[int, list[TouchTuple]]:
    """The tracked touches in each order's window: ``{order_id: [TouchTuple, ...]}``, oldest first (ties by id).

    The window of an order placed at ``placed`` by a contact is that contact's tracked touches with
    ``placed - lookback <= occurred_at <= placed``, both ends included. Orders with an empty window
    are left out. Portable (any database): the contacts' touches in the orders' time span are read
    (per chunk of contacts, or in one range scan for many contacts) and filtered here.
    :func:`touch_windows_pg` is the same on PostgreSQL, found by the database.
    """
    keys = list(orders)
    if not keys:
        return {}
    lookback_us = lookback // _ONE_US
    contact_ids = sorted({contact_id for _, contact_id, _ in keys})
    earliest = _EPOCH + timedelta(microseconds=min(placed for _, _, placed in keys)) - lookback
    latest = _EPOCH + timedelta(microseconds=max(placed for _, _, placed in keys))
    in_span = tracked_touchpoints().filter(occurred_at__gte=earliest, occurred_at__lte=latest)
    if len(contact_ids) <= _CHUNK:
        chunks = [in_span.filter(contact_id__in=contact_ids)]
    else:
        chunks = [in_span]  # many contacts: one scan of the span, other contacts' touches skipped below
    wanted = set(contact_ids)
    touches: dict[int, list[TouchTuple]] = defaultdict(list)
    for qs in chunks:
        rows = (qs.values_list("pk", "contact_id", "campaign_id", "campaign__channel", "channel", "kind",
                               "occurred_at").order_by())
        for pk, contact_id, campaign_id, campaign_channel, channel, kind, occurred_at in rows:
            if contact_id in wanted:
                touches[contact_id].append((_to_us(occurred_at), pk, touch_channel(
                    campaign_channel=campaign_channel, kind=kind, channel=channel), campaign_id))
    for contact_touches in touches.values():
        contact_touches.sort(key=lambda t: (t[0], t[1]))
    windows: dict[int, list[TouchTuple]] = {}
    for order_id, contact_id, placed in keys:
        window = [t for t in touches.get(contact_id, ()) if placed - lookback_us <= t[0] <= placed]
        if window:
            windows[order_id] = window
    return windows


def touch_windows_pg(*, orders: Iterable[OrderKey], lookback: timedelta) -> dict[int, list[TouchTuple]]:
    """:func:`touch_windows` on PostgreSQL: the same arguments and result, the windows found by the database.

    One query: the orders travel as arrays and each window is an indexed lookup
    (:func:`pg_touch_window` with ``probe``). For orders that are rows of a table, a caller composes
    :func:`pg_touch_window` with its own relation instead.
    """
    keys = list(orders)
    if not keys:
        return {}
    # The orders' times are rebuilt exactly from integer microseconds (no float on the way).
    window = pg_touch_window(contact="o.contact_id",
                             placed="(timestamptz 'epoch' + o.placed_us * interval '1 microsecond')",
                             lookback=lookback, probe=True)
    sql = (f"SELECT o.id, {window.columns} "
           f"FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[]) AS o(id, contact_id, placed_us) {window.join} "
           f"ORDER BY o.id, {window.order}")
    windows: dict[int, list[TouchTuple]] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, [[o[0] for o in keys], [o[1] for o in keys], [o[2] for o in keys], *window.params])
        for order_id, at_us, touch_id, channel, campaign_id in cursor.fetchall():
            windows.setdefault(order_id, []).append((at_us, touch_id, channel, campaign_id))
    return windows


@dataclass(frozen=True)
class PgTouchWindow:
    """A join of each order to the tracked touches in its window, for a PostgreSQL query.

    Append ``join`` after the caller's FROM item of orders and select ``columns``; ``params`` are the
    values of ``join``'s placeholders, bound where ``join`` stands in the caller's SQL. ``columns``
    are, in :data:`TouchTuple` order:

    - ``touch_at_us`` (bigint): when the touch happened, microseconds since the epoch;
    - ``touch_id`` (bigint): the touch's id;
    - ``touch_channel`` (text): the touch's channel by :func:`touch_channel`;
    - ``touch_campaign_id`` (bigint, null): its campaign.

    ``order`` (``touch_at_us, touch_id``) sorts each window oldest first, ties by id. The fragment
    binds the table aliases ``touch`` and ``touch_campaign``: the caller's query must not use them.
    An order with no touch in its window gives no row (an inner join).
    """

    join: str
    columns: str
    params: list[Any]
    order: str = "touch_at_us, touch_id"


def pg_touch_window(*, contact: str, placed: str, lookback: timedelta, probe: bool) -> PgTouchWindow:
    """The PostgreSQL form of :func:`touch_windows` for the caller's orders, given as SQL expressions.

    ``contact`` and ``placed`` are the caller's SQL for an order's contact id and placing time
    (``timestamptz``), e.g. ``o.contact_id`` and ``o.created_at``. The window is
    ``placed - lookback <= occurred_at <= placed`` over tracked touches of that contact.

    ``probe=True`` looks each order's window up in the touchpoint (contact, time) index (a lateral
    subquery kept apart with ``OFFSET 0``, so the planner does not hash every touchpoint): its cost
    follows the number of orders asked for. ``probe=False`` is one hash join over every touchpoint,
    the fastest when most orders are asked for. Campaigns are joined to the touches found.
    """
    at = "(EXTRACT(EPOCH FROM touch.occurred_at) * 1000000)::bigint"
    window = (f"touch.contact_id = {contact} AND touch.occurred_at <= {placed} "
              f"AND touch.occurred_at >= {placed} - make_interval(secs => %s) "
              f"AND touch.kind <> '{STATED_SOURCE_KIND}'")
    touchpoints, campaigns = Touchpoint._meta.db_table, Campaign._meta.db_table
    channel = _pg_touch_channel_sql("touch", "touch_campaign")
    with_campaign = f"LEFT JOIN {campaigns} touch_campaign ON touch_campaign.id = touch.campaign_id"
    if probe:
        join = (f"CROSS JOIN LATERAL (SELECT {at} AS at, touch.id, touch.kind, touch.channel, touch.campaign_id "
                f"FROM {touchpoints} touch WHERE {window} OFFSET 0) touch {with_campaign}")
        at_column = "touch.at"
    else:
        join = f"JOIN {touchpoints} touch ON {window} {with_campaign}"
        at_column = at
    columns = (f"{at_column} AS touch_at_us, touch.id AS touch_id, {channel} AS touch_channel, "
               f"touch.campaign_id AS touch_campaign_id")
    return PgTouchWindow(join=join, columns=columns, params=[lookback.total_seconds()])


# --- other reads of touches ---------------------------------------------------------------------------------


def stated_sources(*, contact_ids: Sequence[int] | None = None,
                   contact_range: tuple[int, int] | None = None) -> list[tuple[int, str]]:
    """What contacts said brought them, as recorded on capture forms: ``[(contact_id, text), ...]`` oldest first.

    The text is the touch's ``details.self_reported_source``, else its channel by
    :func:`touch_channel` (``""`` when it names none). For ``contact_ids``, or the contacts
    ``lo <= id <= hi`` of ``contact_range``, or everyone. Reads the partial index of stated sources.
    """
    qs = Touchpoint.objects.filter(kind=STATED_SOURCE_KIND)
    if contact_ids is not None:
        qs = qs.filter(contact_id__in=contact_ids)
    if contact_range is not None:
        qs = qs.filter(contact_id__gte=contact_range[0], contact_id__lte=contact_range[1])
    rows = qs.order_by("occurred_at", "pk").values_list("contact_id", "details", "campaign__channel", "channel")
    return [(contact_id, str((details or {}).get("self_reported_source")
                             or touch_channel(campaign_channel=campaign_channel, kind=STATED_SOURCE_KIND,
                                              channel=channel, unknown="")))
            for contact_id, details, campaign_channel, channel in rows]


def touch_first_key(*, contact: Combinable | str) -> Subquery:
    """A subquery: the first tracked touch of the contact ``contact`` (an ``OuterRef``) as ``"campaign_id|channel"``.

    ``campaign_id`` is empty without a campaign; the channel is :func:`touch_channel`'s. NULL for a
    contact with no tracked touch. One indexed lookup per contact (touchpoint contact, time index).
    """
    first = (tracked_touchpoints().filter(contact_id=contact).order_by("occurred_at", "pk")
             .annotate(first_key=Concat(Coalesce(Cast("campaign_id", CharField()), Value("")), Value("|"),
                                        touch_channel_expression(), output_field=CharField()))
             .values("first_key")[:1])
    return Subquery(first, output_field=CharField())


def tracked_touch_times(*, contact_ids: Iterable[int]) -> dict[int, list[datetime]]:
    """When each of ``contact_ids`` was touched: ``{contact_id: [occurred_at, ...]}`` (tracked touches, no order)."""
    ids = sorted(set(contact_ids))
    times: dict[int, list[datetime]] = defaultdict(list)
    for start in range(0, len(ids), _CHUNK):
        for contact_id, occurred_at in (tracked_touchpoints().filter(contact_id__in=ids[start:start + _CHUNK])
                                        .values_list("contact_id", "occurred_at").order_by()):
            times[contact_id].append(occurred_at)
    return dict(times)


def touched_contact_ids_changed_since(*, since: datetime) -> set[int]:
    """Contacts with a touchpoint written (created or updated) after ``since``: what an incremental run redoes."""
    return set(Touchpoint.objects.filter(Q(updated_at__gt=since) | Q(created_at__gt=since))
               .values_list("contact_id", flat=True).distinct())


def touched_contacts_since(*, since: datetime, kinds: Iterable[str] | None = None,
                           recorded_since: datetime | None = None) -> QuerySet[Touchpoint, Any]:
    """A ``contact_id`` subquery of the contacts with any touch (stated sources too) at or after ``since``.

    ``kinds`` keeps only the touches of those kinds; ``recorded_since`` only the touches written at or
    after it (the ``created_at`` index then bounds the scan to the newest rows, whatever their
    ``occurred_at``). For ``.exclude(pk__in=...)`` / ``.filter(pk__in=...)`` on contact ids, evaluated
    by the database.
    """
    qs = Touchpoint.objects.filter(occurred_at__gte=since)
    if kinds is not None:
        qs = qs.filter(kind__in=list(kinds))
    if recorded_since is not None:
        qs = qs.filter(created_at__gte=recorded_since)
    return qs.values("contact_id")


@dataclass(frozen=True)
class TouchFact:
    """One touch as another app's rules read it (attribution's lifecycle rules)."""

    contact_id: int
    kind: str  #: a ``TouchpointKind`` value
    channel: str  #: the touchpoint's own channel (``whatsapp``, ``telegram``, ``in_person``, ``web``...)
    occurred_at: datetime
    text: str  #: what the person wrote, for a message (``details.text``); ``""`` otherwise


def touch_facts(*, contact_ids: Sequence[int], kinds: Iterable[str], since: datetime) -> list[TouchFact]:
    """The touches of ``kinds`` of ``contact_ids`` that occurred at or after ``since``, oldest first (ties by id).

    One indexed read per chunk of contacts (touchpoint contact, time index).
    """
    ids = sorted(set(contact_ids))
    wanted = list(kinds)
    facts: list[TouchFact] = []
    for start in range(0, len(ids), _CHUNK):
        rows = (Touchpoint.objects.filter(contact_id__in=ids[start:start + _CHUNK], kind__in=wanted,
                                          occurred_at__gte=since)
                .order_by("occurred_at", "pk").values_list("contact_id", "kind", "channel", "occurred_at", "details"))
        facts.extend(TouchFact(contact_id, kind, channel or "", occurred_at, str((details or {}).get("text") or ""))
                     for contact_id, kind, channel, occurred_at, details in rows)
    facts.sort(key=lambda fact: fact.occurred_at)
    return facts
