"""Attribution runs, credits, RFM scores and referral rewards in the Django admin (superusers only),
read-only: the attribution runs compute them all."""

from django.contrib import admin

from api.attribution.models import (
    AttributionCredit,
    AttributionRun,
    ReferralReward,
    RfmScore,
    WeeklyIndicators,
)
from api.common.admin import ReadOnlyAdmin


@admin.register(AttributionRun)
class AttributionRunAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "state", "started_at", "finished_at", "orders_processed", "credits_written"]
    list_filter = ["kind", "state"]


@admin.register(AttributionCredit)
class AttributionCreditAdmin(ReadOnlyAdmin):
    list_display = ["order_id", "model", "channel", "campaign_id", "revenue_xaf", "margin_xaf", "is_refund"]
    list_filter = ["model", "is_refund", "channel"]
    search_fields = ["order_id", "contact_id"]


@admin.register(RfmScore)
class RfmScoreAdmin(ReadOnlyAdmin):
    list_display = ["contact_id", "r_score", "f_score", "m_score", "group", "top_category", "computed_at"]
    list_filter = ["group"]


@admin.register(ReferralReward)
class ReferralRewardAdmin(ReadOnlyAdmin):
    list_display = ["referrer_id", "referred_id", "kind", "code", "points", "created_at"]
    list_filter = ["kind"]


@admin.register(WeeklyIndicators)
class WeeklyIndicatorsAdmin(ReadOnlyAdmin):
    list_display = ["week_start", "days", "computed_at", "compute_ms"]
