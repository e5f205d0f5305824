"""Every read the report selectors make of other apps' rows (campaigns, costs, touchpoints, contacts).

The campaigns and contacts apps own these rows and publish what other apps may read of them
(``api.campaigns.selectors``, ``api.campaigns.touches``, ``api.contacts.selectors``); the reports
read them only here, through those functions, so that a change in those apps meets the reports in
one place. The credits, runs, RFM scores and rewards the reports also read are attribution's own.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict
from datetime import date, datetime
from typing import Any

from django.db.models import Count, DateField, Max, OuterRef
from django.db.models.functions import TruncWeek

from api.campaigns import selectors as campaigns
from api.campaigns import touches
from api.common.businesstime import business_tz
from api.contacts import selectors as contacts


def campaign_labels(ids: Iterable[int | None]) -> dict[int, dict[str, Any]]:
    """``{campaign_id: {pk, code, name, channel}}`` of the campaigns ``ids``."""
    return campaigns.campaign_labels(campaign_ids=ids)


def daily_costs(first_day: date, end_day: date) -> Iterator[tuple[int, str, date, int]]:
    """``(campaign_id, campaign's channel, day, amount_xaf)`` summed per campaign and day, for the days
    ``first_day <= day < end_day``."""
    yield from campaigns.costs_per_campaign_day(since=first_day, until=end_day)


def costs_per_channel(first_day: date | None = None, end_day: date | None = None) -> dict[str, int]:
    """``{campaign channel: amount_xaf}`` over the days ``first_day <= day < end_day`` (every day when not
    given)."""
    if first_day is None or end_day is None:
        return campaigns.costs_per_channel()
    return campaigns.costs_per_channel(since=first_day, until=end_day)


def costs_version() -> tuple[Any, ...]:
    """A fingerprint of the costs the reports read (cost rows and the campaigns that place them)."""
    return campaigns.costs_version()


def leads_version() -> tuple[Any, ...]:
    """A fingerprint of what ``new_contacts_by_first_touch`` reads: it moves when a contact is added or
    merged away, or a touch is recorded (see the two apps' own ``*_version``)."""
    return (campaigns.touches_version(), *contacts.contacts_version())


def closed_weeks_leads_version(start: datetime, end: datetime) -> tuple[Any, ...]:
    """What moves ``new_contacts_by_first_touch(start, end)`` of weeks that are over: a contact created
    in them (an import can date one in the past) or a merge; unlike ``leads_version``, not every new
    contact or touch. A first touch recorded late for an older contact is not seen here (the cache that
    uses this bounds it in time). An index range count and a read of a partial index."""
    created = contacts.contacts_created_between(start=start, end=end, include_merged=True).aggregate(
        n=Count("pk"), newest=Max("pk"))
    return (created["n"], created["newest"], contacts.contacts_merged_version())


def new_contacts_by_first_touch(start: datetime, end: datetime) -> list[tuple[date, str | None, int]]:
    """``(business week's Monday, "campaign_id|channel" of the first tracked touch or None, contacts)``
    for the contacts created in ``[start, end)`` that were not merged away.

    The channel is the touch's by campaigns' one channel rule (``touches.touch_channel``). One indexed
    lookup per new contact (``touches.touch_first_key``), counted per business week and first touch
    in the database: no timestamp per contact to read.
    """
    return list(contacts.contacts_created_between(start=start, end=end)
                .annotate(week=TruncWeek("created_at", output_field=DateField(), tzinfo=business_tz()),
                          first_key=touches.touch_first_key(contact=OuterRef("pk")))
                .values("week", "first_key").annotate(n=Count("pk")).values_list("week", "first_key", "n")
                .order_by())


def contact_creation_times(start: datetime, end: datetime) -> list[datetime]:
    """When each contact created in ``[start, end)`` was created (merged ones too)."""
    return list(contacts.contacts_created_between(start=start, end=end, include_merged=True)
                .values_list("created_at", flat=True))


def lifecycle_changes(start: datetime, end: datetime) -> list[tuple[datetime, str]]:
    """``(when, stage entered)`` of every lifecycle change in ``[start, end)``."""
    return contacts.contact_stage_moves_between(start=start, end=end)


def tracked_touch_times(contact_ids: list[int]) -> Iterator[tuple[int, datetime]]:
    """``(contact_id, occurred_at)`` of every tracked touch (not a stated source) of ``contact_ids``."""
    for contact_id, times in touches.tracked_touch_times(contact_ids=contact_ids).items():
        for occurred_at in times:
            yield contact_id, occurred_at


def live_stage_counts() -> dict[str, int]:
    """``{lifecycle stage: contacts}`` over the contacts not merged away."""
    return contacts.contact_lifecycle_stage_counts()


def contact_segments(contact_ids: list[int]) -> dict[int, str]:
    """``{contact_id: segment}``."""
    return contacts.contact_segments(contact_ids)


def contact_cards(contact_ids: list[int]) -> dict[int, dict[str, Any]]:
    """``{contact_id: {pk, name, first_name, last_name, phone, segment, referral_code, lifecycle_stage}}``."""
    cards: dict[int, dict[str, Any]] = {}
    for contact_id, summary in contacts.contact_summaries(contact_ids).items():
        card = asdict(summary)
        card["pk"] = card.pop("id")
        cards[contact_id] = card
    return cards


def referrals() -> list[tuple[int, int]]:
    """``(contact_id, referred_by_id)`` of every referred contact."""
    return contacts.contact_referral_pairs()


def referrals_by_code() -> dict[int, int]:
    """``{referrer_id: n}``: the referred contacts who came with the referrer's typed code."""
    return contacts.contact_referral_code_counts()


def fixed_costs_per_week(first_monday: date, end_monday: date) -> dict[date, dict[str, int]]:
    """``{monday: {kind: amount_xaf}}``: the overheads (staff pay, delivery, other) of the weeks
    ``first_monday <= monday < end_monday``."""
    return campaigns.fixed_costs_per_week(since=first_monday, until=end_monday)


def fixed_costs_version() -> tuple[Any, ...]:
    """A fingerprint of the overheads the weekly report subtracts."""
    return campaigns.fixed_costs_version()
