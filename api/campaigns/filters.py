"""Query filters of the campaigns API lists."""

from __future__ import annotations

import django_filters

from api.campaigns.models import (
    TOUCHPOINT_CHANNELS,
    Campaign,
    CampaignChannel,
    CampaignCost,
    CampaignStatus,
    CostKind,
    CostSource,
    PageAudienceDay,
    Touchpoint,
    TouchpointKind,
)


class CampaignFilter(django_filters.FilterSet):
    channel = django_filters.ChoiceFilter(choices=CampaignChannel.choices)
    status = django_filters.ChoiceFilter(choices=CampaignStatus.choices)
    q = django_filters.CharFilter(method="search", label="Name or code contains")

    class Meta:
        model = Campaign
        fields = ["channel", "status", "objective"]

    def search(self, queryset, name, value):
        from django.db.models import Q

        return queryset.filter(Q(name__icontains=value) | Q(code__icontains=value))


class CostFilter(django_filters.FilterSet):
    campaign = django_filters.NumberFilter(field_name="campaign_id")
    kind = django_filters.ChoiceFilter(choices=CostKind.choices)
    source = django_filters.ChoiceFilter(choices=CostSource.choices)
    day_from = django_filters.DateFilter(field_name="day", lookup_expr="gte")
    day_to = django_filters.DateFilter(field_name="day", lookup_expr="lte")

    class Meta:
        model = CampaignCost
        fields = ["campaign", "kind", "source", "day_from", "day_to"]


class TouchpointFilter(django_filters.FilterSet):
    contact = django_filters.NumberFilter(field_name="contact_id")
    campaign = django_filters.NumberFilter(field_name="campaign_id")
    kind = django_filters.ChoiceFilter(choices=TouchpointKind.choices)
    channel = django_filters.ChoiceFilter(choices=TOUCHPOINT_CHANNELS)
    occurred_after = django_filters.IsoDateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    occurred_before = django_filters.IsoDateTimeFilter(field_name="occurred_at", lookup_expr="lte")

    class Meta:
        model = Touchpoint
        fields = ["contact", "campaign", "kind", "channel", "occurred_after", "occurred_before"]


class PageAudienceFilter(django_filters.FilterSet):
    metric = django_filters.CharFilter()
    day_from = django_filters.DateFilter(field_name="day", lookup_expr="gte")
    day_to = django_filters.DateFilter(field_name="day", lookup_expr="lte")

    class Meta:
        model = PageAudienceDay
        fields = ["metric", "day_from", "day_to"]
