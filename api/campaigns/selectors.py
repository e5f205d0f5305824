"""Reads of the campaigns app: campaigns by code, tracking links, touchpoints, messaging windows, costs.

Touch windows and the touch-channel rule other apps read live in ``api.campaigns.touches``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.db.models import BigIntegerField, Count, Max, OuterRef, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from api.campaigns import conf
from api.campaigns.enums import TouchpointKind
from api.campaigns.models import (
    Campaign,
    CampaignCost,
    Coupon,
    FacebookCampaign,
    FixedCost,
    LinkClick,
    PageAudienceDay,
    Touchpoint,
)
from api.contacts.enums import Channel
from api.contacts.registry import TimelineEvent

# What Telegram accepts in a deep-link start parameter, and Messenger in a ref: letters, digits, _ and -.
CODE_RE = re.compile(r"^[A-Za-z0-9_-]{3,32}$")
# The WhatsApp prefilled text ends with "Code <CODE>"; people may retype it in lower case.
_TEXT_CODE_RE = re.compile(r"\bcode\s*[:#]?\s*([A-Za-z0-9_-]{3,32})", re.IGNORECASE)

# Messenger: Meta's standard messaging window is 24 h after the person's last message; a
# conversation opened from a click-to-Messenger ad may be answered for 7 days.
MESSENGER_WINDOW = timedelta(hours=24)
CTM_AD_WINDOW = timedelta(days=7)
WHATSAPP_WINDOW = timedelta(hours=24)
_WINDOW_KINDS = (TouchpointKind.INBOUND_MESSAGE, TouchpointKind.AD_REFERRAL, TouchpointKind.LINK_CLICK,
                 TouchpointKind.BOT_START)


def normalize_code(code: str | None) -> str:
    """Tracking and coupon codes are compared in upper case, without surrounding spaces."""
    return (code or "").strip().upper()


def campaign_get_by_code(code: str | None) -> Campaign | None:
    """Return the campaign whose tracking code is ``code`` (case-insensitive), or None."""
    normalized = normalize_code(code)
    if not normalized:
        return None
    return Campaign.objects.filter(code=normalized).first()


def campaign_resolve_code(code: str | None) -> Campaign | None:
    """Return the campaign named by ``code``: a campaign tracking code first, else a coupon code.

    Used by the Telegram bot (``/start <code>``), the webhooks and attribution (an order's coupon).
    """
    campaign = campaign_get_by_code(code)
    if campaign is not None:
        return campaign
    normalized = normalize_code(code)
    if not normalized:
        return None
    coupon = Coupon.objects.select_related("campaign").filter(code=normalized).first()
    return coupon.campaign if coupon else None


def campaign_find_code_in_text(text: str | None) -> Campaign | None:
    """Find the campaign whose code follows "Code" in a message (the WhatsApp prefilled text)."""
    for match in _TEXT_CODE_RE.finditer(text or ""):
        campaign = campaign_resolve_code(match.group(1))
        if campaign is not None:
            return campaign
    return None


def campaign_for_facebook_ids(*, ad_id: str | None = None, campaign_id: str | None = None) -> Campaign | None:
    """The campaign that claims a Facebook campaign id, or lists an ad id in ``facebook_ad_ids``."""
    if campaign_id:
        fb = FacebookCampaign.objects.select_related("campaign").filter(facebook_id=str(campaign_id)).first()
        if fb is not None and fb.campaign is not None:
            return fb.campaign
    if ad_id:
        # Few campaigns list ad ids; a scan in Python works on SQLite and PostgreSQL alike.
        for campaign in Campaign.objects.exclude(facebook_ad_ids=[]).only("id", "facebook_ad_ids"):
            if str(ad_id) in {str(x) for x in campaign.facebook_ad_ids or []}:
                return Campaign.objects.get(pk=campaign.pk)
        fb = FacebookCampaign.objects.select_related("campaign").filter(facebook_id=str(ad_id)).first()
        if fb is not None and fb.campaign is not None:
            return fb.campaign
    return None


def campaign_list() -> QuerySet[Campaign]:
    """Campaigns with their click count and total cost (subqueries: no join fan-out)."""
    clicks = (LinkClick.objects.filter(campaign=OuterRef("pk")).order_by().values("campaign")
              .annotate(n=Count("id")).values("n"))
    costs = (CampaignCost.objects.filter(campaign=OuterRef("pk")).order_by().values("campaign")
             .annotate(total=Sum("amount_xaf")).values("total"))
    return Campaign.objects.annotate(
        click_count=Coalesce(Subquery(clicks, output_field=BigIntegerField()), Value(0)),
        total_cost_xaf=Coalesce(Subquery(costs, output_field=BigIntegerField()), Value(0)),
    )


def campaign_stats(campaign: Campaign) -> dict[str, Any]:
    """Clicks, touchpoints and costs of one campaign (separate queries: no join fan-out)."""
    costs = CampaignCost.objects.filter(campaign=campaign)
    return {
        "clicks": LinkClick.objects.filter(campaign=campaign).count(),
        "touchpoints": Touchpoint.objects.filter(campaign=campaign).count(),
        "contacts": Touchpoint.objects.filter(campaign=campaign).values("contact_id").distinct().count(),
        "cost_xaf": costs.aggregate(total=Sum("amount_xaf"))["total"] or 0,
        "cost_by_kind": {row["kind"]: row["total"] for row in
                         costs.values("kind").annotate(total=Sum("amount_xaf")).order_by("kind")},
    }


def whatsapp_prefill_text(code: str) -> str:
    """The prefilled text of the WhatsApp click-to-chat link of ``code`` (``WHATSAPP_PREFILL_TEXT``)."""
    return conf.WHATSAPP_PREFILL_TEXT.replace("{code}", code)


def campaign_links(campaign: Campaign) -> dict[str, str]:
    """The tracked links of a campaign, built from its code and the configured bot, Page and number."""
    code = campaign.code
    base = settings.PUBLIC_BASE_URL.rstrip("/")
    number = re.sub(r"\D", "", settings.WHATSAPP_BUSINESS_NUMBER or "")
    return {
        "redirect": f"{base}/r/{code}",
        "telegram": f"https://t.me/{settings.TELEGRAM_BOT_USERNAME}?start={code}",
        "messenger": f"https://m.me/{settings.META_PAGE_USERNAME}?ref={code}",
        "whatsapp": f"https://wa.me/{number}?text={quote(whatsapp_prefill_text(code))}",
    }


def campaign_redirect_target(campaign: Campaign, to: str | None = None) -> tuple[str, str]:
    """Where ``/r/<code>`` sends a visitor: ``(target name, url)``.

    ``to`` (``telegram``, ``messenger``, ``whatsapp``) picks a link; otherwise the campaign's landing
    URL; otherwise ``CAMPAIGN_REDIRECT_DEFAULT`` (a link name or an absolute URL).
    """
    links = campaign_links(campaign)
    if to in ("telegram", "messenger", "whatsapp"):
        return to, links[to]
    if campaign.landing_url:
        return "landing", campaign.landing_url
    default = conf.CAMPAIGN_REDIRECT_DEFAULT
    if default in ("telegram", "messenger", "whatsapp"):
        return default, links[default]
    return "default", default


def messaging_window_until(*, contact_id: int, channel: str, now: datetime | None = None) -> datetime | None:
    """When the free-form messaging window with this contact closes on ``channel``, or None if closed.

    Messenger: 24 h after the person's last inbound message or referral, 7 days when that touch came
    from a click-to-Messenger ad (``details.ctm_ad``). WhatsApp: 24 h after the last inbound message
    (a click-to-WhatsApp referral is an inbound message). Other channels have no window: None.
    Reads touchpoints only; returns None when the window is already closed or never opened.
    """
    return messaging_windows_until(contact_ids=[contact_id], channel=channel, now=now).get(contact_id)


def messaging_windows_until(*, contact_ids: Iterable[int], channel: str,
                            now: datetime | None = None) -> dict[int, datetime]:
    """``messaging_window_until`` for many contacts in one query: contact id -> when its open window
    closes; contacts whose window is closed (or never opened) are absent. The dispatcher reads a
    claimed batch's windows at once."""
    now = now or timezone.now()
    if channel == Channel.MESSENGER:
        horizon = CTM_AD_WINDOW
    elif channel == Channel.WHATSAPP:
        horizon = WHATSAPP_WINDOW
    else:
        return {}
    recent = (Touchpoint.objects.filter(contact_id__in=set(contact_ids), channel=channel, kind__in=_WINDOW_KINDS,
                                        occurred_at__gt=now - horizon)
              .values_list("contact_id", "occurred_at", "details"))
    until: dict[int, datetime] = {}
    for contact_id, occurred_at, details in recent:
        if channel == Channel.MESSENGER:
            span = CTM_AD_WINDOW if (details or {}).get("ctm_ad") else MESSENGER_WINDOW
        else:
            span = WHATSAPP_WINDOW
        end = occurred_at + span
        if end > now and (contact_id not in until or end > until[contact_id]):
            until[contact_id] = end
    return until


def touchpoints_for_contact(contact_id: int, until: datetime | None = None) -> list[Touchpoint]:
    """Touchpoints of a contact that happened at or before ``until`` (all when None), oldest first.

    Attribution calls it with the time of an order to get the touches that led to it.
    """
    qs = Touchpoint.objects.filter(contact_id=contact_id).select_related("campaign")
    if until is not None:
        qs = qs.filter(occurred_at__lte=until)
    return list(qs.order_by("occurred_at", "id"))


def touchpoint_timeline(contact_id: int, before: datetime | None, limit: int) -> list[Any]:
    """Timeline source for contacts: the contact's touchpoints, newest first, ``at <= before``."""
    qs = Touchpoint.objects.filter(contact_id=contact_id).select_related("campaign")
    if before is not None:
        qs = qs.filter(occurred_at__lte=before)
    events = []
    for tp in qs.order_by("-occurred_at", "-id")[:limit]:
        label = tp.get_kind_display()
        where = f" ({tp.campaign.code})" if tp.campaign else ""
        events.append(TimelineEvent(
            at=tp.occurred_at, kind=f"touchpoint.{tp.kind}", summary=f"{label} on {tp.channel}{where}",
            source="campaigns.touchpoint", ref=f"{tp.pk:012d}",
            data={"touchpoint_id": tp.pk, "channel": tp.channel, "campaign_id": tp.campaign_id,
                  "campaign_code": tp.campaign.code if tp.campaign else None},
        ))
    return events


def facebook_campaign_list(*, mapped: bool | None = None) -> QuerySet[FacebookCampaign]:
    """Facebook campaigns with their total spend in XAF; ``mapped=False`` lists those no campaign claims."""
    qs = FacebookCampaign.objects.select_related("campaign").annotate(
        spend_xaf=Sum("days__spend_xaf"), days_count=Count("days"))
    if mapped is True:
        qs = qs.filter(campaign__isnull=False)
    elif mapped is False:
        qs = qs.filter(campaign__isnull=True)
    return qs


def page_audience_list(*, metric: str | None = None) -> QuerySet[PageAudienceDay]:
    """The stored daily values of the Page metrics, of ``metric`` only when given."""
    qs = PageAudienceDay.objects.all()
    if metric:
        qs = qs.filter(metric=metric)
    return qs


def touchpoint_exists(provider_event_id: str) -> bool:
    """Whether the provider event ``provider_event_id`` is already stored as a touchpoint."""
    return Touchpoint.objects.filter(provider_event_id=provider_event_id).exists()


def costs_query(*, campaign_id: int | None = None) -> QuerySet[CampaignCost]:
    """Costs with their campaign, of ``campaign_id`` only when given."""
    qs = CampaignCost.objects.select_related("campaign")
    if campaign_id is not None:
        qs = qs.filter(campaign_id=campaign_id)
    return qs



def touchpoints_export(contact_id: int) -> list[dict[str, Any]]:
    """The contact's touchpoints for its privacy export (contacts' registry), oldest first."""
    return [
        {"id": t.pk, "campaign": t.campaign.code if t.campaign else None, "channel": t.channel, "kind": t.kind,
         "occurred_at": t.occurred_at.isoformat(), "details": t.details}
        for t in Touchpoint.objects.filter(contact_id=contact_id).select_related("campaign").order_by("occurred_at")
    ]


# --- what other apps read of campaigns and their costs ----------------------------------------------------


def campaign_labels(*, campaign_ids: Iterable[int | None]) -> dict[int, dict[str, Any]]:
    """``{campaign_id: {"pk", "code", "name", "channel"}}`` of the given campaigns (None and unknown ids skipped)."""
    wanted = {i for i in campaign_ids if i is not None}
    return {c["pk"]: dict(c) for c in Campaign.objects.filter(pk__in=wanted).values("pk", "code", "name", "channel")}


def campaigns_by_code(*, codes: Iterable[str | None]) -> dict[str, tuple[int, str]]:
    """``{CODE: (campaign_id, campaign channel)}`` for the tracking codes and coupon codes among ``codes``.

    Codes are compared like ``normalize_code`` does (trimmed, upper case); a campaign's tracking
    code wins over a coupon with the same code. Unknown and empty codes are left out. Two queries.
    """
    wanted = {normalize_code(c) for c in codes if c and c.strip()}
    if not wanted:
        return {}
    found = {code: (pk, channel) for code, pk, channel in
             Campaign.objects.filter(code__in=wanted).values_list("code", "pk", "channel")}
    for code, pk, channel in Coupon.objects.filter(code__in=wanted - set(found)).values_list(
            "code", "campaign_id", "campaign__channel"):
        found[code] = (pk, channel)
    return found


def costs_per_campaign_day(*, since: date, until: date) -> list[tuple[int, str, date, int]]:
    """Costs summed per campaign and day, ``since <= day < until``: ``[(campaign_id, channel, day, amount_xaf)]``.

    ``channel`` is the campaign's; days are business days (a cost's ``day``). In no order.
    """
    rows = (CampaignCost.objects.filter(day__gte=since, day__lt=until)
            .values("campaign_id", "campaign__channel", "day").annotate(amount=Sum("amount_xaf")).order_by()
            .values_list("campaign_id", "campaign__channel", "day", "amount"))
    return [(campaign_id, channel, day, int(amount or 0)) for campaign_id, channel, day, amount in rows]


def report_inputs_version() -> tuple[Any, ...]:
    """What the reports read of this app, as a fingerprint that moves when a cost row is added, changed
    or deleted, a campaign is changed (its channel decides where its costs go) or a touch is recorded:
    ``(cost rows, their latest change, latest campaign change, newest touchpoint id)``. Three indexed
    or small reads; a touch changed in place (a merge moving it) does not move it."""
    return (*costs_version(), touches_version())


def costs_version() -> tuple[Any, ...]:
    """The costs part of ``report_inputs_version``: ``(cost rows, their latest change, latest campaign
    change)``; a campaign's change counts because its channel decides where its costs go."""
    costs = CampaignCost.objects.aggregate(n=Count("pk"), changed=Max("updated_at"))
    return (costs["n"], costs["changed"], Campaign.objects.aggregate(changed=Max("updated_at"))["changed"])


def touches_version() -> int | None:
    """The touches part of ``report_inputs_version``: the newest touchpoint's id."""
    return Touchpoint.objects.aggregate(newest=Max("pk"))["newest"]


def costs_per_channel(*, since: date | None = None, until: date | None = None) -> dict[str, int]:
    """Costs summed per campaign channel: ``{channel: amount_xaf}``, of ``since <= day < until`` when given."""
    qs = CampaignCost.objects.all()
    if since is not None:
        qs = qs.filter(day__gte=since)
    if until is not None:
        qs = qs.filter(day__lt=until)
    return {channel: int(amount or 0) for channel, amount in
            qs.values("campaign__channel").annotate(amount=Sum("amount_xaf")).order_by()
            .values_list("campaign__channel", "amount")}


# --- fixed costs (overheads of a week) -------------------------------------------------------------------


def fixed_cost_list(*, week: date | None = None) -> QuerySet[FixedCost]:
    """Overheads, newest week first; of one week (its Monday) when ``week`` is given."""
    qs = FixedCost.objects.all()
    return qs.filter(week_start=week) if week is not None else qs


def fixed_costs_per_week(*, since: date, until: date) -> dict[date, dict[str, int]]:
    """``{monday: {kind: amount_xaf}}`` of the weeks ``since <= monday < until``."""
    out: dict[date, dict[str, int]] = {}
    for monday, kind, amount in (FixedCost.objects.filter(week_start__gte=since, week_start__lt=until)
                                 .values("week_start", "kind").annotate(amount=Sum("amount_xaf")).order_by()
                                 .values_list("week_start", "kind", "amount")):
        out.setdefault(monday, {})[kind] = int(amount or 0)
    return out


def fixed_costs_version() -> tuple[Any, ...]:
    """A fingerprint of the overheads: ``(rows, latest change)``; a deletion lowers the count."""
    row = FixedCost.objects.aggregate(n=Count("pk"), changed=Max("updated_at"))
    return (row["n"], row["changed"])
