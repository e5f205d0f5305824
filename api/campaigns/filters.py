"""Query filters of the campaigns API lists."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import django_filters
from django import forms
from django_filters.fields import IsoDateTimeField
from drf_spectacular.utils import extend_schema_field

from api.campaigns.models import (
    TOUCHPOINT_CHANNELS,
    Campaign,
    CampaignChannel,
    CampaignCost,
    CampaignStatus,
    CostKind,
    CostSource,
    Coupon,
    PageAudienceDay,
    Touchpoint,
    TouchpointKind,
)

# Ids are bounded like the orders API's (safe in JavaScript, far inside a bigint): anything else is a 400.
MAX_ID = 2**53


@extend_schema_field({"type": "integer", "format": "int64", "minimum": 1, "maximum": MAX_ID})
class IdFilter(django_filters.NumberFilter):
    """An id: a whole number from 1 to ``MAX_ID``, else a 400 naming the parameter.

    ``NumberFilter`` takes any decimal (``1.5``, ``-3e264``), which either matched nothing by accident
    or overflowed the database driver.
    """

    field_class = forms.IntegerField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


class _UtcIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 date-time that can be stored: one whose UTC instant still falls in years 1 to 9999."""

    def to_python(self, value: Any) -> datetime | None:
        try:
            parsed = super().to_python(value)
            if parsed is not None:
                parsed.astimezone(UTC)
        except OverflowError:
            raise forms.ValidationError("Enter a date-time between years 1 and 9999 (in UTC).",
                                        code="out_of_range") from None
        return parsed


class DateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = _UtcIsoDateTimeField


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
    campaign = IdFilter(field_name="campaign_id")
    kind = django_filters.ChoiceFilter(choices=CostKind.choices)
    source = django_filters.ChoiceFilter(choices=CostSource.choices)
    day_from = django_filters.DateFilter(field_name="day", lookup_expr="gte")
    day_to = django_filters.DateFilter(field_name="day", lookup_expr="lte")

    class Meta:
        model = CampaignCost
        fields = ["campaign", "kind", "source", "day_from", "day_to"]


class TouchpointFilter(django_filters.FilterSet):
    contact = IdFilter(field_name="contact_id")
    campaign = IdFilter(field_name="campaign_id")
    kind = django_filters.ChoiceFilter(choices=TouchpointKind.choices)
    channel = django_filters.ChoiceFilter(choices=TOUCHPOINT_CHANNELS)
    occurred_after = DateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    occurred_before = DateTimeFilter(field_name="occurred_at", lookup_expr="lte")

    class Meta:
        model = Touchpoint
        fields = ["contact", "campaign", "kind", "channel", "occurred_after", "occurred_before"]


class CouponFilter(django_filters.FilterSet):
    campaign = IdFilter(field_name="campaign_id")

    class Meta:
        model = Coupon
        fields = ["campaign"]


class PageAudienceFilter(django_filters.FilterSet):
    metric = django_filters.CharFilter()
    day_from = django_filters.DateFilter(field_name="day", lookup_expr="gte")
    day_to = django_filters.DateFilter(field_name="day", lookup_expr="lte")

    class Meta:
        model = PageAudienceDay
        fields = ["metric", "day_from", "day_to"]
