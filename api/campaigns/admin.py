from django.contrib import admin

from api.campaigns.models import (
    Campaign,
    CampaignCost,
    Coupon,
    FacebookAdDay,
    FacebookCampaign,
    LinkClick,
    PageAudienceDay,
    SyncCursor,
    Touchpoint,
)


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "channel", "objective", "status", "starts_on", "ends_on", "budget_xaf")
    list_filter = ("channel", "status", "objective")
    search_fields = ("code", "name")


@admin.register(Coupon)
class CouponAdmin(admin.ModelAdmin):
    list_display = ("code", "campaign", "active", "created_at")
    search_fields = ("code",)


@admin.register(CampaignCost)
class CampaignCostAdmin(admin.ModelAdmin):
    list_display = ("campaign", "day", "kind", "source", "amount_xaf", "currency")
    list_filter = ("kind", "source")
    date_hierarchy = "day"


@admin.register(Touchpoint)
class TouchpointAdmin(admin.ModelAdmin):
    list_display = ("contact", "campaign", "channel", "kind", "occurred_at")
    list_filter = ("kind", "channel")
    raw_id_fields = ("contact", "campaign")


@admin.register(FacebookCampaign)
class FacebookCampaignAdmin(admin.ModelAdmin):
    list_display = ("facebook_id", "name", "status", "campaign")
    search_fields = ("facebook_id", "name")


admin.site.register([FacebookAdDay, PageAudienceDay, SyncCursor, LinkClick])
