"""Nurture API: the Telegram webhook (public, secret header) and staff endpoints for sequences,
enrollments, broadcasts and outbound messages."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.common.errors import ApplicationError, field_error
from api.common.exceptions import error_body
from api.common.schema import request_example, response_example
from api.common.serializers import ErrorSerializer
from api.nurture import selectors, services
from api.nurture.filters import EnrollmentFilter, OutboundMessageFilter
from api.nurture.serializers import (
    BroadcastInputSerializer,
    BroadcastOutputSerializer,
    EnrollInputSerializer,
    EnrollmentOutputSerializer,
    OutboundMessageOutputSerializer,
    SequenceInputSerializer,
    SequenceOutputSerializer,
    SequenceUpdateSerializer,
    StepInputSerializer,
    WebhookAckSerializer,
)
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
         "image_url": "", "window_start": "09:00:00", "window_end": "20:00:00"}
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
            "broadcast": None, "created_at": "2026-11-25T09:00:00+01:00", "updated_at": "2026-11-25T10:00:01+01:00"}
_BROADCAST_IN = {"name": "Coffrets de Noël", "text": "{first_name}, nos coffrets de Noël sont arrivés 🎁",
                 "audience": {"segment": ["host"]}, "channels": ["telegram"], "send_at": "2026-12-01T10:00:00+01:00"}
_BROADCAST = {"id": 5, "name": "Coffrets de Noël", "text": "{first_name}, nos coffrets de Noël sont arrivés 🎁",
              "image_url": "", "audience": {"segment": ["host"]}, "channels": ["telegram"],
              "send_at": "2026-12-01T10:00:00+01:00", "state": "running", "total": 2000,
              "progress": {"total": 2000, "sent": 1650, "skipped": 210, "failed": 40, "cancelled": 0,
                           "pending": 100},
              "created_at": "2026-11-25T09:00:00+01:00", "cancelled_at": None}


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
                               "consent, caps and windows are checked when each one is sent.",
                   request=BroadcastInputSerializer, responses={201: BroadcastOutputSerializer},
                   examples=[request_example(_BROADCAST_IN),
                             response_example({**_BROADCAST, "state": "scheduled", "total": 0,
                                    "progress": {"total": 0, "sent": 0, "skipped": 0, "failed": 0, "cancelled": 0,
                                                 "pending": 0}}, status_codes=["201"])], tags=TAGS)
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
