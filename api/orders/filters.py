"""Filters of the staff order list."""

from __future__ import annotations

import django_filters

from api.common.filters import BooleanFilter, DateTimeFilter, FilterSet, IdFilter
from api.orders.enums import OrderStatus, PaymentStatus
from api.orders.models import Order


class OrderFilter(FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=OrderStatus.choices)
    payment_status = django_filters.ChoiceFilter(choices=PaymentStatus.choices)
    contact = IdFilter(field_name="contact_id")
    partner = IdFilter(field_name="partner_id")
    number = django_filters.CharFilter(field_name="number", lookup_expr="iexact")
    is_sample = BooleanFilter()
    campaign_code = django_filters.CharFilter()
    created_after = DateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = DateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Order
        fields = ["status", "payment_status", "contact", "partner", "number", "is_sample", "campaign_code"]
