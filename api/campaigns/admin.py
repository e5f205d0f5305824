"""Campaigns, costs and touchpoints in the Django admin (superusers only), read-only: campaigns,
coupons and costs are written through the API's services (``campaign_create``, ``coupon_create``,
``cost_create``…), touchpoints and Facebook rows by the trackers and the sync workers."""

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
from api.common.admin import ReadOnlyAdmin


@admin.register(Campaign)
class CampaignAdmin(ReadOnlyAdmin):
    list_display = ("code", "name", "channel", "objective", "status", "starts_on", "ends_on", "budget_xaf")
    list_filter = ("channel", "status", "objective")
    search_fields = ("code", "name")


@admin.register(Coupon)
class CouponAdmin(ReadOnlyAdmin):
    list_display = ("code", "campaign", "active", "created_at")
    list_select_related = ("campaign",)
    search_fields = ("code",)


@admin.register(CampaignCost)
class CampaignCostAdmin(ReadOnlyAdmin):
    list_display = ("campaign", "day", "kind", "source", "amount_xaf", "currency")
    list_filter = ("kind", "source")
    list_select_related = ("campaign",)
    date_hierarchy = "day"


@admin.register(Touchpoint)
class TouchpointAdmin(ReadOnlyAdmin):
    list_display = ("contact", "campaign", "channel", "kind", "occurred_at")
    list_filter = ("kind", "channel")
    list_select_related = ("contact", "campaign")


@admin.register(FacebookCampaign)
class FacebookCampaignAdmin(ReadOnlyAdmin):
    list_display = ("facebook_id", "name", "status", "campaign")
    list_select_related = ("campaign",)
    search_fields = ("facebook_id", "name")


admin.site.register([FacebookAdDay, PageAudienceDay, SyncCursor, LinkClick], ReadOnlyAdmin)
