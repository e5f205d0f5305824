"""Search and filters of the contact list (and of its CSV export)."""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import Q, QuerySet

from api.common.filters import BooleanFilter, DateTimeFilter, FilterSet, IdFilter
from api.contacts.enums import Channel, LifecycleStage, Segment
from api.contacts.models import Contact, ContactIdentity
from api.contacts.phones import phone_digits, try_normalize_phone
from api.contacts.registry import ContactAttribute, ContactGrouping
from api.contacts.selectors import has_channel_q


def phone_q(typed: str) -> Q:
    """Match a phone however it was typed: ``699 12 34 56``, ``+237699123456``, or a part of it."""
    normalized = try_normalize_phone(typed)
    if normalized:
        # A number a merge brought is found too. The owners are read first, so the database sees a short
        # list of ids (an index lookup each) rather than a subquery it could not combine with the two indexes.
        owners = list(ContactIdentity.objects.filter(kind__in=["phone", "whatsapp"], value=normalized)
                      .values_list("contact_id", flat=True)[:10])
        return Q(phone=normalized) | Q(whatsapp=normalized) | Q(pk__in=owners)
    digits = phone_digits(typed)
    if len(digits) < 4:
        return Q(pk__in=[])
    return Q(phone__contains=digits) | Q(whatsapp__contains=digits)


class ContactFilter(FilterSet):
    q = django_filters.CharFilter(method="filter_q", label="Search name, phone, e-mail or username")
    name = django_filters.CharFilter(method="filter_name", label="Name contains (first, last or full name)")
    phone = django_filters.CharFilter(method="filter_phone", label="Phone in any format (699 12 34 56, +237…)")
    email = django_filters.CharFilter(field_name="email", lookup_expr="iexact")
    segment = django_filters.MultipleChoiceFilter(choices=Segment.choices)
    lifecycle_stage = django_filters.MultipleChoiceFilter(choices=LifecycleStage.choices)
    tag = django_filters.CharFilter(method="filter_tag", label="Has this tag (repeat for any of several)")
    channel = django_filters.ChoiceFilter(choices=Channel.choices, method="filter_channel",
                                          label="Has an identity usable on this channel")
    city = django_filters.CharFilter(field_name="city", lookup_expr="iexact")
    neighbourhood = django_filters.CharFilter(field_name="neighbourhood", lookup_expr="iexact")
    self_reported_source = django_filters.CharFilter(field_name="self_reported_source", lookup_expr="icontains")
    acquisition_channel = django_filters.CharFilter(field_name="acquisition_channel", lookup_expr="iexact")
    owner = IdFilter(field_name="owner_id")
    opted_out = BooleanFilter(field_name="opted_out_at", lookup_expr="isnull", exclude=True)
    created_after = DateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = DateTimeFilter(field_name="created_at", lookup_expr="lt")
    last_seen_after = DateTimeFilter(field_name="last_seen_at", lookup_expr="gte")
    last_seen_before = DateTimeFilter(field_name="last_seen_at", lookup_expr="lt")

    repeatable = ("tag",)  # filter_tag reads every value given

    class Meta:
        model = Contact
        fields: list[str] = []

    def filter_q(self, queryset: QuerySet[Contact], name: str, value: str) -> QuerySet[Contact]:
        value = value.strip()
        if not value:
            return queryset
        if try_normalize_phone(value):
            # A whole phone number is no one's name or e-mail: the phone indexes alone answer (an OR
            # with the name columns made it a scan of every contact: 184 ms on 100,000 of them, on a
            # loaded 2-core machine; bench/back_office.py).
            return queryset.filter(phone_q(value))
        q = (Q(name__icontains=value) | Q(first_name__icontains=value) | Q(last_name__icontains=value)
             | Q(email__icontains=value) | Q(telegram_username__icontains=value) | Q(instagram__icontains=value))
        if len(phone_digits(value)) >= 4:
            q |= phone_q(value)
        return queryset.filter(q)

    def filter_name(self, queryset: QuerySet[Contact], name: str, value: str) -> QuerySet[Contact]:
        return queryset.filter(Q(name__icontains=value) | Q(first_name__icontains=value)
                               | Q(last_name__icontains=value))

    def filter_phone(self, queryset: QuerySet[Contact], name: str, value: str) -> QuerySet[Contact]:
        return queryset.filter(phone_q(value))

    def filter_tag(self, queryset: QuerySet[Contact], name: str, value: str) -> QuerySet[Contact]:
        tags = self.request.query_params.getlist("tag") if self.request is not None else [value]
        through = Contact.tags.through.objects.filter(tag__name__in=tags).values("contact_id")
        return queryset.filter(pk__in=through)

    def filter_channel(self, queryset: QuerySet[Contact], name: str, value: str) -> QuerySet[Contact]:
        return queryset.filter(has_channel_q(value))


def add_grouping_filter(grouping: ContactGrouping) -> None:
    """Add a registered grouping (``api.contacts.registry``) to the contact list's filters: any of
    the values given matches. ``base_filters`` is what both the filter set and the OpenAPI schema read."""

    def filter_grouping(queryset: QuerySet[Contact], name: str, values: list[str]) -> QuerySet[Contact]:
        return queryset.filter(pk__in=grouping.contact_ids(list(values))) if values else queryset

    ContactFilter.base_filters[grouping.name] = django_filters.MultipleChoiceFilter(
        choices=grouping.choices, method=filter_grouping, label=grouping.label)


def add_attribute_filters(attribute: ContactAttribute) -> None:
    """Add ``<prefix>_before`` (exclusive) and ``<prefix>_after`` (inclusive) for a registered dated
    attribute (``api.contacts.registry.register_contact_attribute``) to the contact list's filters."""

    def filter_before(queryset: QuerySet[Contact], name: str, value: Any) -> QuerySet[Contact]:
        return queryset.filter(pk__in=attribute.contact_ids(value, None)) if value else queryset

    def filter_after(queryset: QuerySet[Contact], name: str, value: Any) -> QuerySet[Contact]:
        return queryset.filter(pk__in=attribute.contact_ids(None, value)) if value else queryset

    ContactFilter.base_filters[f"{attribute.filter_prefix}_before"] = DateTimeFilter(
        method=filter_before, label=f"{attribute.label}: before this date-time (exclusive)")
    ContactFilter.base_filters[f"{attribute.filter_prefix}_after"] = DateTimeFilter(
        method=filter_after, label=f"{attribute.label}: on or after this date-time")
