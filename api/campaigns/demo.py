"""Demo campaigns: a year of campaigns across channels, their costs (Facebook spend through the same
mapping code as the real sync), coupons, clicks, Page audience, and touchpoints of the demo contacts
that come before their orders. Bulk inserts only."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.apps import apps
from django.db import transaction
from django.utils import timezone

from api.campaigns.enums import CampaignStatus, CostKind, CostSource
from api.campaigns.models import (
    Campaign,
    CampaignCost,
    Coupon,
    FacebookAdDay,
    FacebookCampaign,
    LinkClick,
    PageAudienceDay,
    Touchpoint,
)
from api.campaigns.services import ads_costs_recompute
from api.common.businesstime import business_localtime, business_today, business_tz
from api.contacts.selectors import contacts_live
from api.orders.selectors import gift_box_list

# (code, name, channel, objective, first day (days ago), length in days, daily cost, cost kind, fb campaign id)
_CAMPAIGNS: list[tuple[str, str, str, str, int, int, int, str, str]] = [
    # The codes the demo orders carry (NOEL25, FETE-MERES, TONTINE, RENTREE) run all year long.
    ("NOEL25", "Coffrets cadeaux - Noël et fêtes", "facebook_ads", "convert", 365, 400, 6000, "ads",
     "120210000000000101"),
    ("FETE-MERES", "Fête des mères et anniversaires", "facebook_ads", "convert", 365, 400, 4000, "ads",
     "120210000000000102"),
    ("FB-SIROPS", "Sirops naturels - trafic Messenger", "facebook_ads", "capture", 120, 90, 4000, "ads",
     "120210000000000103"),
    ("TONTINE", "Offre tontines et réunions", "whatsapp", "convert", 365, 400, 1000, "staff", ""),
    ("RENTREE", "Rentrée: sirops pour les familles", "flyer", "capture", 365, 400, 800, "printing", ""),
    ("PAGE-RECETTES", "Recettes de cocktails sur la Page", "facebook_page", "educate", 330, 400, 0, "staff", ""),
    ("IG-COFFRETS", "Coffrets en stories Instagram", "instagram", "nurture", 150, 60, 1500, "staff", ""),
    ("WA-STATUTS", "Statuts WhatsApp du vendredi", "whatsapp", "nurture", 300, 400, 0, "staff", ""),
    ("TG-BOT", "Bot Telegram Confiotes", "telegram", "capture", 250, 400, 0, "other", ""),
    ("BOUCHE-OREILLE", "Bouche-à-oreille", "word_of_mouth", "capture", 365, 400, 0, "other", ""),
    ("DEG-BONAMOU", "Dégustation marché de Bonamoussadi", "tasting", "capture", 90, 2, 25000, "samples", ""),
    ("DEG-BASTOS", "Dégustation supermarché Bastos", "tasting", "capture", 45, 2, 30000, "samples", ""),
    ("FOIRE-DLA", "Foire internationale de Douala", "fair", "capture", 170, 5, 60000, "staff", ""),
    ("PROMOTE-YDE", "Salon Promote Yaoundé", "fair", "capture", 60, 7, 80000, "staff", ""),
    ("FLYER-AKWA", "Flyers Akwa et Bonapriso", "flyer", "capture", 100, 30, 0, "printing", ""),
    ("PARRAINAGE", "Parrainage des ambassadeurs", "referral", "convert", 365, 400, 0, "other", ""),
]
# (code, campaign, description, rules): coupons with real values. NOEL10 discounts the coffrets only, for
# as long as its campaign runs; DEGUST was good for a month after its tasting, so it shows as expired.
_COUPONS: list[tuple[str, str, str, dict[str, Any]]] = [
    ("NOEL10", "NOEL25", "10 % sur les coffrets de Noël", {"kind": "percent", "value": 10, "gift_boxes": True,
                                                           "campaign_dates": True}),
    ("MAMAN15", "FETE-MERES", "15 % fête des mères dès 10 000 FCFA, une fois par cliente",
     {"kind": "percent", "value": 15, "minimum_order_xaf": 10_000, "max_uses_per_customer": 1}),
    ("AMI5", "PARRAINAGE", "5 % pour le filleul, une fois", {"kind": "percent", "value": 5,
                                                             "max_uses_per_customer": 1}),
    ("DEGUST", "DEG-BONAMOU", "Prix dégustation: 1 000 FCFA de moins dès 5 000 FCFA, le mois suivant",
     {"kind": "fixed", "value": 1_000, "minimum_order_xaf": 5_000, "max_uses": 100, "days_after_campaign": 30}),
]
_TOUCH = {
    "facebook_ads": [("messenger", "ad_referral"), ("whatsapp", "ad_referral")],
    "facebook_page": [("messenger", "inbound_message"), ("web", "page_follow")],
    "instagram": [("instagram", "inbound_message")],
    "whatsapp": [("whatsapp", "inbound_message")],
    "telegram": [("telegram", "bot_start")],
    "word_of_mouth": [("in_person", "self_reported_source")],
    "tasting": [("in_person", "tasting_visit")],
    "fair": [("in_person", "fair_visit")],
    "flyer": [("web", "link_click")],
    "referral": [("in_person", "referral")],
    "other": [("other", "other")],
}
_CHANNEL_GUESS = {"FB": "facebook_ads", "IG": "instagram", "WA": "whatsapp", "TG": "telegram", "DEG": "tasting",
                  "FOIRE": "fair", "SALON": "fair", "FLYER": "flyer", "PARRAIN": "referral"}


def _at(day: date, rng: random.Random) -> datetime:
    moment = datetime.combine(day, time(rng.randint(8, 20), rng.randint(0, 59)), tzinfo=business_tz())
    return moment.astimezone(UTC)


def seed_campaigns(*, rng: random.Random, stdout: Any = None) -> str:
    """Create the demo campaigns, costs, coupons, clicks, Page audience and touchpoints (deterministic)."""
    today = business_today()
    with transaction.atomic():
        campaigns = _seed_campaigns(today)
        by_code = {c.code: c for c in campaigns}
        Coupon.objects.bulk_create(_coupons(by_code), ignore_conflicts=True)
        orders = _orders()
        for code in sorted({o["campaign_code"].strip().upper() for o in orders if o["campaign_code"]} - set(by_code)):
            # A code the demo orders use but we do not know yet: make its campaign so attribution finds it.
            prefix = code.split("-")[0]
            by_code[code] = Campaign.objects.create(
                code=code[:32], name=f"Campagne {code}", channel=_CHANNEL_GUESS.get(prefix, "other"),
                status=CampaignStatus.ENDED, starts_on=today - timedelta(days=365), ends_on=today)
        costs = _seed_costs(rng, today)
        _seed_sample_costs(orders, by_code)
        fb_days = _seed_facebook(rng, today)
        ads = ads_costs_recompute()
        clicks = _seed_clicks(rng, today, list(by_code.values()))
        page_days = _seed_page(today)
        touches = _seed_touchpoints(rng, today, by_code, orders)
    return (f"{len(by_code)} campaigns, {costs + ads['created']} costs ({fb_days} Facebook ad days), "
            f"{clicks} clicks, {page_days} Page audience rows, {touches} touchpoints")


def _coupons(by_code: dict[str, Campaign]) -> list[Coupon]:
    """The demo coupons (not saved), their rules drawn from ``_COUPONS`` and their campaigns' dates."""
    box_ids = sorted(gift_box_list().values_list("pk", flat=True))
    coupons = []
    for code, campaign_code, text, rules in _COUPONS:
        campaign = by_code[campaign_code]
        values = {k: v for k, v in rules.items() if k not in ("gift_boxes", "campaign_dates", "days_after_campaign")}
        if rules.get("gift_boxes"):
            values["gift_box_ids"] = box_ids
        if rules.get("campaign_dates"):
            values.update(starts_on=campaign.starts_on, ends_on=campaign.ends_on)
        if rules.get("days_after_campaign") and campaign.ends_on:
            values.update(starts_on=campaign.starts_on,
                          ends_on=campaign.ends_on + timedelta(days=rules["days_after_campaign"]))
        coupons.append(Coupon(code=code, campaign=campaign, description=text, **values))
    return coupons


def _seed_campaigns(today: date) -> list[Campaign]:
    rows = []
    for code, name, channel, objective, ago, length, daily, _kind, fb_id in _CAMPAIGNS:
        starts = today - timedelta(days=ago)
        ends = starts + timedelta(days=length - 1)
        rows.append(Campaign(
            code=code, name=name, channel=channel, objective=objective,
            status=CampaignStatus.ACTIVE if ends >= today else CampaignStatus.ENDED, starts_on=starts, ends_on=ends,
            budget_xaf=daily * length or None, facebook_campaign_ids=[fb_id] if fb_id else []))
    Campaign.objects.bulk_create(rows, ignore_conflicts=True)
    return list(Campaign.objects.filter(code__in=[r.code for r in rows]))


def _seed_costs(rng: random.Random, today: date) -> int:
    by_code = {c.code: c for c in Campaign.objects.all()}
    costs = []
    for code, _name, _channel, _objective, ago, length, daily, kind, fb_id in _CAMPAIGNS:
        if fb_id or not daily:
            continue  # Facebook spend comes from FacebookAdDay below
        starts = today - timedelta(days=ago)
        for offset in range(min(length, ago + 1)):
            if length > 10 and offset % 7:
                continue  # long campaigns: one weekly cost row
            amount = int(daily * (7 if length > 10 else 1) * rng.uniform(0.8, 1.2))
            costs.append(CampaignCost(campaign=by_code[code], day=starts + timedelta(days=offset), kind=kind,
                                      source=CostSource.MANUAL, amount_xaf=amount))
        costs.append(CampaignCost(campaign=by_code[code], day=starts, kind=CostKind.PRINTING,
                                  source=CostSource.MANUAL, amount_xaf=rng.randint(15, 60) * 1000,
                                  original_amount=None, note="Affiches et flyers"))
    flyer = by_code["FLYER-AKWA"]
    costs.append(CampaignCost(campaign=flyer, day=flyer.starts_on or today, kind=CostKind.PRINTING,
                              source=CostSource.MANUAL, amount_xaf=int(Decimal("150.00") * Decimal("655.957")),
                              original_amount=Decimal("150.00"), currency="EUR", note="2 000 flyers (imprimeur)"))
    CampaignCost.objects.bulk_create(costs, batch_size=1000)
    return len(costs)


def _seed_sample_costs(orders: list[dict[str, Any]], by_code: dict[str, Campaign]) -> None:
    fallback = by_code.get("DEG-BONAMOU")
    rows = []
    for order in orders:
        if not order["is_sample"] or not order["sample_cost_xaf"]:
            continue
        campaign = by_code.get((order["campaign_code"] or "").strip().upper()) or fallback
        if campaign is None:
            continue
        rows.append(CampaignCost(campaign=campaign, day=business_localtime(order["created_at"]).date(),
                                 kind=CostKind.SAMPLES, source=CostSource.SYNCED,
                                 amount_xaf=order["sample_cost_xaf"], external_key=f"order:{order['id']}",
                                 note=f"Sample order #{order['id']}"))
    CampaignCost.objects.bulk_create(rows, batch_size=1000, ignore_conflicts=True)


def _seed_facebook(rng: random.Random, today: date) -> int:
    by_code = {c.code: c for c in Campaign.objects.all()}
    specs: list[tuple[str, str, Campaign | None, int, int, int]] = [(fb_id, name, by_code[code], ago, length, daily)
             for code, name, _ch, _obj, ago, length, daily, _kind, fb_id in _CAMPAIGNS if fb_id]
    # One campaign nobody claimed yet, for the "map it" screen.
    specs.append(("120210000000000199", "Test audience Yaoundé - boost", None, 30, 12, 3000))
    FacebookCampaign.objects.bulk_create(
        [FacebookCampaign(facebook_id=fb_id, name=name, status="ACTIVE" if ago - length < 0 else "PAUSED",
                          campaign=campaign) for fb_id, name, campaign, ago, length, _daily in specs],
        ignore_conflicts=True)
    fb_by_id = {fb.facebook_id: fb for fb in FacebookCampaign.objects.all()}
    days = []
    for fb_id, _name, _campaign, ago, length, daily in specs:
        for offset in range(min(length, ago + 1)):
            spend = int(daily * rng.uniform(0.6, 1.3))
            impressions = spend * rng.randint(2, 5)
            clicks = impressions // rng.randint(40, 90)
            days.append(FacebookAdDay(
                facebook_campaign=fb_by_id[fb_id], day=today - timedelta(days=ago - offset), spend=Decimal(spend),
                currency="XAF", spend_xaf=spend, impressions=impressions, reach=impressions * 2 // 3, clicks=clicks,
                actions={"link_click": clicks,
                         "onsite_conversion.messaging_conversation_started_7d": clicks // 6}))
    FacebookAdDay.objects.bulk_create(days, batch_size=1000, ignore_conflicts=True)
    return len(days)


def _seed_clicks(rng: random.Random, today: date, campaigns: list[Campaign]) -> int:
    rows = []
    for campaign in campaigns:
        if campaign.channel not in ("flyer", "fair", "tasting", "facebook_page", "instagram"):
            continue
        start = campaign.starts_on or today - timedelta(days=60)
        span = max(1, min(((campaign.ends_on or today) - start).days, (today - start).days) + 1)
        for _ in range(rng.randint(40, 160)):
            day = start + timedelta(days=rng.randrange(span))
            rows.append(LinkClick(campaign=campaign, clicked_at=_at(day, rng),
                                  target=rng.choice(["whatsapp", "messenger", "telegram"]),
                                  visitor_hash=f"{rng.getrandbits(128):032x}", user_agent="Mozilla/5.0 (Linux; Android 13)"))
    LinkClick.objects.bulk_create(rows, batch_size=1000)
    return len(rows)


def _seed_page(today: date) -> int:
    rows = []
    follows = 1800
    for offset in range(90, 0, -1):
        day = today - timedelta(days=offset)
        follows += (day.toordinal() * 7) % 11
        rows.append(PageAudienceDay(page_id="104857600000001", metric="page_follows", day=day, value=follows))
        rows.append(PageAudienceDay(page_id="104857600000001", metric="page_media_view", day=day,
                                    value=400 + (day.toordinal() * 37) % 900))
    PageAudienceDay.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def _orders() -> list[dict[str, Any]]:
    # Read through the app registry: orders publishes no selector of these fields for the demo yet.
    try:
        order_model = apps.get_model("orders", "Order")
    except LookupError:
        return []
    values = order_model.objects.order_by("created_at", "id").values(
        "id", "contact_id", "created_at", "campaign_code", "coupon_code", "is_sample", "sample_cost_xaf")
    return [dict(row) for row in values]


def _seed_touchpoints(rng: random.Random, today: date, by_code: dict[str, Campaign],
                      orders: list[dict[str, Any]]) -> int:
    contacts = list(contacts_live().order_by("id").values_list("id", "created_at"))
    coupons = {c.code: c.campaign for c in Coupon.objects.select_related("campaign")}
    first_order: dict[int, dict[str, Any]] = {}
    for placed in orders:
        first_order.setdefault(placed["contact_id"], placed)
    campaigns = list(by_code.values())
    now = timezone.now()
    rows: list[Touchpoint] = []
    for contact_id, created_at in contacts:
        order = first_order.get(contact_id)
        horizon = order["created_at"] if order else now
        earliest = min(created_at, horizon) - timedelta(days=60)
        span = max(60.0, (horizon - earliest).total_seconds() - 3600)
        for _ in range(rng.randint(1, 4) if order else rng.randint(0, 3)):
            campaign = rng.choice(campaigns)
            channel, kind = rng.choice(_TOUCH.get(campaign.channel, _TOUCH["other"]))
            at = min(earliest + timedelta(seconds=rng.uniform(0, span)), horizon - timedelta(minutes=30))
            rows.append(Touchpoint(contact_id=contact_id, campaign=campaign, channel=channel, kind=kind,
                                   occurred_at=at, details={"demo": True}))
    for placed in orders:
        # The campaign an order names (code or coupon) touched its buyer shortly before the order.
        named = (by_code.get((placed["campaign_code"] or "").strip().upper())
                 or coupons.get((placed["coupon_code"] or "").strip().upper()))
        if named is None:
            continue
        channel, kind = rng.choice(_TOUCH.get(named.channel, _TOUCH["other"]))
        at = placed["created_at"] - timedelta(minutes=rng.randint(30, 60 * 24 * 14))
        rows.append(Touchpoint(contact_id=placed["contact_id"], campaign=named, channel=channel, kind=kind,
                               occurred_at=at, details={"demo": True, "before_order_id": placed["id"]}))
    Touchpoint.objects.bulk_create(rows, batch_size=2000)
    return len(rows)
