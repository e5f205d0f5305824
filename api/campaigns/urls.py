"""URLs of the campaigns API (under /api/v1/)."""

from django.urls import path

from api.campaigns import fixed_cost_views, views

urlpatterns = [
    path("campaigns", views.CampaignListView.as_view(), name="campaign-list"),
    path("campaigns/<int:pk>", views.CampaignDetailView.as_view(), name="campaign-detail"),
    path("campaigns/<int:pk>/links", views.CampaignLinksView.as_view(), name="campaign-links"),
    path("campaigns/<int:pk>/stats", views.CampaignStatsView.as_view(), name="campaign-stats"),
    path("campaigns/<int:pk>/qr.png", views.CampaignQRPngView.as_view(), name="campaign-qr-png"),
    path("campaigns/<int:pk>/qr.svg", views.CampaignQRSvgView.as_view(), name="campaign-qr-svg"),
    path("coupons", views.CouponListView.as_view(), name="coupon-list"),
    path("coupons/<int:pk>", views.CouponDetailView.as_view(), name="coupon-detail"),
    path("costs", views.CostListView.as_view(), name="cost-list"),
    path("costs/<int:pk>", views.CostDetailView.as_view(), name="cost-detail"),
    path("fixed-costs", fixed_cost_views.FixedCostListView.as_view(), name="fixed-cost-list"),
    path("fixed-costs/<int:pk>", fixed_cost_views.FixedCostDetailView.as_view(), name="fixed-cost-detail"),
    path("touchpoints", views.TouchpointListView.as_view(), name="touchpoint-list"),
    path("touchpoints/bulk", views.TouchpointBulkView.as_view(), name="touchpoint-bulk"),
    path("captures", views.CaptureView.as_view(), name="capture"),
    path("facebook/campaigns", views.FacebookCampaignListView.as_view(), name="facebook-campaign-list"),
    path("facebook/campaigns/<str:facebook_id>/map", views.FacebookCampaignMapView.as_view(),
         name="facebook-campaign-map"),
    path("facebook/page-audience", views.PageAudienceListView.as_view(), name="facebook-page-audience"),
    path("facebook/sync", views.FacebookSyncView.as_view(), name="facebook-sync"),
]
