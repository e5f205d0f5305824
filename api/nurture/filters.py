"""Filters of the staff lists of enrollments and outbound messages (like every other app's lists)."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import extend_schema_field

from api.common.filters import FilterSet, IdFilter
from api.nurture.models import Enrollment, OutboundMessage


@extend_schema_field({"type": "string", "maxLength": 200, "description": "Prefix of the reason."})
class _ReasonPrefixFilter(django_filters.CharFilter):
    """The start of an outbound message's reason (``unknown_outcome``…); longer than a reason is a 400."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, lookup_expr="startswith", max_length=200, **kwargs)


class EnrollmentFilter(FilterSet):
    contact = IdFilter(field_name="contact_id")
    sequence = IdFilter(field_name="sequence_id")
    state = django_filters.ChoiceFilter(choices=Enrollment.State.choices)

    class Meta:
        model = Enrollment
        fields = ["contact", "sequence", "state"]


class OutboundMessageFilter(FilterSet):
    contact = IdFilter(field_name="contact_id")
    broadcast = IdFilter(field_name="broadcast_id")
    state = django_filters.ChoiceFilter(choices=OutboundMessage.State.choices)
    reason = _ReasonPrefixFilter()

    class Meta:
        model = OutboundMessage
        fields = ["contact", "broadcast", "state", "reason"]
