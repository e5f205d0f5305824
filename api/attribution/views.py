"""Attribution and report endpoints: thin views over ``selectors`` and ``services``."""

from __future__ import annotations

import csv
import io
from typing import Any

from django.http import HttpResponse
from django.template.loader import render_to_string
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.attribution import charts, selectors, services
from api.attribution import serializers as s
from api.attribution.models import AttributionRun, RfmScore
from api.common.businesstime import week_start
from api.common.pagination import CreatedCursorPagination
from api.common.serializers import ErrorSerializer

TAGS = ["reports"]

_FIGURES = {"cost_xaf": 150000, "revenue_xaf": 420000, "margin_xaf": 190000, "orders": 12.5, "new_customers": 7.0,
            "leads": 31, "roas": 2.8, "roi": 0.27, "cac_xaf": 21429.0, "margin_rate": 0.4524,
            "break_even_revenue_xaf": 331579, "revenue_change_vs_previous_week": 0.12,
            "roas_change_vs_previous_week": 0.05, "revenue_4_week_average_xaf": 380000.0,
            "revenue_change_vs_4_week_average": 0.1053, "roas_4_week_average": 2.6, "cost_without_orders": False}
_TOTALS = {**_FIGURES, "fixed_costs_xaf": {"staff": 150000, "delivery": 30000, "other": 20000},
           "fixed_cost_total_xaf": 200000, "profit_after_fixed_costs_xaf": -160000, "roi_after_fixed_costs": -0.4571,
           "break_even_revenue_after_fixed_costs_xaf": 773651, "profit_change_vs_previous_week": 0.1}
WEEKLY_EXAMPLE = {
    "week_start": "2026-11-16", "week_end": "2026-11-22", "model": "position_based", "group": "channel",
    "in_progress": False, "days_elapsed": 7, "compared_days": 7,
    "rows": [{"key": "facebook_ads", "channel": "facebook_ads", "campaign_id": None, "campaign_code": None,
              "campaign_name": None, **_FIGURES}],
    "totals": _TOTALS, "unattributed_cost_xaf": 0, "orders_without_source": 1.0,
    "share_orders_without_source": 0.08, "last_run": {"id": 42, "kind": "incremental",
                                                      "finished_at": "2026-11-23T07:55:00+01:00"},
}
_QUERY_400 = OpenApiResponse(ErrorSerializer, description="Invalid query parameter.")


def _query(serializer_class: type, request: Request) -> dict[str, Any]:
    serializer = serializer_class(data=request.query_params)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _weekly(request: Request) -> dict[str, Any]:
    """The weekly report the query asks for (the last complete week by default), from the report's cache
    (``weekly_roi_report_cached``: it is the report itself, rebuilt when its inputs move)."""
    query = _query(s.WeekQuerySerializer, request)
    return selectors.weekly_roi_report_cached(week=query.get("week"), model=query.get("model"),
                                              group=query.get("group") or "channel")


def _indicators(monday: Any) -> dict[str, Any]:
    """The stored CRM indicators of the week of ``monday`` (computed first when missing), with when."""
    row = services.week_indicators_get(monday=monday)
    return {**row.figures, "computed_at": row.computed_at}


class WeeklyReportView(APIView):
    @extend_schema(
        summary="Weekly ROI report per channel or campaign",
        description="Cost, attributed revenue and margin, orders, new customers, leads, ROAS, ROI, CAC and "
        "break-even revenue of one week (Monday to Sunday, Africa/Douala) under one attribution model, with "
        "the change against the previous week and the 4-week average, the profit and ROI after the week's fixed "
        "costs (staff pay, delivery, other overheads), and the week's CRM indicators. Costs without orders and "
        "orders without a known source are shown, not hidden. By default the last complete week; a week in "
        "progress says so (`in_progress`, `days_elapsed`) and is compared with the same days of the weeks "
        "before it. Changes are ratios (0.25 = +25 %). Attributed order counts are fractional: an order "
        "touched by several channels is shared between them.",
        parameters=[s.WeekQuerySerializer],
        responses={200: s.WeeklyReportSerializer, 400: _QUERY_400},
        examples=[OpenApiExample("A week per channel", value=WEEKLY_EXAMPLE, response_only=True)],
        tags=TAGS,
    )
    def get(self, request: Request) -> Response:
        report = _weekly(request)
        return Response(s.WeeklyReportSerializer({**report, "indicators": _indicators(report["week_start"])}).data)


_INDICATORS_EXAMPLE = {
    "week_start": "2026-11-16", "week_end": "2026-11-22", "in_progress": False, "days_elapsed": 7,
    "prospects_now": 310, "new_prospects": 24, "new_customers": 6, "prospect_to_customer_rate": 0.25, "sales": 31,
    "average_basket_xaf": 32447, "purchase_frequency": 1.42, "active_customers_at_start": 220, "lost_customers": 5,
    "attrition_rate": 0.0227, "lapsed_customers_at_start": 60, "reactivated_customers": 2,
    "reactivation_rate": 0.0333, "churn_after_days": 180, "recipients_known": True,
    "campaigns": [{"campaign_id": 3, "campaign_code": "NOEL26", "campaign_name": "Coffrets de Noël",
                   "channel": "whatsapp", "clicks": 14, "replies_with_code": 5, "recipients": 120, "responders": 18,
                   "response_rate": 0.15, "click_through_rate": None, "clicks_per_recipient": 0.1167}],
    "file_decay": {"base": 900, "unreachable": 45, "stale": 120, "decay_rate": 0.1833, "reference_low": 0.15,
                   "reference_high": 0.25, "within_reference": True},
    "purchase_types": {"syrup": 140, "liqueur": 60, "gift_box": 35},
    "computed_at": "2026-11-23T02:45:00+01:00",
}


class IndicatorsView(APIView):
    @extend_schema(
        summary="CRM indicators of a week",
        description="The indicators of the plan's French texts for one week (Monday to Sunday, Africa/Douala; the "
        "last complete week by default): prospects, prospect -> customer conversion, average basket, purchase "
        "frequency, attrition and reactivation, response rate and click-through per campaign, and the decay of "
        "the customer file against the 15-25 % a year the texts quote. Rates are ratios (0.25 = 25 %), null "
        "without a denominator. Served from the figures stored per week, recomputed after each attribution "
        "run when the week's inputs changed (`computed_at` says when).",
        parameters=[s.IndicatorsQuerySerializer],
        responses={200: s.IndicatorsSerializer, 400: _QUERY_400},
        examples=[OpenApiExample("A week", value=_INDICATORS_EXAMPLE, response_only=True)],
        tags=TAGS,
    )
    def get(self, request: Request) -> Response:
        query = _query(s.IndicatorsQuerySerializer, request)
        monday = week_start(query.get("week") or selectors.last_complete_week())
        return Response(s.IndicatorsSerializer(_indicators(monday)).data)


class WeeklyReportCsvView(APIView):
    @extend_schema(
        summary="Weekly ROI report as CSV",
        description="The rows of the weekly report (same parameters), then a TOTAL line.",
        parameters=[s.WeekQuerySerializer],
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, examples=[OpenApiExample(
            "CSV", value="week_start,model,channel,...\r\n2026-11-16,position_based,facebook_ads,...\r\n")]),
            400: _QUERY_400},
        examples=[OpenApiExample("CSV", value="week_start,model,channel,...", response_only=True)],
        tags=TAGS,
    )
    def get(self, request: Request) -> HttpResponse:
        report = _weekly(request)
        columns, rows = selectors.weekly_report_csv_rows(report)
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(columns)
        writer.writerows(rows)
        response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = (f'attachment; filename="roi-{report["week_start"]:%Y-%m-%d}-'
                                           f'{report["model"]}-{report["group"]}.csv"')
        return response


class WeeklyReportHtmlView(APIView):
    @extend_schema(
        summary="Weekly report as an HTML page with charts",
        description="ROI per channel and per campaign, the model comparison, the funnel, LTV per channel and "
        "cohort retention, with charts drawn on the server (PNG embedded in the page). Staff open it in a "
        "browser (session login) or with a token.",
        parameters=[s.WeekQuerySerializer],
        responses={(200, "text/html"): OpenApiResponse(OpenApiTypes.STR, examples=[OpenApiExample(
            "HTML", value="<!doctype html><html>...</html>")]), 400: _QUERY_400},
        examples=[OpenApiExample("HTML", value="<!doctype html>...", response_only=True)],
        tags=TAGS,
    )
    def get(self, request: Request) -> HttpResponse:
        report = _weekly(request)
        by_campaign = selectors.weekly_roi_report_cached(week=report["week_start"], model=report["model"],
                                                         group="campaign")
        funnel = selectors.funnel(weeks=8, until=report["week_start"])
        cohorts = selectors.cohort_retention(months=12)
        context = {
            "report": report, "by_campaign": by_campaign,
            "comparison": selectors.model_comparison(week=report["week_start"]),
            "funnel": funnel, "cohorts": cohorts, "ltv": selectors.ltv_report(model=report["model"], limit=10),
            "roas_chart": charts.data_uri(charts.roas_chart(report)),
            "funnel_chart": charts.data_uri(charts.funnel_chart(funnel)),
            "cohort_chart": charts.data_uri(charts.cohort_heatmap(cohorts)),
        }
        html = render_to_string("attribution/weekly_report.html", context, request=request._request)
        return HttpResponse(html, content_type="text/html; charset=utf-8")


class ModelComparisonView(APIView):
    @extend_schema(
        summary="Credit per channel under every attribution model",
        description="The same week's revenue, margin and orders per channel under each model side by side, "
        "to see how much the choice of model matters.",
        parameters=[s.ComparisonQuerySerializer],
        responses={200: s.ModelComparisonSerializer, 400: _QUERY_400},
        examples=[OpenApiExample("One channel", response_only=True, value={
            "week_start": "2026-11-16", "week_end": "2026-11-22", "models": ["first_touch", "last_touch"],
            "rows": [{"channel": "facebook_ads", "cost_xaf": 150000, "spread_xaf": 60000, "models": [
                {"model": "first_touch", "revenue_xaf": 480000, "margin_xaf": 210000, "orders": 14.0, "roas": 3.2},
                {"model": "last_touch", "revenue_xaf": 420000, "margin_xaf": 190000, "orders": 12.0,
                 "roas": 2.8}]}]})],
        tags=TAGS,
    )
    def get(self, request: Request) -> Response:
        query = _query(s.ComparisonQuerySerializer, request)
        return Response(s.ModelComparisonSerializer(selectors.model_comparison(week=query.get("week"))).data)


class FunnelView(APIView):
    @extend_schema(
        summary="Funnel per week",
        description="Contacts entering each lifecycle stage per week, the conversion between stages, and the "
        "median number of touches before a first order (the plan expects about 9).",
        parameters=[s.FunnelQuerySerializer],
        responses={200: s.FunnelSerializer, 400: _QUERY_400},
        examples=[OpenApiExample("One week", response_only=True, value={
            "weeks": [{"week_start": "2026-11-16", "suspect": 40, "prospect": 12, "customer": 5,
                       "repeat_customer": 2, "ambassador": 1, "inactive": 3, "prospect_rate": 0.3,
                       "customer_rate": 0.4167, "repeat_rate": 0.4, "ambassador_rate": 0.5, "first_orders": 5,
                       "median_touches_before_first_order": 8.0}],
            "current": {"suspect": 900, "prospect": 300, "customer": 120, "repeat_customer": 40,
                        "ambassador": 9, "inactive": 60},
            "median_touches_before_first_order": 8.0, "expected_touches": 9})],
        tags=TAGS,
    )
    def get(self, request: Request) -> Response:
        query = _query(s.FunnelQuerySerializer, request)
        data = selectors.funnel(weeks=query.get("weeks") or 8, until=query.get("until"))
        return Response(s.FunnelSerializer(data).data)


_LTV_GROUP = {"name": "facebook_ads", "customers": 40, "orders": 66, "revenue_xaf": 1650000, "margin_xaf": 720000,
              "average_order_value_xaf": 25000.0, "orders_per_year": 2.2, "lifetime_years": 1.25, "ltv_xaf": 68750,
              "margin_ltv_xaf": 30000, "revenue_per_customer_xaf": 41250, "margin_per_customer_xaf": 18000,
              "lost_customers": 24, "customer_years": 30.0, "annual_churn_rate": 0.8, "lifetime_bound": None,
              "ltv_floor_applied": False, "cost_xaf": 300000, "new_customers": 14.5, "cac_xaf": 20690.0,
              "ltv_to_cac": 1.45, "revenue_ltv_to_cac": 3.32, "ltv_net_of_cac_xaf": 48060,
              "margin_ltv_net_of_cac_xaf": 9310}


class LtvView(APIView):
    @extend_schema(
        summary="Lifetime value per customer, segment and acquisition channel",
        description="LTV = average order value x orders per year x expected lifetime (1 / the observed annual "
        "churn, between a floor and a ceiling), in net revenue and in margin, never below what the group has "
        "already spent; the method is stated in `method` and its settings in `parameters`. Per segment and per "
        "acquisition channel (the channel with the largest share of the customer's first order under `model`): "
        "CAC, LTV:CAC (margin LTV / CAC) and LTV net of acquisition cost (LTV - CAC). Then the top customers.",
        parameters=[s.LtvQuerySerializer],
        responses={200: s.LtvSerializer, 400: _QUERY_400},
        examples=[OpenApiExample("LTV", response_only=True, value={
            "model": "position_based", "method": "LTV = average order value x orders per year x expected lifetime ...",
            "parameters": {"as_of": "2026-11-25T12:00:00+01:00", "churn_after_days": 180,
                           "min_lifetime_years": 0.493, "max_lifetime_years": 3.0},
            "overall": {**_LTV_GROUP, "name": "all"}, "segments": [{**_LTV_GROUP, "name": "host"}],
            "channels": [_LTV_GROUP],
            "customers": [{"contact_id": 7, "name": "Awa Ndiaye", "segment": "host",
                           "acquisition_channel": "word_of_mouth", "orders": 5, "revenue_xaf": 125000,
                           "margin_xaf": 52000, "orders_per_year": 4.1, "tenure_days": 445,
                           "first_order_at": "2025-09-01T10:00:00+01:00",
                           "last_order_at": "2026-11-02T10:00:00+01:00", "lost": False}]})],
        tags=TAGS,
    )
    def get(self, request: Request) -> Response:
        query = _query(s.LtvQuerySerializer, request)
        data = selectors.ltv_report(model=query.get("model"), limit=query.get("limit") or 50)
        return Response(s.LtvSerializer(data).data)


class CohortView(APIView):
    @extend_schema(
        summary="Cohort retention by month of first order",
        parameters=[s.CohortQuerySerializer],
        responses={200: s.CohortSerializer, 400: _QUERY_400},
        examples=[OpenApiExample("Two cohorts", response_only=True, value={
            "months": 12, "cohorts": [{"cohort": "2026-09-01", "customers": 20, "retention": [1.0, 0.25, 0.15]},
                                      {"cohort": "2026-10-01", "customers": 25, "retention": [1.0, 0.2]}]})],
        tags=TAGS,
    )
    def get(self, request: Request) -> Response:
        query = _query(s.CohortQuerySerializer, request)
        return Response(s.CohortSerializer(selectors.cohort_retention(months=query.get("months") or 12)).data)


class _PagedListView(GenericAPIView):
    """A read-only list with the project's cursor pagination, so the schema documents the page object
    (``next``, ``previous``, ``results``) the view really returns, and the ``cursor`` and ``page_size``
    parameters."""

    pagination_class = CreatedCursorPagination
    filter_backends: list[type] = []

    def paged(self, queryset: Any, serializer_class: type) -> Response:
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(serializer_class(page, many=True).data)


class RfmListView(_PagedListView):
    queryset = RfmScore.objects.none()
    serializer_class = s.RfmScoreSerializer

    @extend_schema(
        summary="RFM scores of contacts",
        description="Recency, frequency and monetary quintile scores (1-5) and named groups, recomputed nightly. "
        "Filter by `group` (repeatable) or minimum scores; newest first, cursor-paginated.",
        parameters=[s.RfmQuerySerializer],
        responses={200: s.RfmScoreSerializer(many=True), 400: _QUERY_400},
        examples=[OpenApiExample("A champion", response_only=True, value={"next": None, "previous": None, "results": [
            {"contact_id": 7, "recency_days": 6, "frequency": 5, "monetary_xaf": 125000, "r_score": 5,
             "f_score": 5, "m_score": 5, "code": "555", "group": "champions", "period_days": 365,
             "computed_at": "2026-11-25T02:30:00+01:00"}]})],
        tags=TAGS,
    )
    def get(self, request: Request) -> Response:
        serializer = s.RfmQuerySerializer(data=request.query_params)
        serializer.is_valid(raise_exception=True)
        filters = dict(serializer.validated_data)
        if "group" in filters:
            filters["group"] = sorted(filters["group"])
        return self.paged(selectors.rfm_list(filters=filters), s.RfmScoreSerializer)


class LeaderboardView(APIView):
    @extend_schema(
        summary="Ambassador leaderboard",
        description="Referrers ranked by the revenue of the people they brought, with referral counts and rewards.",
        parameters=[s.LimitQuerySerializer],
        responses={200: s.LeaderboardRowSerializer(many=True), 400: _QUERY_400},
        examples=[OpenApiExample("Top ambassador", response_only=True, value=[
            {"contact_id": 7, "name": "Awa Ndiaye", "referral_code": "K7P2QX", "lifecycle_stage": "ambassador",
             "referrals": 6, "referrals_by_code": 5, "referred_buyers": 4, "referred_revenue_xaf": 210000, "rewards": 4, "points": 0}])],
        tags=TAGS,
    )
    def get(self, request: Request) -> Response:
        query = _query(s.LimitQuerySerializer, request)
        rows = selectors.referral_leaderboard(limit=query.get("limit") or 20)
        return Response(s.LeaderboardRowSerializer(rows, many=True).data)


_RUN_EXAMPLE = {"id": 42, "kind": "incremental", "state": "succeeded", "started_at": "2026-11-25T08:00:00+01:00",
                "finished_at": "2026-11-25T08:00:01+01:00", "watermark": "2026-11-25T07:58:00+01:00",
                "contacts_processed": 12, "orders_processed": 15, "credits_written": 104, "error": ""}


class RunListView(_PagedListView):
    queryset = AttributionRun.objects.none()
    serializer_class = s.RunSerializer

    @extend_schema(
        summary="Attribution runs",
        description="Incremental runs every few minutes (beat) and full recomputes, newest first.",
        responses={200: s.RunSerializer(many=True)},
        examples=[OpenApiExample("Runs", response_only=True,
                                 value={"next": None, "previous": None, "results": [_RUN_EXAMPLE]})],
        tags=TAGS,
    )
    def get(self, request: Request) -> Response:
        return self.paged(selectors.run_list(), s.RunSerializer)

    @extend_schema(
        summary="Run attribution now",
        description="Computes credits for what changed since the last run, or every order with `full`. "
        "409 while another run is in progress.",
        request=s.RunRequestSerializer,
        responses={201: s.RunSerializer, 409: OpenApiResponse(ErrorSerializer, description="A run is in progress.")},
        examples=[OpenApiExample("Full recompute", value={"full": True}, request_only=True),
                  OpenApiExample("Run", value=_RUN_EXAMPLE, response_only=True, status_codes=["201"])],
        tags=TAGS,
    )
    def post(self, request: Request) -> Response:
        serializer = s.RunRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        run = services.attribution_run_request(full=serializer.validated_data["full"])
        return Response(s.RunSerializer(run).data, status=status.HTTP_201_CREATED)


class CreditListView(APIView):
    @extend_schema(
        summary="Credits of one order",
        description="Every credit row of the order under each model (or one `model`), refunds included.",
        parameters=[s.CreditQuerySerializer],
        responses={200: s.CreditSerializer(many=True), 400: _QUERY_400},
        examples=[OpenApiExample("Linear credit", response_only=True, value=[
            {"order_id": 15, "contact_id": 7, "model": "linear", "campaign_id": 3, "channel": "facebook_ads",
             "revenue_xaf": 12500, "margin_xaf": 5200, "weight": 0.5, "touches": 1, "is_refund": False,
             "refund_id": None, "is_first_order": True, "occurred_at": "2026-11-18T10:00:00+01:00"}])],
        tags=TAGS,
    )
    def get(self, request: Request) -> Response:
        query = _query(s.CreditQuerySerializer, request)
        rows = selectors.credit_list(order_id=query["order_id"], model=query.get("model"))
        return Response(s.CreditSerializer(rows, many=True).data)
