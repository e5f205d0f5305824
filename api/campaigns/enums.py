"""The campaigns vocabulary other apps may use: the choices stored in the campaigns app's rows."""

from __future__ import annotations

from django.db import models


class CampaignChannel(models.TextChoices):
    FACEBOOK_ADS = "facebook_ads", "Facebook ads"
    FACEBOOK_PAGE = "facebook_page", "Facebook page"
    INSTAGRAM = "instagram", "Instagram"
    WHATSAPP = "whatsapp", "WhatsApp"
    TELEGRAM = "telegram", "Telegram"
    WORD_OF_MOUTH = "word_of_mouth", "Word of mouth"
    TASTING = "tasting", "Tasting"
    FAIR = "fair", "Fair"
    FLYER = "flyer", "Flyer"
    REFERRAL = "referral", "Referral"
    OTHER = "other", "Other"


class CampaignObjective(models.TextChoices):
    CAPTURE = "capture", "Capture leads"
    NURTURE = "nurture", "Nurture prospects"
    CONVERT = "convert", "Convert to customers"
    EDUCATE = "educate", "Educate"


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"
    ENDED = "ended", "Ended"


class CouponKind(models.TextChoices):
    """How a coupon's ``value`` reads: a percentage of the goods, or an amount of XAF off them."""

    PERCENT = "percent", "Percentage of the goods"
    FIXED = "fixed", "Fixed amount in XAF"


class CostKind(models.TextChoices):
    ADS = "ads", "Ads"
    SAMPLES = "samples", "Samples"
    PRINTING = "printing", "Printing"
    DELIVERY = "delivery", "Delivery"
    STAFF = "staff", "Staff"
    OTHER = "other", "Other"


class FixedCostKind(models.TextChoices):
    """Overheads of a week that no campaign carries: what the weekly report's break-even counts."""

    STAFF = "staff", "Staff pay"
    DELIVERY = "delivery", "Delivery"
    OTHER = "other", "Other overheads"


class CostSource(models.TextChoices):
    SYNCED = "synced", "Synced"
    MANUAL = "manual", "Manual"


class TouchpointKind(models.TextChoices):
    AD_REFERRAL = "ad_referral", "Ad referral"
    LINK_CLICK = "link_click", "Link click"
    BOT_START = "bot_start", "Bot start"
    INBOUND_MESSAGE = "inbound_message", "Inbound message"
    PAGE_FOLLOW = "page_follow", "Page follow"
    TASTING_VISIT = "tasting_visit", "Tasting visit"
    FAIR_VISIT = "fair_visit", "Fair visit"
    SELF_REPORTED_SOURCE = "self_reported_source", "Self-reported source"
    REFERRAL = "referral", "Referral by another contact"
    OTHER = "other", "Other"

