"""Every read the report selectors make of other apps' rows (campaigns, costs, touchpoints, contacts).

The campaigns and contacts apps own these rows; the reports read them only here, each function
saying which columns it needs, so that a change in those apps meets the reports in one place. The
credits, runs, RFM scores and rewards the reports also read are attribution's own.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date, datetime
from typing import Any

from django.db.models import CharField, Count, DateField, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Cast, Coalesce, Concat, TruncWeek

from api.campaigns.enums import TouchpointKind
from api.campaigns.models import Campaign, CampaignCost, Touchpoint
from api.common.businesstime import business_tz
from api.contacts.models import Contact, ContactEvent

_CHUNK = 5000  # ids per ``IN (...)`` list: well under SQLite's limit of bound parameters


def campaign_labels(ids: Iterable[int | None]) -> dict[int, dict[str, Any]]:
    """``{campaign_id: {pk, code, name, channel}}`` of the campaigns ``ids``.
    Columns: ``campaigns_campaign`` id, code, name, channel."""
    wanted = {i for i in ids if i is not None}
    return {c["pk"]: dict(c) for c in Campaign.objects.filter(pk__in=wanted).values("pk", "code", "name", "channel")}


def campaign_channels() -> dict[int, str]:
    """``{campaign_id: channel}`` of every campaign. Columns: ``campaigns_campaign`` id, channel."""
    return dict(Campaign.objects.values_list("pk", "channel"))


def daily_costs(first_day: date, end_day: date) -> Iterator[tuple[int, str, date, int]]:
    """``(campaign_id, campaign's channel, day, amount_xaf)`` summed per campaign and day, for the days
    ``first_day <= day < end_day``. Columns: ``campaigns_campaigncost`` campaign_id, day, amount_xaf;
    ``campaigns_campaign.channel``."""
    rows = (CampaignCost.objects.filter(day__gte=first_day, day__lt=end_day)
            .values("campaign_id", "campaign__channel", "day").annotate(amount=Sum("amount_xaf")).order_by())
    for row in rows:
        yield row["campaign_id"], row["campaign__channel"], row["day"], row["amount"] or 0


def costs_per_channel(first_day: date | None = None, end_day: date | None = None) -> dict[str, int]:
    """``{campaign channel: amount_xaf}`` over the days ``first_day <= day < end_day`` (every day when not
    given). Columns: ``campaigns_campaigncost`` campaign_id, day, amount_xaf; ``campaigns_campaign.channel``."""
    costs = CampaignCost.objects.all()
    if first_day is not None and end_day is not None:
        costs = costs.filter(day__gte=first_day, day__lt=end_day)
    return dict(costs.values("campaign__channel").annotate(amount=Sum("amount_xaf")).order_by()
                .values_list("campaign__channel", "amount"))


def new_contacts_by_first_touch(start: datetime, end: datetime) -> list[tuple[date, str | None, int]]:
    """``(business week's Monday, "campaign_id|channel" of the first tracked touch or None, contacts)``
    for the live contacts created in ``[start, end)``.

    One indexed lookup per new contact on the touchpoint (contact, occurred_at) index, which returns
    both fields at once as "campaign|channel" (a subquery per field would repeat the lookup); counted
    per business week and first touch in the database: no timestamp per contact to read.
    Columns: ``contacts_contact`` id, created_at, merged_into_id; ``campaigns_touchpoint`` contact_id,
    kind, occurred_at, id, campaign_id, channel.
    """
    first = (Touchpoint.objects.filter(contact_id=OuterRef("pk")).exclude(kind=TouchpointKind.SELF_REPORTED_SOURCE)
             .order_by("occurred_at", "pk")
             .annotate(first_key=Concat(Coalesce(Cast("campaign_id", CharField()), Value("")), Value("|"), "channel",
                                        output_field=CharField()))
             .values("first_key")[:1])
    return list(Contact.objects.filter(created_at__gte=start, created_at__lt=end, merged_into__isnull=True)
                .annotate(week=TruncWeek("created_at", output_field=DateField(), tzinfo=business_tz()),
                          first_key=Subquery(first))
                .values("week", "first_key").annotate(n=Count("pk")).values_list("week", "first_key", "n")
                .order_by())


def contact_creation_times(start: datetime, end: datetime) -> list[datetime]:
    """When each contact created in ``[start, end)`` was created. Columns: ``contacts_contact.created_at``."""
    return list(Contact.objects.filter(created_at__gte=start, created_at__lt=end).values_list("created_at", flat=True))


def lifecycle_changes(start: datetime, end: datetime) -> list[tuple[datetime, str | None]]:
    """``(when, stage entered)`` of every lifecycle change in ``[start, end)``.
    Columns: ``contacts_contactevent`` kind, at, data (its ``to``)."""
    return [(at, (data or {}).get("to")) for at, data in
            ContactEvent.objects.filter(kind="lifecycle_changed", at__gte=start, at__lt=end).values_list("at", "data")]


def tracked_touch_times(contact_ids: list[int]) -> Iterator[tuple[int, datetime]]:
    """``(contact_id, occurred_at)`` of every tracked touch (not a stated source) of ``contact_ids``.
    Columns: ``campaigns_touchpoint`` contact_id, kind, occurred_at."""
    for chunk in range(0, len(contact_ids), _CHUNK):
        yield from (Touchpoint.objects.filter(contact_id__in=contact_ids[chunk:chunk + _CHUNK])
                    .exclude(kind=TouchpointKind.SELF_REPORTED_SOURCE)
                    .values_list("contact_id", "occurred_at"))


def live_stage_counts() -> dict[str, int]:
    """``{lifecycle stage: contacts}`` over the contacts not merged away.
    Columns: ``contacts_contact`` lifecycle_stage, merged_into_id."""
    return dict(Contact.objects.filter(merged_into__isnull=True).values("lifecycle_stage")
                .annotate(n=Count("pk")).order_by().values_list("lifecycle_stage", "n"))


def contact_segments(contact_ids: list[int]) -> dict[int, str]:
    """``{contact_id: segment}``. Columns: ``contacts_contact`` id, segment."""
    return dict(Contact.objects.filter(pk__in=contact_ids).values_list("pk", "segment")) if contact_ids else {}


def contact_cards(contact_ids: list[int]) -> dict[int, dict[str, Any]]:
    """``{contact_id: {pk, name, first_name, last_name, segment, referral_code, lifecycle_stage}}``.
    Columns: those of ``contacts_contact`` named."""
    return {c["pk"]: dict(c) for c in Contact.objects.filter(pk__in=contact_ids)
            .values("pk", "name", "first_name", "last_name", "segment", "referral_code", "lifecycle_stage")}


def referrals() -> list[tuple[int, int]]:
    """``(contact_id, referred_by_id)`` of every referred contact. Columns: ``contacts_contact`` id, referred_by_id."""
    return list(Contact.objects.filter(referred_by__isnull=False).values_list("pk", "referred_by_id"))
