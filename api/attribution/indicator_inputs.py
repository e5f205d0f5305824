"""Every read the CRM indicators (``api.attribution.indicators``) make of other apps' rows.

The orders, campaigns and contacts apps publish what is read here (``api.orders.facts``,
``api.campaigns.touches``, ``.selectors`` and ``.message_recipients``, ``api.contacts.selectors``);
this module is the one place the indicators meet them. Attribution may not import nurture (they stand
in the same layer), so the recipients of a campaign's messages come through the campaigns app's
registry (``api.campaigns.message_recipients``), which the sending app fills; without a source,
response rates and clicks per recipient are ``None`` and the report says so.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db.models import Count, Exists, F, Max, Min, OuterRef, Q, Sum, Value
from django.db.models.functions import Greatest

from api.attribution.models import RfmScore
from api.attribution.services import inputs
from api.campaigns import message_recipients, touches
from api.campaigns import selectors as campaigns
from api.campaigns.enums import TouchpointKind
from api.contacts import selectors as contacts
from api.orders import facts as orders

#: Touches that answer a message: the person wrote, opened the bot, or clicked a tracked link.
REPLY_KINDS = (TouchpointKind.INBOUND_MESSAGE.value, TouchpointKind.BOT_START.value,
               TouchpointKind.LINK_CLICK.value)


def campaign_recipients(start: datetime, end: datetime) -> dict[int, dict[int, datetime]] | None:
    """``{campaign_id: {contact_id: first message sent in [start, end)}}``, codes resolved to campaigns
    (unknown codes dropped); None when no source is registered."""
    sent = message_recipients.campaign_recipients_sent(start, end)
    if sent is None:
        return None
    by_code = campaigns.campaigns_by_code(codes={code for code, _, _ in sent if code})
    out: dict[int, dict[int, datetime]] = defaultdict(dict)
    for code, contact_id, at in sent:
        found = by_code.get(campaigns.normalize_code(code))
        if found is None:
            continue
        people = out[found[0]]
        if contact_id not in people or at < people[contact_id]:
            people[contact_id] = at
    return dict(out)


def _net() -> Greatest:
    """What a sale brought for the goods: its total less the delivery fee (never below 0)."""
    return Greatest(F("total_xaf") - F("delivery_fee_xaf"), Value(0))


def customer_sale_times(start: datetime, end: datetime) -> list[tuple[datetime | None, datetime | None]]:
    """For every contact with a sale before ``end``: ``(last sale before start, first sale in [start, end))``.
    One aggregate per contact in the database (~30,000 rows for the benchmark's 120,000 sales)."""
    return list(inputs.counted_orders().filter(created_at__lt=end).values("contact_id")
                .annotate(last=Max("created_at", filter=Q(created_at__lt=start)),
                          first=Min("created_at", filter=Q(created_at__gte=start)))
                .order_by().values_list("last", "first"))


def sales_between(start: datetime, end: datetime) -> tuple[int, int, int]:
    """``(sales, their net amount in XAF, customers)`` of the sales placed in ``[start, end)``."""
    row = inputs.counted_orders().filter(created_at__gte=start, created_at__lt=end).aggregate(
        n=Count("pk"), net=Sum(_net()), customers=Count("contact_id", distinct=True))
    return row["n"], int(row["net"] or 0), row["customers"]


def sales_version_until(end: datetime) -> tuple[Any, ...]:
    """What moves the sales placed before ``end``: ``(sales, latest change)`` of the sales created
    before ``end`` (a cancellation drops one, a refund or a new status changes the latest change)."""
    row = inputs.counted_orders().filter(created_at__lt=end).aggregate(n=Count("pk"), changed=Max("updated_at"))
    return (row["n"], row["changed"])


def file_version() -> tuple[Any, ...]:
    """What moves the customer file and its touches: ``(newest contact, latest merge, newest touch,
    newest lifecycle move)``; the last because a move is dated at its fact, possibly in a closed week."""
    return (*contacts.contacts_version(), campaigns.touches_version(), contacts.contact_stage_moves_version())


def stage_moves(start: datetime, end: datetime) -> list[tuple[datetime, str]]:
    """``(when, stage entered)`` of every lifecycle move in ``[start, end)`` (timeline events)."""
    return contacts.contact_stage_moves_between(start=start, end=end)


def stage_counts() -> dict[str, int]:
    """``{lifecycle stage: contacts}`` now."""
    return contacts.contact_lifecycle_stage_counts()


def reply_times(contact_ids: Iterable[int], since: datetime) -> dict[int, list[datetime]]:
    """``{contact_id: [when they wrote / opened the bot / clicked]}`` since ``since``."""
    times: dict[int, list[datetime]] = defaultdict(list)
    for fact in touches.touch_facts(contact_ids=list(contact_ids), kinds=REPLY_KINDS, since=since):
        times[fact.contact_id].append(fact.occurred_at)
    return dict(times)


def campaign_touch_counts(start: datetime, end: datetime) -> dict[int, dict[str, int]]:
    """``{campaign_id: {"clicks": link clicks, "replies": contacts who wrote / opened the bot with the
    campaign's code}}`` of the touches in ``[start, end)`` that carry a campaign."""
    out: dict[int, dict[str, int]] = defaultdict(lambda: {"clicks": 0, "replies": 0})
    rows = (touches.tracked_touchpoints().filter(occurred_at__gte=start, occurred_at__lt=end,
                                                 campaign_id__isnull=False, kind__in=REPLY_KINDS)
            .values("campaign_id", "kind").annotate(n=Count("pk"), people=Count("contact_id", distinct=True))
            .order_by().values_list("campaign_id", "kind", "n", "people"))
    for campaign_id, kind, n, people in rows:
        if kind == TouchpointKind.LINK_CLICK.value:
            out[campaign_id]["clicks"] += n
        else:
            out[campaign_id]["replies"] += people
    return dict(out)


def campaign_labels(ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """``{campaign_id: {pk, code, name, channel}}``."""
    return campaigns.campaign_labels(campaign_ids=ids)


def file_decay_counts(since: datetime, until: datetime) -> tuple[int, int, int]:
    """``(base, unreachable, stale)`` of ``indicators.file_decay``: the live contacts created before
    ``since``; those of them that opted out or had a channel found unreachable in ``[since, until)``;
    the others with no touch (stated sources too) and no order since ``since``. Three counts in the
    database; the stale one is an anti-join (NOT EXISTS) on the touch and order indexes by contact,
    not a NOT IN list, which PostgreSQL cannot hash once it passes ``work_mem`` (1M touches)."""
    base = contacts.contacts_live().filter(created_at__lt=since)
    unreachable_q = (base.filter(opted_out_at__gte=since, opted_out_at__lt=until)
                     | base.filter(consents__unreachable_at__gte=since, consents__unreachable_at__lt=until))
    # Few (a few in a hundred a year): a NOT IN list PostgreSQL hashes.
    unreachable_ids = unreachable_q.values("pk")
    touched = touches.touched_contacts_since(since=since).filter(contact_id=OuterRef("pk"))
    ordered = orders.contacts_ordering_since(since).filter(contact_id=OuterRef("pk"))
    stale = base.exclude(pk__in=unreachable_ids).filter(~Exists(touched), ~Exists(ordered))
    return base.count(), unreachable_q.values("pk").distinct().count(), stale.count()


def purchase_type_counts() -> dict[str, int]:
    """``{product category: customers}`` whose RFM type of purchase (``RfmScore.top_category``) it is."""
    return dict(RfmScore.objects.exclude(top_category="").values("top_category").annotate(n=Count("pk"))
                .order_by().values_list("top_category", "n"))


def category_spend(since: datetime, until: datetime) -> dict[int, dict[str, int]]:
    """``{contact_id: {category: net line total}}`` of the sales placed in ``[since, until]``: the
    category is the product's kind (``syrup``, ``liqueur``, ``other``) or ``gift_box`` for a coffret.
    One read of the order lines through the orders app's sales."""
    spend: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    rows = (inputs.counted_orders().filter(created_at__gte=since, created_at__lte=until)
            .values_list("contact_id", "lines__product__kind", "lines__gift_box_id", "lines__line_total_xaf")
            .order_by().iterator(chunk_size=5000))
    for contact_id, kind, gift_box_id, amount in rows:
        if amount is None:
            continue
        category = "gift_box" if gift_box_id else (kind or "other")
        spend[contact_id][category] += int(amount)
    return {contact: dict(by) for contact, by in spend.items()}
