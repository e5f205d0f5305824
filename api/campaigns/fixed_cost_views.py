"""The fixed costs API: the overheads of a week (staff pay, delivery, other) that the weekly report
subtracts after the ad costs. Thin views over ``services.fixed_cost_*`` and ``selectors.fixed_cost_list``;
errors in the common shape (400 ``validation_error`` with the field, 404 ``not_found``)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.campaigns import selectors, services
from api.campaigns.enums import FixedCostKind
from api.campaigns.models import FixedCost
from api.campaigns.services.fixed_costs import MAX_FIXED_COST_XAF
from api.common.businesstime import week_start
from api.common.errors import NotFoundError
from api.common.serializers import BusinessDateField, ErrorSerializer

TAGS = ["campaigns"]
_COST = {"id": 3, "week_start": "2026-11-23", "kind": "staff", "amount_xaf": 150000, "note": "Two sellers",
         "created_at": "2026-11-30T08:00:00+01:00", "updated_at": "2026-11-30T08:00:00+01:00"}


class FixedCostInSerializer(serializers.Serializer):
    week = BusinessDateField(help_text="Any day of the week (stored as its Monday, Africa/Douala); between 2000 "
                             "and 2099.")
    kind = serializers.ChoiceField(choices=FixedCostKind.choices, help_text="staff, delivery or other")
    amount_xaf = serializers.IntegerField(min_value=0, max_value=MAX_FIXED_COST_XAF, help_text="Whole XAF.")
    note = serializers.CharField(max_length=300, required=False, allow_blank=True)


class FixedCostPatchSerializer(serializers.Serializer):
    week = BusinessDateField(required=False)
    kind = serializers.ChoiceField(choices=FixedCostKind.choices, required=False)
    amount_xaf = serializers.IntegerField(min_value=0, max_value=MAX_FIXED_COST_XAF, required=False)
    note = serializers.CharField(max_length=300, required=False, allow_blank=True)


class FixedCostOutSerializer(serializers.ModelSerializer):
    class Meta:
        model = FixedCost
        fields = ["id", "week_start", "kind", "amount_xaf", "note", "created_at", "updated_at"]


class FixedCostQuerySerializer(serializers.Serializer):
    week = BusinessDateField(required=False, help_text="Only this week's overheads (any day of it).")


def _get(pk: int) -> FixedCost:
    cost = selectors.fixed_cost_list().filter(pk=pk).first()
    if cost is None:
        raise NotFoundError(f"No fixed cost #{pk}.")
    return cost


class FixedCostListView(GenericAPIView):
    queryset = FixedCost.objects.none()
    serializer_class = FixedCostOutSerializer
    filter_backends: list[type] = []

    @extend_schema(summary="List fixed costs (overheads per week)", tags=TAGS, parameters=[FixedCostQuerySerializer],
                   responses={200: FixedCostOutSerializer(many=True), 400: ErrorSerializer},
                   examples=[OpenApiExample("Overheads", response_only=True,
                                            value={"next": None, "previous": None, "results": [_COST]})])
    def get(self, request: Request) -> Response:
        query = FixedCostQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        week = query.validated_data.get("week")
        qs = selectors.fixed_cost_list(week=week_start(week) if week else None)
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(FixedCostOutSerializer(page, many=True).data)

    @extend_schema(
        summary="Record a fixed cost of a week",
        description="Staff pay, delivery or another overhead of one week (Monday to Sunday, Africa/Douala), in "
        "whole XAF. The weekly report subtracts the week's fixed costs from the margin after the ad costs "
        "(`profit_after_fixed_costs_xaf`, `roi_after_fixed_costs`).",
        tags=TAGS, request=FixedCostInSerializer, responses={201: FixedCostOutSerializer, 400: ErrorSerializer},
        examples=[OpenApiExample("Staff pay", request_only=True,
                                 value={"week": "2026-11-25", "kind": "staff", "amount_xaf": 150000,
                                        "note": "Two sellers"}),
                  OpenApiExample("Recorded", value=_COST, response_only=True, status_codes=["201"])])
    def post(self, request: Request) -> Response:
        data = FixedCostInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        cost = services.fixed_cost_create(**data.validated_data)
        return Response(FixedCostOutSerializer(cost).data, status=status.HTTP_201_CREATED)


class FixedCostDetailView(APIView):
    @extend_schema(summary="Get a fixed cost", tags=TAGS, responses={200: FixedCostOutSerializer, 404: ErrorSerializer},
                   examples=[OpenApiExample("Overhead", value=_COST, response_only=True)])
    def get(self, request: Request, pk: int) -> Response:
        return Response(FixedCostOutSerializer(_get(pk)).data)

    @extend_schema(summary="Change a fixed cost", tags=TAGS, request=FixedCostPatchSerializer,
                   responses={200: FixedCostOutSerializer, 400: ErrorSerializer, 404: ErrorSerializer},
                   examples=[OpenApiExample("New amount", value={"amount_xaf": 160000}, request_only=True),
                             OpenApiExample("Changed", value={**_COST, "amount_xaf": 160000}, response_only=True)])
    def patch(self, request: Request, pk: int) -> Response:
        cost = _get(pk)
        data = FixedCostPatchSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values: dict[str, Any] = dict(data.validated_data)
        return Response(FixedCostOutSerializer(services.fixed_cost_update(cost=cost, **values)).data)

    @extend_schema(summary="Delete a fixed cost", tags=TAGS, responses={204: None, 404: ErrorSerializer})
    def delete(self, request: Request, pk: int) -> Response:
        services.fixed_cost_delete(cost=_get(pk))
        return Response(status=status.HTTP_204_NO_CONTENT)
