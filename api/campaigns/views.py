"""The campaigns API: thin views that validate input, call a service or selector, and serialize."""

from __future__ import annotations

import io
import json
from typing import Any

import segno
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import AllowAny
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.campaigns import selectors, services
from api.campaigns.filters import (
    CampaignFilter,
    CostFilter,
    CouponFilter,
    PageAudienceFilter,
    TouchpointFilter,
)
from api.campaigns.models import Campaign, CampaignCost, Coupon, FacebookCampaign, PageAudienceDay, Touchpoint
from api.campaigns.serializers import (
    CampaignInSerializer,
    CampaignLinksSerializer,
    CampaignOutSerializer,
    CampaignStatsSerializer,
    CaptureInSerializer,
    CaptureOutSerializer,
    CostInSerializer,
    CostOutSerializer,
    CostPatchSerializer,
    CouponInSerializer,
    CouponOutSerializer,
    CouponPatchSerializer,
    FacebookCampaignOutSerializer,
    FacebookMapInSerializer,
    PageAudienceOutSerializer,
    SyncKickOutSerializer,
    TouchpointBulkInSerializer,
    TouchpointBulkOutSerializer,
    TouchpointInSerializer,
    TouchpointOutSerializer,
)
from api.common.errors import NotFoundError
from api.common.exceptions import error_body
from api.common.filters import query_bool, query_choice, query_int
from api.common.serializers import ErrorSerializer

TAGS = ["campaigns"]

_LINKS = {
    "redirect": "https://confiotes.cm/r/FB-NOEL25",
    "telegram": "https://t.me/ConfiotesBot?start=FB-NOEL25",
    "messenger": "https://m.me/confiotes?ref=FB-NOEL25",
    "whatsapp": "https://wa.me/237690000000?text=Bonjour%20Confiotes%20%21%20Code%20FB-NOEL25",
}
_CAMPAIGN_IN = {"name": "Coffrets de Noël 2025", "code": "FB-NOEL25", "channel": "facebook_ads",
                "objective": "convert", "status": "active", "starts_on": "2025-12-01", "ends_on": "2025-12-31",
                "budget_xaf": 150000, "facebook_campaign_ids": ["120210000000000001"]}
_CAMPAIGN = {"id": 12, **_CAMPAIGN_IN, "facebook_ad_ids": [], "landing_url": "", "notes": "", "links": _LINKS,
             "click_count": 318, "total_cost_xaf": 142350, "created_at": "2025-11-20T10:00:00+01:00",
             "updated_at": "2025-12-02T08:00:00+01:00"}
_COUPON_RULES = {"kind": "percent", "value": 10, "minimum_order_xaf": 15000, "starts_on": "2025-12-01",
                 "ends_on": "2025-12-31", "max_uses": 200, "max_uses_per_customer": 1, "segment": "",
                 "product_ids": [], "gift_box_ids": [4]}
_COUPON = {"id": 5, "code": "NOEL10", "campaign": 12, "campaign_code": "FB-NOEL25",
           "description": "10 % sur les coffrets", "active": True, **_COUPON_RULES,
           "created_at": "2025-11-20T10:00:00+01:00"}
_COST = {"id": 88, "campaign": 12, "campaign_code": "FB-NOEL25", "day": "2025-12-03", "kind": "printing",
         "source": "manual", "amount_xaf": 65596, "original_amount": "100.00", "currency": "EUR",
         "note": "500 flyers", "created_at": "2025-12-03T15:00:00+01:00", "updated_at": "2025-12-03T15:00:00+01:00"}
_TOUCH_IN = {"contact_id": 42, "channel": "in_person", "kind": "tasting_visit", "campaign_code": "DEG-BONAMOU",
             "occurred_at": "2026-11-21T11:30:00+01:00", "details": {"note": "a goûté le sirop de gingembre"}}
_TOUCH = {"id": 901, "contact": 42, "campaign": 15, "campaign_code": "DEG-BONAMOU", "channel": "in_person",
          "kind": "tasting_visit", "occurred_at": "2026-11-21T11:30:00+01:00", "provider_event_id": None,
          "details": {"note": "a goûté le sirop de gingembre"}, "created_at": "2026-11-21T12:00:00+01:00",
          "updated_at": "2026-11-21T12:00:00+01:00"}
_FB_CAMPAIGN = {"id": 3, "facebook_id": "120210000000000007", "name": "Sirops - trafic Messenger",
                "status": "ACTIVE", "campaign": None, "campaign_code": None, "spend_xaf": 48500, "days_count": 9,
                "created_at": "2026-11-01T02:00:00+01:00", "updated_at": "2026-11-25T02:00:00+01:00"}


def _page(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"next": "https://confiotes.cm/api/v1/...?cursor=cD0yMDI2", "previous": None, "results": items}


def _errors(*codes: int) -> dict[int, Any]:
    return dict.fromkeys(codes, ErrorSerializer)


class _ListView(GenericAPIView):
    """A list with the project's cursor pagination and a filter set."""

    def list_response(self, request: Request, queryset: Any, serializer_class: Any) -> Response:
        queryset = self.filter_queryset(queryset)
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(serializer_class(page, many=True).data)


def _campaign(pk: int) -> Campaign:
    campaign = selectors.campaign_list().filter(pk=pk).first()
    if campaign is None:
        raise NotFoundError(f"No campaign #{pk}.")
    return campaign


# --- campaigns -----------------------------------------------------------------------------------------


class CampaignListView(_ListView):
    queryset = Campaign.objects.none()
    filterset_class = CampaignFilter
    serializer_class = CampaignOutSerializer

    @extend_schema(summary="List campaigns", tags=TAGS, responses=CampaignOutSerializer(many=True),
                   examples=[OpenApiExample("Campaigns", value=_page([_CAMPAIGN]), response_only=True)])
    def get(self, request: Request) -> Response:
        return self.list_response(request, selectors.campaign_list(), CampaignOutSerializer)

    @extend_schema(summary="Create a campaign", tags=TAGS, request=CampaignInSerializer,
                   responses={201: CampaignOutSerializer, **_errors(409)},
                   description="The code is stored upper case and must be unique among campaign and coupon "
                               "codes (409 `code_taken`). Listed Facebook campaign ids are claimed at once.",
                   examples=[OpenApiExample("Facebook campaign", value=_CAMPAIGN_IN, request_only=True),
                             OpenApiExample("Created", value=_CAMPAIGN, response_only=True, status_codes=["201"])])
    def post(self, request: Request) -> Response:
        data = CampaignInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        campaign = services.campaign_create(**data.validated_data)
        return Response(CampaignOutSerializer(_campaign(campaign.pk)).data, status=status.HTTP_201_CREATED)


class CampaignDetailView(APIView):
    @extend_schema(summary="Get a campaign with its links", tags=TAGS, responses=CampaignOutSerializer,
                   examples=[OpenApiExample("Campaign", value=_CAMPAIGN, response_only=True)])
    def get(self, request: Request, pk: int) -> Response:
        return Response(CampaignOutSerializer(_campaign(pk)).data)

    @extend_schema(summary="Change a campaign", tags=TAGS, request=CampaignInSerializer(partial=True),
                   responses={200: CampaignOutSerializer, **_errors(409)},
                   examples=[OpenApiExample("Pause", value={"status": "paused"}, request_only=True),
                             OpenApiExample("Changed", value={**_CAMPAIGN, "status": "paused"}, response_only=True)])
    def patch(self, request: Request, pk: int) -> Response:
        data = CampaignInSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        services.campaign_update(campaign=_campaign(pk), **data.validated_data)
        return Response(CampaignOutSerializer(_campaign(pk)).data)

    @extend_schema(summary="Delete an unused campaign", tags=TAGS, responses={204: None, **_errors(409)},
                   description="Refused (409 `campaign_in_use`) once it has touchpoints or synced costs.",
                   examples=[OpenApiExample("In use", value={"code": "campaign_in_use", "message": "This campaign "
                                            "has touchpoints or synced costs; set its status to ended instead.",
                                            "errors": []}, response_only=True, status_codes=["409"])])
    def delete(self, request: Request, pk: int) -> Response:
        services.campaign_delete(campaign=_campaign(pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


class CampaignLinksView(APIView):
    @extend_schema(summary="Tracked links of a campaign", tags=TAGS, responses=CampaignLinksSerializer,
                   description="Telegram deep link, Messenger `m.me` link, WhatsApp click-to-chat link with the "
                               "code in the prefilled text, and the counting redirect `/r/<code>`.",
                   examples=[OpenApiExample("Links", value=_LINKS, response_only=True)])
    def get(self, request: Request, pk: int) -> Response:
        return Response(selectors.campaign_links(_campaign(pk)))


class CampaignStatsView(APIView):
    @extend_schema(summary="Clicks, touchpoints and costs of a campaign", tags=TAGS,
                   responses=CampaignStatsSerializer,
                   examples=[OpenApiExample("Stats", response_only=True, value={
                       "clicks": 318, "touchpoints": 97, "contacts": 81, "cost_xaf": 142350,
                       "cost_by_kind": {"ads": 120000, "printing": 22350}})])
    def get(self, request: Request, pk: int) -> Response:
        return Response(selectors.campaign_stats(_campaign(pk)))


class _ImageRenderer(BaseRenderer):
    charset = None

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> Any:
        return data if isinstance(data, bytes | str) else json.dumps(data).encode()


class PNGRenderer(_ImageRenderer):
    media_type = "image/png"
    format = "png"


class SVGRenderer(_ImageRenderer):
    media_type = "image/svg+xml"
    format = "svg"


_QR_PARAMS = [
    OpenApiParameter("link", str, enum=["redirect", "telegram", "messenger", "whatsapp"],
                     description="Which link the code holds (default `redirect`, which counts scans)."),
    OpenApiParameter("scale", int, description="Size of one module in pixels (1-40, default 10)."),
]


class _QRView(APIView):
    kind = "png"
    content_type = "image/png"

    def handle_exception(self, exc: Exception) -> Response:
        """Render an error (a bad ``scale``, an unknown campaign) as JSON in the common shape, labelled as JSON.

        Content negotiation picked the image renderer, which sent the error's JSON as ``image/png``.
        """
        response = super().handle_exception(exc)
        self.request.accepted_renderer, self.request.accepted_media_type = JSONRenderer(), "application/json"
        return response

    def qr(self, request: Request, pk: int) -> HttpResponse:
        campaign = _campaign(pk)
        link = request.query_params.get("link", "redirect")
        links = selectors.campaign_links(campaign)
        if link not in links:
            return HttpResponse(json.dumps(error_body("validation_error", "link must be redirect, telegram, "
                                                      "messenger or whatsapp.", [{"field": "link", "code": "invalid",
                                                                                   "message": "Unknown link."}])),
                                status=400, content_type="application/json")
        # A bad scale is a 400, not a silent default: int("abc") used to raise here (a 500).
        scale = query_int(request.query_params, "scale", default=10, minimum=1, maximum=40)
        buffer = io.BytesIO()
        segno.make(links[link], error="m").save(buffer, kind=self.kind, scale=scale, border=4)
        response = HttpResponse(buffer.getvalue(), content_type=self.content_type)
        response["Content-Disposition"] = f'inline; filename="{campaign.code}-{link}.{self.kind}"'
        response["Cache-Control"] = "private, max-age=3600"
        return response


class CampaignQRPngView(_QRView):
    renderer_classes = [PNGRenderer, JSONRenderer]
    kind, content_type = "png", "image/png"

    @extend_schema(summary="QR code of a campaign link (PNG)", tags=TAGS, parameters=_QR_PARAMS,
                   responses={(200, "image/png"): OpenApiTypes.BINARY},
                   examples=[OpenApiExample("Bottle label", value=None, response_only=True)])
    def get(self, request: Request, pk: int) -> HttpResponse:
        return self.qr(request, pk)


class CampaignQRSvgView(_QRView):
    renderer_classes = [SVGRenderer, JSONRenderer]
    kind, content_type = "svg", "image/svg+xml"

    @extend_schema(summary="QR code of a campaign link (SVG)", tags=TAGS, parameters=_QR_PARAMS,
                   responses={(200, "image/svg+xml"): OpenApiTypes.STR},
                   examples=[OpenApiExample("Flyer", value=None, response_only=True)])
    def get(self, request: Request, pk: int) -> HttpResponse:
        return self.qr(request, pk)


class TrackingRedirectView(APIView):
    """``/r/<code>``: count the click, then redirect (public)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        summary="Count a click on a tracked link and redirect", tags=TAGS,
        description="Public. Counts the click (anonymously), then answers 302 to `?to=telegram|messenger|whatsapp`, "
                    "else the campaign's landing URL, else the configured default. `?c=<referral code>` "
                    "also records a `link_click` touchpoint for that contact. Unknown code: 404.",
        parameters=[OpenApiParameter("to", str, enum=["telegram", "messenger", "whatsapp"]),
                    OpenApiParameter("c", str, description="Referral code of the contact the link was sent to.")],
        responses={302: OpenApiResponse(description="Redirect to the target (`Location`)."), **_errors(404)},
        examples=[OpenApiExample("Unknown code", value={"code": "not_found", "message": "No such link.",
                                                        "errors": []}, response_only=True, status_codes=["404"])],
    )
    def get(self, request: Request, code: str) -> HttpResponse:
        campaign = selectors.campaign_get_by_code(code)
        if campaign is None:
            raise NotFoundError("No such link.")
        # Our links only ever carry these; anything else is refused before the click is counted.
        to = query_choice(request.query_params, "to", ["telegram", "messenger", "whatsapp"])
        target, url = selectors.campaign_redirect_target(campaign, to)
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        ip = forwarded.split(",")[0].strip() if forwarded else request.META.get("REMOTE_ADDR", "")
        services.link_click_record(campaign=campaign, target=target, ip=ip,
                                   user_agent=request.META.get("HTTP_USER_AGENT", ""),
                                   referer=request.META.get("HTTP_REFERER", ""),
                                   contact_ref=request.query_params.get("c"))
        response = HttpResponseRedirect(url)
        response["Cache-Control"] = "no-store"  # every click must reach us to be counted
        return response


# --- coupons -----------------------------------------------------------------------------------------------


class CouponListView(_ListView):
    queryset = Coupon.objects.none()
    filterset_class = CouponFilter
    serializer_class = CouponOutSerializer

    @extend_schema(summary="List coupons", tags=TAGS, responses=CouponOutSerializer(many=True),
                   examples=[OpenApiExample("Coupons", value=_page([_COUPON]), response_only=True)])
    def get(self, request: Request) -> Response:
        return self.list_response(request, Coupon.objects.select_related("campaign"), CouponOutSerializer)

    @extend_schema(summary="Create a coupon of a campaign", tags=TAGS, request=CouponInSerializer,
                   description="A coupon takes `value` percent of the goods (rounded down to the franc) or `value` "
                   "XAF off them, never more than the goods total; the delivery fee is never discounted. With "
                   "`product_ids` or `gift_box_ids` only those lines are discounted. Without `kind` and `value` "
                   "it gives no discount and only tracks its campaign. An order whose coupon is unknown or "
                   "cannot be used is refused with a 400 `coupon_invalid` naming the reason.",
                   responses={201: CouponOutSerializer, **_errors(400, 409)},
                   examples=[OpenApiExample("Coupon", value={"campaign_id": 12, "code": "NOEL10",
                                                             "description": "10 % sur les coffrets",
                                                             **_COUPON_RULES},
                                            request_only=True),
                             OpenApiExample("Created", value=_COUPON, response_only=True, status_codes=["201"])])
    def post(self, request: Request) -> Response:
        data = CouponInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        campaign = _campaign(values.pop("campaign_id"))
        coupon = services.coupon_create(campaign=campaign, **values)
        return Response(CouponOutSerializer(coupon).data, status=status.HTTP_201_CREATED)


class CouponDetailView(APIView):
    @extend_schema(summary="Change or switch off a coupon", tags=TAGS, request=CouponPatchSerializer,
                   description="Its code never changes (it is printed); orders already taken keep their discount.",
                   responses={200: CouponOutSerializer, **_errors(400)},
                   examples=[OpenApiExample("Switch off", value={"active": False}, request_only=True),
                             OpenApiExample("Changed", value={**_COUPON, "active": False}, response_only=True)])
    def patch(self, request: Request, pk: int) -> Response:
        coupon = get_object_or_404(Coupon.objects.select_related("campaign"), pk=pk)
        data = CouponPatchSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(CouponOutSerializer(services.coupon_update(coupon=coupon, **data.validated_data)).data)


# --- costs ---------------------------------------------------------------------------------------------------


class CostListView(_ListView):
    queryset = CampaignCost.objects.none()
    filterset_class = CostFilter
    serializer_class = CostOutSerializer

    @extend_schema(summary="List campaign costs", tags=TAGS, responses=CostOutSerializer(many=True),
                   examples=[OpenApiExample("Costs", value=_page([_COST]), response_only=True)])
    def get(self, request: Request) -> Response:
        return self.list_response(request, selectors.costs_query(), CostOutSerializer)

    @extend_schema(
        summary="Record a manual cost", tags=TAGS, request=CostInSerializer, responses={201: CostOutSerializer},
        description="Give `amount_xaf`, or `amount` and `currency`: EUR converts at the fixed peg 655.957; another "
                    "currency needs a rate in `CURRENCY_RATES_XAF`, else 400 `currency_rate_missing`.",
        examples=[OpenApiExample("Flyers paid in euros", request_only=True, value={
            "campaign_id": 12, "day": "2025-12-03", "kind": "printing", "amount": "100.00", "currency": "EUR",
            "note": "500 flyers"}),
            OpenApiExample("Recorded", value=_COST, response_only=True, status_codes=["201"])])
    def post(self, request: Request) -> Response:
        data = CostInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        campaign = _campaign(values.pop("campaign_id"))
        cost = services.cost_create(campaign=campaign, **values)
        return Response(CostOutSerializer(cost).data, status=status.HTTP_201_CREATED)


class CostDetailView(APIView):
    @extend_schema(summary="Get a cost", tags=TAGS, responses=CostOutSerializer,
                   examples=[OpenApiExample("Cost", value=_COST, response_only=True)])
    def get(self, request: Request, pk: int) -> Response:
        return Response(CostOutSerializer(get_object_or_404(selectors.costs_query(), pk=pk)).data)

    @extend_schema(summary="Change a manual cost", tags=TAGS, request=CostPatchSerializer,
                   responses={200: CostOutSerializer, **_errors(409)},
                   description="Synced costs (Facebook, sample orders) are read-only: 409 `cost_synced`.",
                   examples=[OpenApiExample("New amount", value={"amount_xaf": 70000}, request_only=True),
                             OpenApiExample("Changed", value={**_COST, "amount_xaf": 70000}, response_only=True)])
    def patch(self, request: Request, pk: int) -> Response:
        cost = get_object_or_404(selectors.costs_query(), pk=pk)
        data = CostPatchSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(CostOutSerializer(services.cost_update(cost=cost, **data.validated_data)).data)

    @extend_schema(summary="Delete a manual cost", tags=TAGS, responses={204: None, **_errors(409)},
                   examples=[OpenApiExample("Synced", value={"code": "cost_synced", "message": "Synced costs come "
                                            "from the provider and cannot be deleted.", "errors": []},
                                            response_only=True, status_codes=["409"])])
    def delete(self, request: Request, pk: int) -> Response:
        services.cost_delete(cost=get_object_or_404(CampaignCost, pk=pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- touchpoints ----------------------------------------------------------------------------------------------


class TouchpointListView(_ListView):
    queryset = Touchpoint.objects.none()
    filterset_class = TouchpointFilter
    serializer_class = TouchpointOutSerializer

    @extend_schema(summary="List touchpoints", tags=TAGS, responses=TouchpointOutSerializer(many=True),
                   examples=[OpenApiExample("Touchpoints", value=_page([_TOUCH]), response_only=True)])
    def get(self, request: Request) -> Response:
        return self.list_response(request, Touchpoint.objects.select_related("campaign"), TouchpointOutSerializer)

    @extend_schema(summary="Record an offline touchpoint", tags=TAGS, request=TouchpointInSerializer,
                   responses={201: TouchpointOutSerializer, 200: TouchpointOutSerializer},
                   description="A tasting, a fair, a referral... With a `provider_event_id` already stored, "
                               "nothing is added and the stored touchpoint is returned with 200.",
                   examples=[OpenApiExample("Tasting", value=_TOUCH_IN, request_only=True),
                             OpenApiExample("Recorded", value=_TOUCH, response_only=True,
                                            status_codes=["201", "200"])])
    def post(self, request: Request) -> Response:
        data = TouchpointInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        touchpoint = services.touchpoint_record(**data.validated_data)
        if touchpoint is None:
            stored = Touchpoint.objects.get(provider_event_id=data.validated_data["provider_event_id"])
            return Response(TouchpointOutSerializer(stored).data, status=status.HTTP_200_OK)
        return Response(TouchpointOutSerializer(touchpoint).data, status=status.HTTP_201_CREATED)


class TouchpointBulkView(APIView):
    @extend_schema(summary="Record many touchpoints at once", tags=TAGS, request=TouchpointBulkInSerializer,
                   responses={201: TouchpointBulkOutSerializer},
                   description="Up to 500 items, all or nothing: an invalid item is a 400 naming `items[i].field`. "
                               "Items whose `provider_event_id` is already stored count as duplicates (id null).",
                   examples=[OpenApiExample("A fair day", request_only=True, value={"items": [
                       _TOUCH_IN, {**_TOUCH_IN, "contact_id": 43, "kind": "fair_visit"}]}),
                       OpenApiExample("Recorded", response_only=True, status_codes=["201"],
                                      value={"created": 2, "duplicates": 0, "ids": [901, 902]})])
    def post(self, request: Request) -> Response:
        data = TouchpointBulkInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        results = services.touchpoints_record_bulk(items=data.validated_data["items"])
        ids = [t.pk if t else None for t in results]
        created = sum(1 for i in ids if i is not None)
        return Response({"created": created, "duplicates": len(ids) - created, "ids": ids},
                        status=status.HTTP_201_CREATED)


class CaptureView(APIView):
    @extend_schema(
        summary="Capture a prospect at a tasting or a fair", tags=TAGS, request=CaptureInSerializer,
        responses={201: CaptureOutSerializer, **_errors(409)},
        description="One request makes (or updates, by phone) the contact, grants its consents and records the "
                    "visit touchpoint with the two answers of the stand's form. 409 when the phone belongs to "
                    "an erased person or conflicts with another contact.",
        examples=[OpenApiExample("Fair stand", request_only=True, value={
            "name": "Awa Ndjock", "phone": "699 12 34 56", "segment": "host", "kind": "fair_visit",
            "campaign_code": "FOIRE-DLA-25", "city": "Douala", "consent_channels": ["whatsapp"],
            "self_reported_source": "Une amie",
            "answers": [{"question": "Pour quelle occasion ?", "answer": "Tontine"},
                        {"question": "Quel produit avez-vous préféré ?", "answer": "Sirop de gingembre"}],
            "client_event_id": "5f0c3a9e-2b1d-4c8e-9f5a-0d1e2f3a4b5c"}),
            OpenApiExample("Captured", response_only=True, status_codes=["201"],
                           value={"contact_id": 42, "created": True, "touchpoint_id": 903,
                                  "consents": ["whatsapp"], "referred_by_id": None})])
    def post(self, request: Request) -> Response:
        data = CaptureInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = services.capture_submit(**data.validated_data, actor=request.user)
        return Response({"contact_id": result.contact.pk, "created": result.created,
                         "touchpoint_id": result.touchpoint.pk if result.touchpoint else None,
                         "consents": result.consents, "referred_by_id": result.referred_by_id},
                        status=status.HTTP_201_CREATED)


# --- Facebook ---------------------------------------------------------------------------------------------------


class FacebookCampaignListView(_ListView):
    queryset = FacebookCampaign.objects.none()
    serializer_class = FacebookCampaignOutSerializer

    @extend_schema(summary="List Facebook campaigns (unmapped ones to claim)", tags=["facebook"],
                   parameters=[OpenApiParameter("mapped", bool, description="false: only those no campaign "
                                                                             "claims; true: only mapped ones.")],
                   responses=FacebookCampaignOutSerializer(many=True),
                   examples=[OpenApiExample("Unmapped", value=_page([_FB_CAMPAIGN]), response_only=True)])
    def get(self, request: Request) -> Response:
        mapped = query_bool(request.query_params, "mapped")
        return self.list_response(request, selectors.facebook_campaign_list(mapped=mapped),
                                  FacebookCampaignOutSerializer)


class FacebookCampaignMapView(APIView):
    @extend_schema(summary="Map a Facebook campaign to a campaign", tags=["facebook"],
                   request=FacebookMapInSerializer, responses={200: FacebookCampaignOutSerializer, **_errors(409)},
                   description="Its synced daily spend becomes `ads` costs of the campaign at once (and leaves the "
                               "previous one). `campaign_id: null` unmaps it.",
                   examples=[OpenApiExample("Map", value={"campaign_id": 12}, request_only=True),
                             OpenApiExample("Mapped", response_only=True, value={
                                 **_FB_CAMPAIGN, "campaign": 12, "campaign_code": "FB-NOEL25"})])
    def post(self, request: Request, facebook_id: str) -> Response:
        data = FacebookMapInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        campaign_id = data.validated_data["campaign_id"]
        campaign = _campaign(campaign_id) if campaign_id is not None else None
        fb = services.facebook_campaign_map(facebook_id=facebook_id, campaign=campaign)
        return Response(FacebookCampaignOutSerializer(selectors.facebook_campaign_list().get(pk=fb.pk)).data)


class PageAudienceListView(_ListView):
    queryset = PageAudienceDay.objects.none()
    filterset_class = PageAudienceFilter
    serializer_class = PageAudienceOutSerializer

    @extend_schema(summary="Facebook Page audience per day", tags=["facebook"],
                   responses=PageAudienceOutSerializer(many=True),
                   examples=[OpenApiExample("Follows", response_only=True, value=_page([{
                       "id": 1, "page_id": "104857600000001", "metric": "page_follows", "day": "2026-11-24",
                       "value": 2841, "created_at": "2026-11-25T03:00:00+01:00",
                       "updated_at": "2026-11-25T03:00:00+01:00"}]))])
    def get(self, request: Request) -> Response:
        return self.list_response(request, selectors.page_audience_list(), PageAudienceOutSerializer)


class FacebookSyncView(APIView):
    @extend_schema(summary="Run the Facebook syncs now", tags=["facebook"], request=None,
                   responses={202: SyncKickOutSerializer},
                   description="Queues the ad-spend and Page audience syncs (they also run on the beat schedule).",
                   examples=[OpenApiExample("Queued", response_only=True, status_codes=["202"],
                                            value={"queued": ["facebook_ads", "facebook_page"]})])
    def post(self, request: Request) -> Response:
        return Response({"queued": services.facebook_sync_request()}, status=status.HTTP_202_ACCEPTED)
