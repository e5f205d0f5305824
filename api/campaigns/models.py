"""Campaigns, their costs and coupons, every touch a person had with the brand, and Facebook data.

- ``Campaign``: what the business runs on one channel, with a unique tracking ``code`` used in
  every link (Telegram ``start``, Messenger ``ref``, WhatsApp prefilled text, ``/r/<code>``).
- ``CampaignCost``: money spent per campaign, day and kind, in XAF. Rows written by a sync carry an
  ``external_key`` so that a re-sync updates them instead of adding more.
- ``Touchpoint``: one touch of a contact (an ad referral, a bot start, a tasting ...). The
  provider's event id is unique, so a replayed webhook adds nothing.
- ``FacebookCampaign`` / ``FacebookAdDay``: every campaign of the ad account and its daily delivery,
  mapped or not; mapped ones become ``ads`` costs of a campaign.
- ``PageAudienceDay``: one value per Page metric and day. ``SyncCursor``: where each sync stopped.
"""

from __future__ import annotations

from django.db import models

from api.campaigns.enums import (
    CampaignChannel,
    CampaignObjective,
    CampaignStatus,
    CostKind,
    CostSource,
    CouponKind,
    FixedCostKind,
    TouchpointKind,
)
from api.contacts.enums import Channel, Segment


class Campaign(models.Model):
    """A marketing campaign on one channel. ``code`` (upper case) is its tracking code."""

    name = models.CharField(max_length=200)
    code = models.CharField(max_length=32, unique=True)
    channel = models.CharField(max_length=20, choices=CampaignChannel.choices)
    objective = models.CharField(max_length=20, choices=CampaignObjective.choices, default=CampaignObjective.CAPTURE)
    status = models.CharField(max_length=20, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT)
    starts_on = models.DateField(null=True, blank=True)
    ends_on = models.DateField(null=True, blank=True)
    budget_xaf = models.PositiveBigIntegerField(null=True, blank=True)
    # Facebook campaign ids whose spend is this campaign's cost (mirrors FacebookCampaign.campaign),
    # and ad ids that click-to-Messenger / click-to-WhatsApp referrals name.
    facebook_campaign_ids = models.JSONField(default=list, blank=True)
    facebook_ad_ids = models.JSONField(default=list, blank=True)
    landing_url = models.URLField(max_length=500, blank=True, help_text="Where /r/<code> redirects, if set.")
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.code} ({self.name})"


class Coupon(models.Model):
    """A coupon code printed or sent by a campaign; an order using it is attributed to the campaign.

    Its discount is ``value`` percent of the goods (rounded down to the franc) or ``value`` XAF off
    them, never more than the goods total; a value of 0 only tracks the campaign (coupons made before
    coupons had a value are such). Optional rules: a minimum goods total, first and last valid days
    (business time zone, both included), a total and a per-customer number of uses (orders not
    cancelled), one segment of customers, and some products or gift boxes: then only their lines
    are discounted. ``services.coupons.coupon_discount`` applies them.
    """

    code = models.CharField(max_length=32, unique=True)
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="coupons")
    description = models.CharField(max_length=200, blank=True)
    active = models.BooleanField(default=True)
    kind = models.CharField(max_length=10, choices=CouponKind.choices, default=CouponKind.PERCENT)
    value = models.PositiveIntegerField(default=0, help_text="Percent (0-100) or XAF, after kind.")
    minimum_order_xaf = models.PositiveIntegerField(default=0, help_text="Smallest goods total it applies to.")
    starts_on = models.DateField(null=True, blank=True)
    ends_on = models.DateField(null=True, blank=True)
    max_uses = models.PositiveIntegerField(null=True, blank=True, help_text="Orders in all; empty: no limit.")
    max_uses_per_customer = models.PositiveIntegerField(null=True, blank=True,
                                                        help_text="Orders per customer; empty: no limit.")
    segment = models.CharField(max_length=20, choices=Segment.choices, blank=True,
                               help_text="Only customers of this segment; empty: everyone.")
    # Catalog ids of the orders app (no foreign keys across apps); both empty: every line.
    product_ids = models.JSONField(default=list, blank=True)
    gift_box_ids = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=~models.Q(kind=CouponKind.PERCENT) | models.Q(value__lte=100),
                                   name="coupon_percent_at_most_100"),
        ]

    def __str__(self) -> str:
        return self.code


class CampaignCost(models.Model):
    """Money spent on a campaign on one day (business time zone), in whole XAF.

    Synced rows have an ``external_key`` (``"facebook_ads"``, ``"order:<id>"``) unique per
    (campaign, day, kind, source): a re-sync updates the row. Manual rows have none, so staff may
    enter two printing invoices on one day. ``original_amount``/``currency`` keep what was converted.
    """

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="costs")
    day = models.DateField()
    kind = models.CharField(max_length=20, choices=CostKind.choices)
    source = models.CharField(max_length=10, choices=CostSource.choices, default=CostSource.MANUAL)
    amount_xaf = models.BigIntegerField()
    original_amount = models.DecimalField(max_digits=18, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, default="XAF")
    external_key = models.CharField(max_length=100, null=True, blank=True)
    note = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-day", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "day", "kind", "source", "external_key"],
                                    condition=models.Q(external_key__isnull=False), name="campaigncost_unique_key"),
            models.CheckConstraint(condition=models.Q(amount_xaf__gte=0), name="campaigncost_amount_not_negative"),
        ]
        indexes = [models.Index(fields=["campaign", "day"], name="campaigncost_campaign_day_idx"),
                   models.Index(fields=["day"], name="campaigncost_day_idx")]


class FixedCost(models.Model):
    """An overhead of one business week (Monday), in whole XAF: staff pay, delivery, other.

    Not a campaign's cost: the weekly report subtracts these from the margin after the ad costs, to
    show the profit and ROI "en prenant compte de la livraison, du paiement des employés et des autres
    marges". Several rows of a kind in one week add up (two delivery invoices).
    """

    week_start = models.DateField(help_text="The Monday of the week (business time zone).")
    kind = models.CharField(max_length=20, choices=FixedCostKind.choices)
    amount_xaf = models.BigIntegerField()
    note = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-week_start", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount_xaf__gte=0), name="fixedcost_amount_not_negative"),
        ]
        indexes = [models.Index(fields=["week_start"], name="fixedcost_week_idx")]

    def __str__(self) -> str:
        return f"{self.kind} {self.week_start}: {self.amount_xaf} XAF"


TOUCHPOINT_CHANNELS = [*Channel.choices, ("web", "Web"), ("other", "Other")]
# What the fast capture form of a tasting or a fair records.
CAPTURE_KINDS = [(TouchpointKind.TASTING_VISIT.value, TouchpointKind.TASTING_VISIT.label),
                 (TouchpointKind.FAIR_VISIT.value, TouchpointKind.FAIR_VISIT.label)]


class Touchpoint(models.Model):
    """One touch of a contact with the brand, with the campaign behind it when known.

    ``provider_event_id`` (e.g. ``messenger:<mid>``, ``whatsapp:<wamid>``) is unique: a replayed
    webhook adds nothing. ``created_at``/``updated_at`` are indexed so attribution can read new rows
    incrementally; ``occurred_at`` is when the touch happened.
    """

    contact = models.ForeignKey("contacts.Contact", on_delete=models.CASCADE, related_name="touchpoints")
    campaign = models.ForeignKey(Campaign, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="touchpoints")
    channel = models.CharField(max_length=20, choices=TOUCHPOINT_CHANNELS)
    kind = models.CharField(max_length=30, choices=TouchpointKind.choices)
    occurred_at = models.DateTimeField()
    provider_event_id = models.CharField(max_length=200, null=True, blank=True, unique=True)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["contact", "-occurred_at", "-id"], name="touchpoint_contact_at_idx"),
            models.Index(fields=["campaign", "occurred_at"], name="touchpoint_campaign_at_idx"),
            # Stated sources ("d'où il vient" on a capture form) are a few rows among the touches: attribution
            # reads them all, which without this index is a scan of every touchpoint.
            models.Index(fields=["contact", "occurred_at"], name="touchpoint_stated_idx",
                         condition=models.Q(kind="self_reported_source")),
        ]


class LinkClick(models.Model):
    """A click on ``/r/<code>``: anonymous (a hashed address, never the address itself)."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="clicks")
    clicked_at = models.DateTimeField(db_index=True)
    target = models.CharField(max_length=20)
    visitor_hash = models.CharField(max_length=64, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    referer = models.CharField(max_length=300, blank=True)

    class Meta:
        indexes = [models.Index(fields=["campaign", "clicked_at"], name="linkclick_campaign_at_idx")]


class FacebookCampaign(models.Model):
    """A campaign of the Facebook ad account; ``campaign`` is the local campaign that claims it."""

    facebook_id = models.CharField(max_length=40, unique=True)
    name = models.CharField(max_length=300, blank=True)
    status = models.CharField(max_length=30, blank=True)
    campaign = models.ForeignKey(Campaign, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="facebook_campaigns")
    first_seen_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]


class FacebookAdDay(models.Model):
    """One day of delivery of one Facebook campaign, as Ads Insights reported it (last read wins)."""

    facebook_campaign = models.ForeignKey(FacebookCampaign, on_delete=models.CASCADE, related_name="days")
    day = models.DateField()
    spend = models.DecimalField(max_digits=18, decimal_places=2)
    currency = models.CharField(max_length=3)
    spend_xaf = models.BigIntegerField()
    impressions = models.BigIntegerField(default=0)
    reach = models.BigIntegerField(default=0)
    clicks = models.BigIntegerField(default=0)
    actions = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["facebook_campaign", "day"], name="facebookadday_unique")]
        indexes = [models.Index(fields=["day"], name="facebookadday_day_idx")]


class PageAudienceDay(models.Model):
    """One daily value of one Page Insights metric (``page_follows``, ``page_media_view`` ...)."""

    page_id = models.CharField(max_length=40)
    metric = models.CharField(max_length=80)
    day = models.DateField()
    value = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["page_id", "metric", "day"], name="pageaudienceday_unique")]


class SyncCursor(models.Model):
    """Where a sync stopped (``synced_until``, the last complete day read), and how its last run went."""

    name = models.CharField(max_length=100, unique=True)
    synced_until = models.DateField(null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    stats = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
