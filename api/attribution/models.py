"""Attribution runs and credits, RFM scores and referral rewards.

Rows of other apps are referred to by id (``order_id``, ``campaign_id``, ``contact_id``), not by
foreign key: credits are derived data that a run rewrites, and this keeps the app's migrations
independent of the apps it reads.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from api.attribution.enums import AttributionModel, RewardKind, RfmGroup, RunKind, RunState, SummaryState


class AttributionRun(models.Model):
    """One computation of credits. ``watermark``: rows changed after it are read by the next run.

    The watermark of a run is its start time minus a settle delay; it only counts once the run
    succeeded, so a killed run is simply done again by the next one.
    """

    kind = models.CharField(max_length=20, choices=RunKind.choices, default=RunKind.INCREMENTAL)
    state = models.CharField(max_length=20, choices=RunState.choices, default=RunState.RUNNING)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    watermark = models.DateTimeField(null=True, blank=True)
    contacts_processed = models.PositiveIntegerField(default=0)
    orders_processed = models.PositiveIntegerField(default=0)
    credits_written = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["state", "-started_at"], name="attrrun_state_started_idx")]

    def __str__(self) -> str:
        return f"{self.kind} run #{self.pk} ({self.state})"


class AttributionCredit(models.Model):
    """A share of an order (or, negative, of a refund) credited to a campaign / channel by one model.

    ``weight`` is the row's share of the order (the rows of an order and model sum to 1), so
    "attributed orders" and "new customers" add up across channels. ``is_first_order`` marks the
    contact's first counted order (a new customer, for CAC).
    """

    order_id = models.BigIntegerField()
    contact_id = models.BigIntegerField()
    model = models.CharField(max_length=20, choices=AttributionModel.choices)
    campaign_id = models.BigIntegerField(null=True, blank=True)
    channel = models.CharField(max_length=50)
    revenue_xaf = models.BigIntegerField()
    margin_xaf = models.BigIntegerField()
    weight = models.FloatField(default=0)
    touches = models.PositiveIntegerField(default=0)
    is_refund = models.BooleanField(default=False)
    refund_id = models.BigIntegerField(null=True, blank=True)
    is_first_order = models.BooleanField(default=False)
    occurred_at = models.DateTimeField(help_text="Order time, or refund time for a refund row.")
    # No index: never filtered on, and every index slows the bulk writes of a run.
    run = models.ForeignKey(AttributionRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                            db_index=False)

    class Meta:
        ordering = ["order_id", "model", "id"]
        indexes = [
            # Time first: the reports ask for one model over a few weeks, which this serves as well as
            # (model, time), and a full run builds it in half the time (sorting on a column of six values
            # first compares both columns almost every time).
            models.Index(fields=["occurred_at", "model"], name="attrcredit_at_model_idx"),
            models.Index(fields=["order_id"], name="attrcredit_order_idx"),
            # No index by contact: a full run would build it for the few readers by contact (the referral
            # leaderboard: a scan of the first-touch rows, ~40 ms per 800k credits), and an incremental run
            # deletes the old rows of its contacts through their orders (services.batches.credits_recompute_contacts).
        ]

    def __str__(self) -> str:
        return f"{self.model} order {self.order_id} -> {self.channel}: {self.revenue_xaf} XAF"


class RfmScore(models.Model):
    """Recency, frequency and monetary quintile scores (1-5) of one contact, recomputed nightly."""

    contact_id = models.BigIntegerField(unique=True)
    recency_days = models.PositiveIntegerField()
    frequency = models.PositiveIntegerField()
    monetary_xaf = models.BigIntegerField()
    r_score = models.PositiveSmallIntegerField()
    f_score = models.PositiveSmallIntegerField()
    m_score = models.PositiveSmallIntegerField()
    group = models.CharField(max_length=30, choices=RfmGroup.choices)
    # FRAT's type of purchase: the product category the customer spent most on (indicators.top_category).
    top_category = models.CharField(max_length=20, blank=True, default="")
    period_days = models.PositiveIntegerField()
    computed_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["group"], name="rfm_group_idx")]

    @property
    def code(self) -> str:
        return f"{self.r_score}{self.f_score}{self.m_score}"

    def __str__(self) -> str:
        return f"contact {self.contact_id}: {self.code} {self.group}"


class ReferralReward(models.Model):
    """What a referrer earned when the person they referred had a first order delivered.

    One per referred contact (unique): a replayed "delivered" event earns nothing more.
    """

    referrer_id = models.BigIntegerField(db_index=True)
    referred_id = models.BigIntegerField(unique=True)
    order_id = models.BigIntegerField()
    kind = models.CharField(max_length=20, choices=RewardKind.choices)
    code = models.CharField(max_length=32, blank=True)
    discount_percent = models.PositiveSmallIntegerField(default=0)
    points = models.PositiveIntegerField(default=0)
    redeemed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} for {self.referrer_id} (referred {self.referred_id})"


class WeeklySummary(models.Model):
    """The Monday summary of one finished week sent to the staff Telegram chat: at most once per week.

    The row is marked ``sending`` (committed) before the message goes out; a run that finds a row
    still ``sending`` does not send again, it records ``unknown_outcome`` for staff to check.
    """

    week_start = models.DateField(unique=True)
    state = models.CharField(max_length=20, choices=SummaryState.choices, default=SummaryState.SENDING)
    sent_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-week_start"]

    def __str__(self) -> str:
        return f"summary {self.week_start} ({self.state})"


class WeeklyIndicators(models.Model):
    """The CRM indicators of one business week (``api.attribution.indicators``), stored so that the
    reports read them instead of recomputing them.

    ``inputs_version`` fingerprints what they were computed from (``services.indicators``); a reader
    that finds another fingerprint recomputes the row. ``days`` is 7 for a week that is over, the
    days elapsed for the week in progress.
    """

    week_start = models.DateField(unique=True)
    days = models.PositiveSmallIntegerField(default=7)
    figures = models.JSONField(default=dict)
    inputs_version = models.CharField(max_length=40)
    computed_at = models.DateTimeField(default=timezone.now)
    compute_ms = models.PositiveIntegerField(default=0, help_text="How long the computation took.")

    class Meta:
        ordering = ["-week_start"]
        verbose_name_plural = "weekly indicators"

    def __str__(self) -> str:
        return f"indicators {self.week_start} ({self.days} days)"
