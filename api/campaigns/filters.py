"""Query filters of the campaigns API lists."""

from __future__ import annotations

import django_filters
from django.db.models import Q

from api.campaigns.enums import CampaignChannel, CampaignStatus, CostKind, CostSource, TouchpointKind
from api.campaigns.models import (
    TOUCHPOINT_CHANNELS,
    Campaign,
    CampaignCost,
    Coupon,
    PageAudienceDay,
    Touchpoint,
)
from api.common.filters import DateTimeFilter, FilterSet, IdFilter


class CampaignFilter(FilterSet):
    channel = django_filters.ChoiceFilter(choices=CampaignChannel.choices)
    status = django_filters.ChoiceFilter(choices=CampaignStatus.choices)
    q = django_filters.CharFilter(method="search", label="Name or code contains")

    class Meta:
        model = Campaign
        fields = ["channel", "status", "objective"]

    def search(self, queryset, name, value):
        return queryset.filter(Q(name__icontains=value) | Q(code__icontains=value))


class CostFilter(FilterSet):
    campaign = IdFilter(field_name="campaign_id")
    kind = django_filters.ChoiceFilter(choices=CostKind.choices)
    source = django_filters.ChoiceFilter(choices=CostSource.choices)
    day_from = django_filters.DateFilter(field_name="day", lookup_expr="gte")
    day_to = django_filters.DateFilter(field_name="day", lookup_expr="lte")

    class Meta:
        model = CampaignCost
        fields = ["campaign", "kind", "source", "day_from", "day_to"]


class TouchpointFilter(FilterSet):
    contact = IdFilter(field_name="contact_id")
    campaign = IdFilter(field_name="campaign_id")
    kind = django_filters.ChoiceFilter(choices=TouchpointKind.choices)
    channel = django_filters.ChoiceFilter(choices=TOUCHPOINT_CHANNELS)
    occurred_after = DateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    occurred_before = DateTimeFilter(field_name="occurred_at", lookup_expr="lte")

    class Meta:
        model = Touchpoint
        fields = ["contact", "campaign", "kind", "channel", "occurred_after", "occurred_before"]


class CouponFilter(FilterSet):
    campaign = IdFilter(field_name="campaign_id")

    class Meta:
        model = Coupon
        fields = ["campaign"]


class PageAudienceFilter(FilterSet):
    metric = django_filters.CharFilter()
    day_from = django_filters.DateFilter(field_name="day", lookup_expr="gte")
    day_to = django_filters.DateFilter(field_name="day", lookup_expr="lte")

    class Meta:
        model = PageAudienceDay
        fields = ["metric", "day_from", "day_to"]
