"""Nurture API: the Telegram webhook (public, secret header) and staff endpoints for sequences,
enrollments, broadcasts and outbound messages."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import ParseError
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.common.errors import ApplicationError, field_error
from api.common.exceptions import error_body
from api.common.filters import MAX_ID, query_bool, query_choice, query_datetime, query_int
from api.common.pagination import StrictPageNumberPagination
from api.common.parsers import json_loads_bounded
from api.common.schema import request_example, response_example
from api.common.serializers import ErrorSerializer
from api.nurture import selectors, services
from api.nurture.filters import EnrollmentFilter, OutboundMessageFilter
from api.nurture.models import Conversation
from api.nurture.serializers import (
    BroadcastInputSerializer,
    BroadcastOutputSerializer,
    ConversationAssignInputSerializer,
    ConversationMessageSerializer,
    ConversationOutputSerializer,
    ConversationReplyInputSerializer,
    EnrollInputSerializer,
    EnrollmentOutputSerializer,
    MetaWebhookAckSerializer,
    OutboundMessageOutputSerializer,
    SequenceInputSerializer,
    SequenceOutputSerializer,
    SequenceUpdateSerializer,
    StepInputSerializer,
    WebhookAckSerializer,
    WhatsAppTemplateOutputSerializer,
    WhatsAppTemplateSyncOutputSerializer,
)
from integrations.meta import parse_messenger, parse_whatsapp, verify_challenge, verify_signature
from integrations.telegram import secret_token_matches

logger = logging.getLogger(__name__)
TAGS = ["nurture"]


def _page(item: Any) -> dict[str, Any]:
    return {"next": None, "previous": None, "results": [item]}


_ERR_404 = {404: ErrorSerializer}
_ERR_409 = {409: ErrorSerializer}

_START_UPDATE = {"update_id": 815000101, "message": {
    "message_id": 12, "date": 1764057600, "text": "/start FB-NOEL",
    "from": {"id": 551234567, "is_bot": False, "first_name": "Awa", "username": "awa_m", "language_code": "fr"},
    "chat": {"id": 551234567, "type": "private", "first_name": "Awa"},
    "entities": [{"offset": 0, "length": 6, "type": "bot_command"}]}}

_STEP = {"position": 1, "delay": "01:00:00", "text": "Bonjour {first_name} ! Découvrez notre sirop de gingembre.",
         "image_url": "", "window_start": "09:00:00", "window_end": "20:00:00", "whatsapp_template": 7}
_SEQUENCE = {"id": 3, "name": "Introduction", "purpose": "introduction", "campaign_code": "", "audience": {},
             "channels": ["telegram", "messenger", "whatsapp"], "stop_on_order": True, "stop_on_reply": False,
             "is_active": True, "steps": [_STEP], "created_at": "2026-11-25T09:00:00+01:00",
             "updated_at": "2026-11-25T09:00:00+01:00"}
_SEQUENCE_IN = {"name": "Introduction", "purpose": "introduction", "audience": {"segment": ["host", "healthy"]},
                "channels": ["telegram", "whatsapp"],
                "steps": [{"delay": "01:00:00", "text": "Bonjour {first_name} !"},
                          {"delay": "2 00:00:00", "text": "{salutation} {first_name}, goûtez notre liqueur de bissap.",
                           "window_start": "10:00", "window_end": "19:00"}]}
_ENROLLMENT = {"id": 41, "sequence": 3, "contact": 17, "state": "active", "trigger": "staff",
               "trigger_ref": "staff:2026-11-25T09:00:00+00:00", "stopped_reason": "",
               "created_at": "2026-11-25T10:00:00+01:00", "ended_at": None}
_MESSAGE = {"id": 901, "contact": 17, "channel": "telegram", "recipient": "551234567", "category": "marketing",
            "text": "Bonjour Awa !", "image_url": "", "due_at": "2026-11-25T10:00:00+01:00", "state": "sent",
            "reason": "", "provider_message_id": "5012", "attempts": 1, "claimed_at": "2026-11-25T10:00:01+01:00",
            "sent_at": "2026-11-25T10:00:01+01:00", "idempotency_key": "seq:41:1", "enrollment": 41,
            "broadcast": None, "created_at": "2026-11-25T09:00:00+01:00", "updated_at": "2026-11-25T10:00:01+01:00",
            "delivered_at": "2026-11-25T10:00:03+01:00", "read_at": None, "failure_code": "", "pricing_category": "",
            "billable": None, "template_name": "", "template_language": "", "template_parameters": None}
_BROADCAST_IN = {"name": "Coffrets de Noël", "text": "{first_name}, nos coffrets de Noël sont arrivés 🎁",
                 "audience": {"segment": ["host"]}, "channels": ["telegram"], "send_at": "2026-12-01T10:00:00+01:00"}
_BROADCAST = {"id": 5, "name": "Coffrets de Noël", "text": "{first_name}, nos coffrets de Noël sont arrivés 🎁",
              "image_url": "", "audience": {"segment": ["host"]}, "channels": ["telegram"],
              "send_at": "2026-12-01T10:00:00+01:00", "state": "running", "total": 2000,
              "progress": {"total": 2000, "sent": 1650, "skipped": 210, "failed": 40, "cancelled": 0,
                           "pending": 100, "delivered": 1580, "read": 1210,
                           "failed_reasons": {"meta_marketing_limit": 28, "unreachable: blocked": 12},
                           "skipped_reasons": {"no_consent": 150, "template_required": 60}},
              "created_at": "2026-11-25T09:00:00+01:00", "cancelled_at": None, "finished_at": None,
              "whatsapp_template": 7, "campaign_code": "FB-NOEL"}


class TelegramWebhookView(APIView):
    """Telegram delivers bot updates here (``setWebhook`` with a secret token)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        summary="Receive a Telegram bot update",
        description="Public, for Telegram only: the `X-Telegram-Bot-Api-Secret-Token` header must equal "
                    "`TELEGRAM_WEBHOOK_SECRET` (compared in constant time; 403 otherwise, and always 403 while no "
                    "secret is configured). Each `update_id` is processed once: a redelivery answers 200 with "
                    "`duplicate: true`. A 500 makes Telegram deliver the update again.",
        request={"application/json": {"type": "object", "additionalProperties": True}},
        responses={200: WebhookAckSerializer, 400: ErrorSerializer, 403: ErrorSerializer},
        examples=[request_example(_START_UPDATE, "/start with a campaign code"),
                  response_example({"ok": True, "update_id": 815000101, "duplicate": False})],
        tags=["telegram"],
    )
    def post(self, request: Request) -> Response:
        header = request.headers.get("X-Telegram-Bot-Api-Secret-Token")
        if not secret_token_matches(header, settings.TELEGRAM_WEBHOOK_SECRET):
            # Answered here, not raised: the handler's rollback would hit an enclosing transaction
            # that this non-atomic view does not own.
            return Response(error_body("permission_denied", "Wrong or missing secret token."),
                            status=status.HTTP_403_FORBIDDEN)
        payload = request.data
        if not isinstance(payload, dict) or not isinstance(payload.get("update_id"), int):
            return Response(error_body("invalid_update", "The body must be a Telegram Update with an integer "
                                       "update_id.", [field_error("update_id", "An integer is required.")]),
                            status=status.HTTP_400_BAD_REQUEST)
        update_id: int = payload["update_id"]
        duplicate = selectors.telegram_update_is_processed(update_id)
        try:
            row = services.telegram_update_receive(payload=payload)
        except ApplicationError as exc:
            # A business refusal (e.g. an identity conflict) will not change on redelivery: keep it for staff.
            services.telegram_update_refused(update_id=update_id, error=exc)
            logger.warning("telegram update %s refused: %s", update_id, exc.code)
            return Response({"ok": True, "update_id": update_id, "duplicate": False})
        except Exception as exc:
            services.telegram_update_failed(update_id=update_id, error=exc)
            raise
        return Response({"ok": True, "update_id": row.update_id, "duplicate": duplicate})


class SequenceListCreateView(GenericAPIView):
    serializer_class = SequenceOutputSerializer

    def get_queryset(self):
        return selectors.sequence_list()

    @extend_schema(summary="List nurture sequences", responses=SequenceOutputSerializer(many=True),
                   examples=[response_example(_page(_SEQUENCE))], tags=TAGS)
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(SequenceOutputSerializer(page, many=True).data)

    @extend_schema(summary="Create a nurture sequence with its steps",
                   description="`purpose`: `introduction` (every new contact), `campaign` (bot start with "
                               "`campaign_code`), `after_sale` (delivered order), `monthly`, `manual`. Step texts "
                               "use `{first_name}`, `{name}`, `{salutation}`, `{referral_code}`; a contact's "
                               "preferred channel and hours win over the sequence's.",
                   request=SequenceInputSerializer, responses={201: SequenceOutputSerializer},
                   examples=[request_example(_SEQUENCE_IN), response_example(_SEQUENCE, status_codes=["201"])], tags=TAGS)
    def post(self, request: Request) -> Response:
        serializer = SequenceInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        sequence = services.sequence_create(**serializer.validated_data)
        return Response(SequenceOutputSerializer(selectors.sequence_get(sequence.pk)).data,
                        status=status.HTTP_201_CREATED)


class SequenceDetailView(APIView):
    @extend_schema(summary="Get a nurture sequence", responses={200: SequenceOutputSerializer, **_ERR_404},
                   examples=[response_example(_SEQUENCE)], tags=TAGS)
    def get(self, request: Request, sequence_id: int) -> Response:
        return Response(SequenceOutputSerializer(selectors.sequence_get(sequence_id)).data)

    @extend_schema(summary="Change a nurture sequence's settings",
                   description="Steps are edited one by one under `/steps`; messages already queued keep "
                               "their text.",
                   request=SequenceUpdateSerializer, responses={200: SequenceOutputSerializer, **_ERR_404},
                   examples=[request_example({"is_active": False}), response_example({**_SEQUENCE, "is_active": False})], tags=TAGS)
    def patch(self, request: Request, sequence_id: int) -> Response:
        serializer = SequenceUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.sequence_update(sequence_id=sequence_id, **serializer.validated_data)
        return Response(SequenceOutputSerializer(selectors.sequence_get(sequence_id)).data)


_STEP_IN = {"delay": "3 00:00:00", "text": "{salutation} {first_name}, notre coffret de Noël est prêt.",
            "window_start": "10:00", "window_end": "19:00"}


class SequenceStepAddView(APIView):
    @extend_schema(summary="Add a message at the end of a nurture sequence",
                   description="People enrolled from now on get it; running enrollments keep the messages "
                               "queued for them.",
                   request=StepInputSerializer, responses={201: SequenceOutputSerializer, **_ERR_404},
                   examples=[request_example(_STEP_IN), response_example(_SEQUENCE, status_codes=["201"])],
                   tags=TAGS)
    def post(self, request: Request, sequence_id: int) -> Response:
        serializer = StepInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.sequence_step_add(sequence_id=sequence_id, **serializer.validated_data)
        return Response(SequenceOutputSerializer(selectors.sequence_get(sequence_id)).data,
                        status=status.HTTP_201_CREATED)


class SequenceStepView(APIView):
    @extend_schema(summary="Rewrite one message of a nurture sequence",
                   description="Replaces the step's text, delay, image and sending window. Messages already "
                               "queued keep their text; people enrolled from now on get the new one.",
                   request=StepInputSerializer, responses={200: SequenceOutputSerializer, **_ERR_404},
                   examples=[request_example(_STEP_IN), response_example(_SEQUENCE)], tags=TAGS)
    def put(self, request: Request, sequence_id: int, position: int) -> Response:
        serializer = StepInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.sequence_step_update(sequence_id=sequence_id, position=position, **serializer.validated_data)
        return Response(SequenceOutputSerializer(selectors.sequence_get(sequence_id)).data)


class SequenceEnrollView(APIView):
    @extend_schema(summary="Enroll a contact in a sequence (staff trigger)",
                   description="Queues every step at once. 409 `not_enrolled` when the sequence is inactive, the "
                               "contact is already active in it, or has no channel that may be used now.",
                   request=EnrollInputSerializer,
                   responses={201: EnrollmentOutputSerializer, **_ERR_404, **_ERR_409},
                   examples=[request_example({"contact_id": 17}), response_example(_ENROLLMENT, status_codes=["201"])], tags=TAGS)
    def post(self, request: Request, sequence_id: int) -> Response:
        serializer = EnrollInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        enrollment = services.enrollment_create(sequence_id=sequence_id,
                                                contact_id=serializer.validated_data["contact_id"],
                                                trigger="staff", trigger_ref=f"staff:{timezone.now().isoformat()}",
                                                enrolled_by=request.user, check_audience=False)
        if enrollment is None:
            raise ApplicationError("The contact was not enrolled: the sequence is inactive, the contact is already "
                                   "in it, or no channel may be used.", code="not_enrolled", status_code=409)
        return Response(EnrollmentOutputSerializer(enrollment).data, status=status.HTTP_201_CREATED)


class EnrollmentListView(GenericAPIView):
    serializer_class = EnrollmentOutputSerializer

    filterset_class = EnrollmentFilter

    def get_queryset(self):
        return selectors.enrollment_list()

    @extend_schema(summary="List enrollments",
                   responses=EnrollmentOutputSerializer(many=True), examples=[response_example(_page(_ENROLLMENT))], tags=TAGS)
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(EnrollmentOutputSerializer(page, many=True).data)


class EnrollmentStopView(APIView):
    @extend_schema(summary="Stop an enrollment", description="Cancels its queued messages. Idempotent.",
                   request=None, responses={200: EnrollmentOutputSerializer, **_ERR_404},
                   examples=[response_example({**_ENROLLMENT, "state": "stopped", "stopped_reason": "staff"})], tags=TAGS)
    def post(self, request: Request, enrollment_id: int) -> Response:
        enrollment = services.enrollment_stop(enrollment_id=enrollment_id, reason="staff")
        return Response(EnrollmentOutputSerializer(enrollment).data)


class BroadcastListCreateView(GenericAPIView):
    serializer_class = BroadcastOutputSerializer

    def get_queryset(self):
        return selectors.broadcast_list()

    @extend_schema(summary="List broadcasts with their progress", responses=BroadcastOutputSerializer(many=True),
                   examples=[response_example(_page(_BROADCAST))], tags=TAGS)
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(BroadcastOutputSerializer(page, many=True).data)

    @extend_schema(summary="Plan a broadcast",
                   description="At `send_at` one message per audience contact is queued on their best channel; "
                               "consent, caps and windows are checked when each one is sent. WhatsApp contacts "
                               "who have not written in the last 24 hours get the approved `whatsapp_template` "
                               "instead of the text (skipped `template_required` without one); what Meta charges "
                               "for them becomes a cost of the campaign `campaign_code`. The broadcast is "
                               "`finished` once every message has an outcome; `progress` then keeps counting "
                               "delivered and read ones.",
                   request=BroadcastInputSerializer, responses={201: BroadcastOutputSerializer},
                   examples=[request_example(_BROADCAST_IN),
                             response_example({**_BROADCAST, "state": "scheduled", "total": 0,
                                    "progress": {"total": 0, "sent": 0, "skipped": 0, "failed": 0, "cancelled": 0,
                                                 "pending": 0, "delivered": 0, "read": 0, "failed_reasons": {},
                                                 "skipped_reasons": {}}}, status_codes=["201"])], tags=TAGS)
    def post(self, request: Request) -> Response:
        serializer = BroadcastInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        broadcast = services.broadcast_create(created_by=request.user, **serializer.validated_data)
        return Response(BroadcastOutputSerializer(broadcast).data, status=status.HTTP_201_CREATED)


class BroadcastDetailView(APIView):
    @extend_schema(summary="Get a broadcast and its progress", responses={200: BroadcastOutputSerializer, **_ERR_404},
                   examples=[response_example(_BROADCAST)], tags=TAGS)
    def get(self, request: Request, broadcast_id: int) -> Response:
        return Response(BroadcastOutputSerializer(selectors.broadcast_get(broadcast_id)).data)


class BroadcastCancelView(APIView):
    @extend_schema(summary="Cancel a broadcast",
                   description="Nothing more goes out; messages already sent stay sent. Idempotent.",
                   request=None, responses={200: BroadcastOutputSerializer, **_ERR_404},
                   examples=[response_example({**_BROADCAST, "state": "cancelled", "cancelled_at": "2026-12-01T10:05:00+01:00"})],
                   tags=TAGS)
    def post(self, request: Request, broadcast_id: int) -> Response:
        broadcast = services.broadcast_cancel(broadcast_id=broadcast_id)
        return Response(BroadcastOutputSerializer(broadcast).data)


_TEMPLATE = {"id": 7, "name": "relance_coffret", "language": "fr", "category": "MARKETING", "status": "APPROVED",
             "body_parameter_count": 2,
             "components": [{"type": "BODY", "text": "Bonjour {{1}}, nos coffrets sont arrivés. Votre code : {{2}}"}],
             "synced_at": "2026-12-01T09:00:00+01:00"}


class WhatsAppTemplateListView(GenericAPIView):
    serializer_class = WhatsAppTemplateOutputSerializer
    pagination_class = StrictPageNumberPagination

    def get_queryset(self):
        return selectors.whatsapp_template_list()

    @extend_schema(summary="List the WhatsApp message templates",
                   description="As last read from the WhatsApp Business Account (hourly, or `POST .../sync`), by "
                               "name and language. Only `APPROVED` ones may be chosen for a step or broadcast; a "
                               "template removed from the account keeps its row with status `DELETED`.",
                   responses=WhatsAppTemplateOutputSerializer(many=True), tags=TAGS,
                   examples=[response_example({"count": 1, "next": None, "previous": None, "results": [_TEMPLATE]})])
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(WhatsAppTemplateOutputSerializer(page, many=True).data)


class WhatsAppTemplateSyncView(APIView):
    @extend_schema(summary="Read the WhatsApp message templates from Meta now",
                   description="Reads every template of the business account (`WHATSAPP_BUSINESS_ACCOUNT_ID`) and "
                               "updates the list; also runs every hour. 409 `whatsapp_not_configured` until "
                               "WhatsApp is configured; 502 `provider_error` when Meta cannot be read (nothing "
                               "changes then).",
                   request=None, responses={200: WhatsAppTemplateSyncOutputSerializer, 409: ErrorSerializer,
                                            502: ErrorSerializer},
                   examples=[response_example({"created": 3, "updated": 1, "deleted": 0, "read": 12})], tags=TAGS)
    def post(self, request: Request) -> Response:
        result = services.whatsapp_templates_sync()
        return Response(WhatsAppTemplateSyncOutputSerializer(result).data)


class OutboundMessageListView(GenericAPIView):
    serializer_class = OutboundMessageOutputSerializer

    filterset_class = OutboundMessageFilter

    def get_queryset(self):
        return selectors.outbound_list()

    @extend_schema(summary="List outbound messages",
                   description="Filter `reason=unknown_outcome` to review messages whose worker died during the "
                               "provider call (they are never resent automatically).",
                   responses=OutboundMessageOutputSerializer(many=True), examples=[response_example(_page(_MESSAGE))], tags=TAGS)
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(OutboundMessageOutputSerializer(page, many=True).data)


class OutboundMessageRetryView(APIView):
    @extend_schema(summary="Send a failed message again",
                   description="For staff who checked that a `failed` message (e.g. `unknown_outcome`) did not "
                               "arrive. 409 when the message is not failed.",
                   request=None, responses={200: OutboundMessageOutputSerializer, **_ERR_404, **_ERR_409},
                   examples=[response_example({**_MESSAGE, "state": "scheduled", "reason": "retried by staff",
                                    "sent_at": None, "provider_message_id": ""})], tags=TAGS)
    def post(self, request: Request, message_id: int) -> Response:
        message = services.outbound_retry(message_id=message_id)
        return Response(OutboundMessageOutputSerializer(message).data)


# --- Meta webhooks (Messenger and WhatsApp): verify, parse, hand over to the inbound pipeline ---------------


_MESSENGER_PAYLOAD = {"object": "page", "entry": [{"id": "104857600000001", "time": 1764000000000, "messaging": [{
    "sender": {"id": "6543210987654321"}, "recipient": {"id": "104857600000001"}, "timestamp": 1764000000000,
    "referral": {"ref": "FB-NOEL25", "source": "SHORTLINK", "type": "OPEN_THREAD"}}]}]}


class MetaWebhookView(APIView):
    """Messenger and WhatsApp Cloud API webhooks (one callback URL for both products, kept at
    ``/api/v1/webhooks/meta`` where Meta's App Dashboard points)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        summary="Meta webhook verification handshake", tags=["webhooks"],
        parameters=[OpenApiParameter("hub.mode", str), OpenApiParameter("hub.verify_token", str),
                    OpenApiParameter("hub.challenge", str)],
        responses={(200, "text/plain"): OpenApiTypes.STR, 403: ErrorSerializer},
        description="Public. Echoes `hub.challenge` when `hub.verify_token` is the configured one, else 403.",
        examples=[OpenApiExample("Challenge", value="1158201444", response_only=True)],
    )
    def get(self, request: Request) -> HttpResponse:
        challenge = verify_challenge(request.query_params, settings.META_VERIFY_TOKEN)
        if challenge is None:
            return _meta_forbidden("Verification failed.")
        return HttpResponse(challenge, content_type="text/plain")

    @extend_schema(
        summary="Receive Messenger and WhatsApp events", tags=["webhooks"], request=OpenApiTypes.OBJECT,
        responses={200: MetaWebhookAckSerializer, 400: ErrorSerializer, 403: ErrorSerializer},
        description="Public. `X-Hub-Signature-256` must be the HMAC-SHA256 of the raw body with the app secret "
                    "(checked in constant time); otherwise 403 and nothing is stored. Messages go through the one "
                    "inbound pipeline (the same as Telegram's: STOP, the source question, copies to staff), each "
                    "once per provider id; WhatsApp statuses and Messenger receipts update the messages we sent.",
        examples=[OpenApiExample("m.me referral", value=_MESSENGER_PAYLOAD, request_only=True),
                  OpenApiExample("Processed", response_only=True,
                                 value={"recorded": 1, "duplicate": 0, "ignored": 0, "failed": 0})],
    )
    def post(self, request: Request) -> HttpResponse:
        # Checks in the order of their cost to us, so that no one without the app secret gets further than
        # a hash: the body's size was bounded before it was read (RequestSizeLimitMiddleware, a 413), then
        # the signature is checked over the exact bytes Meta signed, and only a signed body is parsed,
        # with bounded nesting (a 400, never a RecursionError).
        raw = request.body
        if not verify_signature(raw, request.headers.get("X-Hub-Signature-256"), settings.META_APP_SECRET):
            return _meta_forbidden("Invalid signature.")
        try:
            payload = json_loads_bounded(raw)
        except ParseError:
            return Response(error_body("parse_error", "The body is not JSON, or nests too deep."), status=400)
        if not isinstance(payload, dict):
            return Response(error_body("parse_error", "The body is not a JSON object."), status=400)
        return Response(services.meta_events_process(messenger=parse_messenger(payload),
                                                     whatsapp=parse_whatsapp(payload)))


def _meta_forbidden(message: str) -> Response:
    return Response(error_body("invalid_signature", message), status=status.HTTP_403_FORBIDDEN)


# --- the staff inbox: conversations across channels ---------------------------------------------------------

_LAST_IN = {"id": 3301, "direction": "in", "channel": "whatsapp", "at": "2026-12-02T18:40:00+01:00",
            "text": "Avez-vous du sirop de bissap en 1 litre ?", "kind": "text", "category": "", "state": "",
            "reason": "", "sent_at": None, "delivered_at": None, "read_at": None, "failure_code": "",
            "template_name": ""}
_REPLY_OUT = {"id": 9120, "direction": "out", "channel": "whatsapp", "at": "2026-12-02T18:45:02+01:00",
              "text": "Oui, 4 500 FCFA le litre. On vous le livre ?", "kind": "", "category": "service",
              "state": "sent", "reason": "", "sent_at": "2026-12-02T18:45:02+01:00",
              "delivered_at": "2026-12-02T18:45:04+01:00", "read_at": "2026-12-02T18:46:10+01:00",
              "failure_code": "", "template_name": ""}
_CONVERSATION = {"contact": 17, "name": "Awa Mbarga", "state": "open", "owner": 2, "owner_name": "Brice",
                 "unread": 1, "waiting_since": "2026-12-02T18:40:00+01:00", "last_message": _LAST_IN,
                 "channels": ["whatsapp", "telegram"], "whatsapp_window_open": True,
                 "whatsapp_window_until": "2026-12-03T18:40:00+01:00", "done_at": None}
_CONVERSATION_PARAMS = [
    OpenApiParameter("state", str, enum=["open", "done"], description="Only open or only done conversations."),
    OpenApiParameter("owner", str, description="`me`, `none` (no owner) or a staff user id."),
    OpenApiParameter("channel", str, enum=["telegram", "messenger", "whatsapp"],
                     description="Only people who wrote from this channel."),
    OpenApiParameter("waiting", bool, description="Only conversations with (`true`) or without (`false`) an "
                                                  "unanswered message."),
]


def _conversations_data(rows: list[Any]) -> list[dict[str, Any]]:
    facts = selectors.conversation_facts([row.contact_id for row in rows])
    return list(ConversationOutputSerializer(rows, many=True, context={"facts": facts}).data)


def _conversation_response(contact_id: int, *, status_code: int = 200) -> Response:
    return Response(_conversations_data([selectors.conversation_get(contact_id)])[0], status=status_code)


class ConversationListView(GenericAPIView):
    serializer_class = ConversationOutputSerializer
    pagination_class = StrictPageNumberPagination

    def get_queryset(self):
        params = self.request.query_params
        owner = params.get("owner") or None
        owner_id = None
        if owner not in (None, "me", "none"):
            owner_id = query_int(params, "owner", default=0, minimum=1, maximum=MAX_ID)
        elif owner == "me":
            owner_id = self.request.user.pk
        return selectors.conversation_list(
            state=query_choice(params, "state", Conversation.State.choices), owner_id=owner_id,
            unowned=owner == "none", channel=query_choice(params, "channel", services.SUPPORTED_CHANNELS),
            waiting=query_bool(params, "waiting"))

    @extend_schema(summary="List conversations (the staff inbox)",
                   description="One conversation per person across Telegram, WhatsApp and Messenger: the last "
                               "message either way, `unread` (messages of the person after the last read mark), "
                               "the owner, `open` / `done`, `waiting_since` (the oldest message of the person "
                               "not yet answered by staff; a bot's automatic answer does not count), the "
                               "channels they wrote from and whether WhatsApp's 24-hour window is open. "
                               "Conversations waiting for an answer come first, the newest waiting first.",
                   parameters=_CONVERSATION_PARAMS, responses=ConversationOutputSerializer(many=True),
                   examples=[response_example({"count": 1, "next": None, "previous": None,
                                               "results": [_CONVERSATION]})], tags=TAGS)
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(_conversations_data(list(page or [])))


class ConversationDetailView(APIView):
    @extend_schema(summary="Get a conversation", description="By the person's contact id.",
                   responses={200: ConversationOutputSerializer, **_ERR_404},
                   examples=[response_example(_CONVERSATION)], tags=TAGS)
    def get(self, request: Request, contact_id: int) -> Response:
        return _conversation_response(contact_id)


class ConversationMessagesView(APIView):
    @extend_schema(summary="Read a conversation's messages",
                   description="What the person wrote and what was sent to them, on every channel, oldest "
                               "first: the latest `limit` (default 50) before `before` (default now). Outbound "
                               "messages carry their delivery (`state`, `delivered_at`, `read_at`, "
                               "`failure_code`). Reading does not mark the conversation read: `POST .../read`.",
                   parameters=[OpenApiParameter("before", OpenApiTypes.DATETIME),
                               OpenApiParameter("limit", int, description="1 to 200, default 50.")],
                   responses={200: ConversationMessageSerializer(many=True), **_ERR_404},
                   examples=[response_example([_LAST_IN, _REPLY_OUT])], tags=TAGS)
    def get(self, request: Request, contact_id: int) -> Response:
        params = request.query_params
        messages = selectors.conversation_messages(
            contact_id, before=query_datetime(params, "before", allow_date=False),
            limit=query_int(params, "limit", default=50, minimum=1, maximum=200))
        return Response(ConversationMessageSerializer(messages, many=True).data)


class ConversationReplyView(APIView):
    @extend_schema(summary="Reply to the person",
                   description="Queues a service message (outbox, shared rate limiter, sent at most once) on "
                               "the channel the person last wrote from, or `channel`. Send an `Idempotency-Key` "
                               "header (or `client_key`): a second request with the same key answers 200 with "
                               "the first message and sends nothing more. Outside WhatsApp's 24-hour window "
                               "only an approved `template` may go: without one, a 400 naming `template` "
                               "(`template_required`); outside Messenger's window a 400 naming `channel` "
                               "(`window_closed`). The reply marks the conversation read and answered and "
                               "gives it to the replying staff member when it had no owner.",
                   parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER,
                                                description="1 to 80 letters, digits or `_ . : -` (a UUID).")],
                   request=ConversationReplyInputSerializer,
                   responses={201: ConversationMessageSerializer, 200: ConversationMessageSerializer,
                              400: ErrorSerializer, **_ERR_404},
                   examples=[request_example({"text": "Oui, 4 500 FCFA le litre. On vous le livre ?"}),
                             request_example({"template": 7}, "Outside the WhatsApp window"),
                             response_example({**_REPLY_OUT, "state": "scheduled", "sent_at": None,
                                               "delivered_at": None, "read_at": None,
                                               "at": "2026-12-02T18:45:00+01:00"}, status_codes=["201", "200"])],
                   tags=TAGS)
    def post(self, request: Request, contact_id: int) -> Response:
        serializer = ConversationReplyInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        client_key = request.headers.get("Idempotency-Key") or data.get("client_key") or ""
        message, created = services.conversation_reply(
            contact_id=contact_id, text=data.get("text", ""), channel=data.get("channel"),
            template_id=data.get("template"), client_key=client_key, staff=request.user)
        return Response(ConversationMessageSerializer(selectors.conversation_message_out(message)).data,
                        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class ConversationAssignView(APIView):
    @extend_schema(summary="Give a conversation to a staff member",
                   description="`owner`: a staff user id, `me`, or null for no one. 400 naming `owner` when "
                               "the user is not active staff.",
                   request=ConversationAssignInputSerializer,
                   responses={200: ConversationOutputSerializer, 400: ErrorSerializer, **_ERR_404},
                   examples=[request_example({"owner": "me"}), response_example(_CONVERSATION)], tags=TAGS)
    def post(self, request: Request, contact_id: int) -> Response:
        serializer = ConversationAssignInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        owner = serializer.validated_data["owner"]
        owner_id = request.user.pk if owner == "me" else (int(owner) if owner is not None else None)
        services.conversation_assign(contact_id=contact_id, owner_id=owner_id)
        return _conversation_response(contact_id)


class ConversationDoneView(APIView):
    @extend_schema(summary="Mark a conversation done",
                   description="Nothing waits any more and everything so far is read; the next message of the "
                               "person reopens it. Idempotent.",
                   request=None, responses={200: ConversationOutputSerializer, **_ERR_404},
                   examples=[response_example({**_CONVERSATION, "state": "done", "unread": 0, "waiting_since": None,
                                               "done_at": "2026-12-02T19:00:00+01:00"})], tags=TAGS)
    def post(self, request: Request, contact_id: int) -> Response:
        services.conversation_done(contact_id=contact_id)
        return _conversation_response(contact_id)


class ConversationReadView(APIView):
    @extend_schema(summary="Mark a conversation read",
                   description="Every message of the person so far is read (`unread` 0); it may still wait "
                               "for an answer. Idempotent.",
                   request=None, responses={200: ConversationOutputSerializer, **_ERR_404},
                   examples=[response_example({**_CONVERSATION, "unread": 0})], tags=TAGS)
    def post(self, request: Request, contact_id: int) -> Response:
        services.conversation_mark_read(contact_id=contact_id)
        return _conversation_response(contact_id)
