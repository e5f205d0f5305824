from django.contrib import admin

from api.attribution.models import AttributionCredit, AttributionRun, ReferralReward, RfmScore


@admin.register(AttributionRun)
class AttributionRunAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "state", "started_at", "finished_at", "orders_processed", "credits_written"]
    list_filter = ["kind", "state"]
    readonly_fields = [f.name for f in AttributionRun._meta.fields]


@admin.register(AttributionCredit)
class AttributionCreditAdmin(admin.ModelAdmin):
    list_display = ["order_id", "model", "channel", "campaign_id", "revenue_xaf", "margin_xaf", "is_refund"]
    list_filter = ["model", "is_refund", "channel"]
    search_fields = ["order_id", "contact_id"]


@admin.register(RfmScore)
class RfmScoreAdmin(admin.ModelAdmin):
    list_display = ["contact_id", "r_score", "f_score", "m_score", "group", "computed_at"]
    list_filter = ["group"]


@admin.register(ReferralReward)
class ReferralRewardAdmin(admin.ModelAdmin):
    list_display = ["referrer_id", "referred_id", "kind", "code", "points", "created_at"]
    list_filter = ["kind"]
