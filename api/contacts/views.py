"""The contacts API: thin views that validate input, call a service or selector, and serialize."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.common.errors import ApplicationError, field_error
from api.common.filters import query_choice
from api.common.pagination import CreatedCursorPagination
from api.common.parsers import UploadMultiPartParser
from api.common.schema import request_example, response_example
from api.common.serializers import ErrorSerializer
from api.contacts import selectors, services
from api.contacts.csv_io import export_lines
from api.contacts.enums import Channel
from api.contacts.filters import ContactFilter
from api.contacts.models import Contact, FollowUpTask
from api.contacts.serializers import (
    CanReceiveSerializer,
    ConsentInputSerializer,
    ConsentOutputSerializer,
    ContactOutputSerializer,
    ContactUpdateInputSerializer,
    ContactUpsertInputSerializer,
    DuplicateGroupSerializer,
    DuplicateListSerializer,
    ImportJobOutputSerializer,
    ImportUploadSerializer,
    MergeInputSerializer,
    MergeOutputSerializer,
    NoteInputSerializer,
    NoteOutputSerializer,
    OptOutInputSerializer,
    TaskFilterSerializer,
    TaskInputSerializer,
    TaskOutputSerializer,
    TaskUpdateInputSerializer,
    TimelinePageSerializer,
    TimelineQuerySerializer,
    UpsertOutputSerializer,
)

TAGS = ["contacts"]

_CONTACT = {
    "id": 42, "name": "Mireille Ngo Bassa", "first_name": "Mireille", "last_name": "Ngo Bassa", "salutation": "Mme",
    "language": "fr", "phone": "+237699123456", "email": "mireille.ngo@example.cm", "whatsapp": "+237699123456",
    "telegram_chat_id": None, "telegram_username": "", "facebook_psid": None, "instagram": "",
    "city": "Douala", "neighbourhood": "Bonamoussadi", "birth_date": None, "segment": "host",
    "lifecycle_stage": "prospect", "lifecycle_stage_locked": False, "acquisition_channel": "facebook_ads",
    "self_reported_source": "Dégustation au marché de Bonamoussadi", "referred_by_id": None,
    "referral_code": "K7MQ2XPA", "tags": ["tontine", "gingembre"],
    "consents": [{"channel": "whatsapp", "active": True, "granted_at": "2026-11-20T10:00:00+01:00",
                  "granted_how": "formulaire dégustation", "revoked_at": None, "revoked_how": "",
                  "unreachable_at": None, "unreachable_reason": ""}],
    "preferred_channel": "whatsapp", "preferred_hours_start": "18:00:00", "preferred_hours_end": "21:00:00",
    "owner_id": 3, "opted_out_at": None, "last_seen_at": "2026-11-24T19:12:00+01:00", "last_verified_at": None,
    "erased_at": None, "merged_into_id": None, "created_at": "2026-11-20T10:00:00+01:00",
    "updated_at": "2026-11-24T19:12:00+01:00",
}
_CONSENT = {"channel": "whatsapp", "active": True, "granted_at": "2026-11-20T10:00:00+01:00",
            "granted_how": "formulaire dégustation", "revoked_at": None, "revoked_how": "",
            "unreachable_at": None, "unreachable_reason": ""}
_BRIEF = {k: _CONTACT[k] for k in ("id", "name", "phone", "whatsapp", "email", "city", "segment", "lifecycle_stage",
                                   "created_at")}
_UPSERT_REQUEST = {"phone": "699 12 34 56", "name": "Mireille Ngo Bassa", "city": "Douala",
                   "neighbourhood": "Bonamoussadi", "segment": "host",
                   "self_reported_source": "Dégustation au marché de Bonamoussadi",
                   "consents": ["whatsapp"], "consent_how": "formulaire dégustation"}
_IMPORT_JOB = {
    "id": 7, "file_name": "clients-salon-2026.csv", "status": "running", "encoding": "cp1252", "delimiter": ";",
    "ignored_columns": ["Remarque interne"], "total_rows": 1200, "rows_done": 400, "progress": 0.3333,
    "created_count": 348, "updated_count": 30, "unchanged_count": 12, "skipped_count": 2, "error_count": 8,
    "row_errors": [{"row": 17, "column": "Téléphone", "message": "12345 is not a valid phone number."}],
    "consent_given": False, "failure": "", "created_at": "2026-11-25T09:00:00+01:00",
    "started_at": "2026-11-25T09:00:02+01:00", "finished_at": None,
}
_TASK = {"id": 5, "contact": _BRIEF, "owner_id": 3, "kind": "call", "due_at": "2026-11-25T10:00:00+01:00",
         "note": "Rappeler pour le coffret de fin d'année", "outcome": "", "done_at": None,
         "created_at": "2026-11-24T17:00:00+01:00"}
_CONFLICT_409 = {409: ErrorSerializer}


def _contact_data(contact_id: int) -> dict[str, Any]:
    return ContactOutputSerializer(selectors.contact_get(contact_id)).data


class ContactListCreateView(GenericAPIView):
    """List and search contacts, or create one."""

    filterset_class = ContactFilter
    pagination_class = CreatedCursorPagination
    serializer_class = ContactOutputSerializer

    def get_queryset(self):
        return selectors.contact_list().prefetch_related("consents")

    @extend_schema(summary="List and search contacts",
                   description="Newest first, cursor-paginated. `phone` accepts any format "
                               "(`699 12 34 56`, `+237699123456`); `q` searches names, phones, e-mails, usernames.",
                   responses=ContactOutputSerializer(many=True),
                   examples=[response_example({"next": None, "previous": None, "results": [_CONTACT]})],
                   tags=TAGS)
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(ContactOutputSerializer(page, many=True).data)

    @extend_schema(summary="Create a contact",
                   description="409 `already_exists` (with `contact_ids`) when one of its identities is taken: "
                               "use upsert to update.",
                   request=ContactUpsertInputSerializer,
                   responses={201: ContactOutputSerializer, **_CONFLICT_409},
                   examples=[request_example(_UPSERT_REQUEST), response_example(_CONTACT, status_codes=["201"])],
                   tags=TAGS)
    def post(self, request: Request) -> Response:
        serializer = ContactUpsertInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        contact = services.contact_create(actor=request.user, **serializer.validated_data)
        return Response(_contact_data(contact.pk), status=status.HTTP_201_CREATED)


class ContactUpsertView(APIView):
    @extend_schema(summary="Find a contact by any identity and update it, or create it",
                   description="Identities: phone, email, whatsapp, telegram_chat_id, facebook_psid. When they "
                               "point to two different contacts: 409 `identity_conflict` naming both in "
                               "`contact_ids`, and nothing changes. An erased person's identity is a 409 "
                               "`erased_identity` unless `consents` is given.",
                   request=ContactUpsertInputSerializer,
                   responses={200: UpsertOutputSerializer, 201: UpsertOutputSerializer, **_CONFLICT_409},
                   examples=[request_example(_UPSERT_REQUEST),
                             response_example({"created": True, "contact": _CONTACT}, "Created", ["201"]),
                             response_example({"created": False, "contact": _CONTACT}, "Updated", ["200"])],
                   tags=TAGS)
    def post(self, request: Request) -> Response:
        serializer = ContactUpsertInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = services.contact_upsert(actor=request.user, **serializer.validated_data)
        return Response({"created": result.created, "contact": _contact_data(result.contact.pk)},
                        status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)


class ContactDetailView(APIView):
    @extend_schema(summary="Get a contact", responses=ContactOutputSerializer,
                   examples=[response_example(_CONTACT)], tags=TAGS)
    def get(self, request: Request, contact_id: int) -> Response:
        return Response(_contact_data(contact_id))

    @extend_schema(summary="Edit a contact",
                   description="Only the fields given change. `tags` replaces the tags; `lifecycle_stage` is a "
                               "manual move (locks the stage); `verified: true` stamps `last_verified_at`. "
                               "409 when an identity belongs to another contact.",
                   request=ContactUpdateInputSerializer,
                   responses={200: ContactOutputSerializer, **_CONFLICT_409},
                   examples=[request_example({"segment": "reseller", "tags": ["revendeur", "Yaoundé"],
                                               "owner_id": 3, "verified": True}),
                             response_example(_CONTACT)],
                   tags=TAGS)
    def patch(self, request: Request, contact_id: int) -> Response:
        serializer = ContactUpdateInputSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        services.contact_update(contact_id=contact_id, actor=request.user, **serializer.validated_data)
        return Response(_contact_data(contact_id))


class ContactMergeView(APIView):
    @extend_schema(summary="Merge another contact into this one",
                   description="Moves identities, notes, tags, consents, tasks and the rows of every app that "
                               "points to a contact; the merge is recorded on the timeline. 409 when either "
                               "contact was already merged or erased.",
                   request=MergeInputSerializer, responses={200: MergeOutputSerializer, **_CONFLICT_409},
                   examples=[request_example({"source_id": 57}),
                             response_example({"merge_id": 3, "source_id": 57,
                                                "moved": {"notes": 2, "tags": 1, "orders": 1}, "contact": _CONTACT})],
                   tags=TAGS)
    def post(self, request: Request, contact_id: int) -> Response:
        serializer = MergeInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        merge = services.contact_merge(target_id=contact_id, source_id=serializer.validated_data["source_id"],
                                       actor=request.user)
        return Response({"merge_id": merge.pk, "source_id": serializer.validated_data["source_id"],
                         "moved": merge.moved, "contact": _contact_data(contact_id)})


class ContactTimelineView(APIView):
    @extend_schema(summary="Timeline of a contact",
                   description="Everything that happened with this contact, newest first, from every app "
                               "(notes, merges, consents, stage moves, orders, messages…). Pass `next` back "
                               "as `cursor` for older events.",
                   parameters=[TimelineQuerySerializer], responses=TimelinePageSerializer,
                   examples=[response_example({"next": "WyIyMDI2LTExLTIwVDA5OjAwOjAwKzAwOjAwIiwgImNvbnRhY3RzIiwgImNyZWF0ZWQiXQ",
                                                "results": [{"at": "2026-11-24T19:12:00+01:00", "kind": "note",
                                                             "summary": "Aime le sirop de gingembre",
                                                             "source": "contacts", "ref": "event:000000000012",
                                                             "data": {"note_id": 4}}]})],
                   tags=TAGS)
    def get(self, request: Request, contact_id: int) -> Response:
        query = TimelineQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        events, next_cursor = selectors.contact_timeline(contact_id=contact_id,
                                                         cursor=query.validated_data.get("cursor"),
                                                         limit=query.validated_data["limit"])
        return Response(TimelinePageSerializer({"next": next_cursor, "results": events}).data)


class ContactNotesView(APIView):
    @extend_schema(summary="Notes of a contact", responses=NoteOutputSerializer(many=True),
                   examples=[response_example([{"id": 4, "contact_id": 42, "author": "staff",
                                                 "text": "Aime le sirop de gingembre", "created_at":
                                                 "2026-11-24T19:12:00+01:00"}])], tags=TAGS)
    def get(self, request: Request, contact_id: int) -> Response:
        contact = selectors.contact_get(contact_id)
        return Response(NoteOutputSerializer(contact.notes.select_related("author")[:500], many=True).data)

    @extend_schema(summary="Add a note (tastes, habits, after-sale requests)",
                   request=NoteInputSerializer, responses={201: NoteOutputSerializer},
                   examples=[request_example({"text": "Aime le sirop de gingembre, commande pour les tontines."}),
                             response_example({"id": 4, "contact_id": 42, "author": "staff",
                                                "text": "Aime le sirop de gingembre, commande pour les tontines.",
                                                "created_at": "2026-11-24T19:12:00+01:00"}, status_codes=["201"])],
                   tags=TAGS)
    def post(self, request: Request, contact_id: int) -> Response:
        serializer = NoteInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        note = services.contact_note_add(contact_id=contact_id, text=serializer.validated_data["text"],
                                         author=request.user)
        return Response(NoteOutputSerializer(note).data, status=status.HTTP_201_CREATED)


class ContactConsentView(APIView):
    @extend_schema(summary="Grant or revoke consent on a channel",
                   request=ConsentInputSerializer, responses=ConsentOutputSerializer,
                   examples=[request_example({"channel": "whatsapp", "action": "grant",
                                               "how": "formulaire dégustation"}),
                             response_example(_CONSENT)],
                   tags=TAGS)
    def post(self, request: Request, contact_id: int) -> Response:
        serializer = ConsentInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        action = services.consent_grant if data["action"] == "grant" else services.consent_revoke
        consent = action(contact_id=contact_id, channel=data["channel"], how=data["how"])
        return Response(ConsentOutputSerializer(consent).data)


class ContactCanReceiveView(APIView):
    @extend_schema(summary="May this contact receive marketing on a channel now?",
                   parameters=[OpenApiParameter("channel", str, required=True, enum=Channel.values,
                                                description="The channel of the message to send.")],
                   responses=CanReceiveSerializer,
                   examples=[response_example({"channel": "whatsapp", "allowed": False, "reason": "opted_out"})],
                   tags=TAGS)
    def get(self, request: Request, contact_id: int) -> Response:
        selectors.contact_get(contact_id)
        channel = query_choice(request.query_params, "channel", Channel.choices, required=True)
        allowed, reason = selectors.contact_can_receive(contact_id, channel or "")
        return Response({"channel": channel, "allowed": allowed, "reason": reason})


class ContactOptOutView(APIView):
    @extend_schema(summary="Opt the contact out of all marketing",
                   request=OptOutInputSerializer, responses=ContactOutputSerializer,
                   examples=[request_example({"how": "a répondu STOP sur WhatsApp"}),
                             response_example({**_CONTACT, "opted_out_at": "2026-11-25T09:00:00+01:00"})],
                   tags=TAGS)
    def post(self, request: Request, contact_id: int) -> Response:
        serializer = OptOutInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.contact_opt_out(contact_id=contact_id, how=serializer.validated_data["how"])
        return Response(_contact_data(contact_id))


class ContactPrivacyExportView(APIView):
    @extend_schema(summary="Everything stored about this person (RGPD access request)",
                   description="The contact, tags, consents, notes, events, tasks, merged contacts, and under "
                               "`related` what other apps store (orders, messages, touchpoints).",
                   responses=OpenApiTypes.OBJECT,
                   examples=[response_example({"contact": _CONTACT, "tags": ["tontine"], "consents": [],
                                                "notes": [], "events": [], "tasks": [], "merged_contacts": [],
                                                "related": {"orders": [{"id": 9, "amount_xaf": 15000}]},
                                                "exported_at": "2026-11-25T09:00:00+01:00"})],
                   tags=TAGS)
    def get(self, request: Request, contact_id: int) -> Response:
        return Response(selectors.contact_privacy_export(contact_id))


class ContactEraseView(APIView):
    @extend_schema(summary="Erase the personal data of this person (right to be forgotten)",
                   description="Removes personal data, revokes consents, keeps orders with amounts (anonymized), "
                               "and remembers a one-way hash of the identities so that a later import does not "
                               "re-create the person without new consent. Idempotent.",
                   request=None, responses={200: ContactOutputSerializer, **_CONFLICT_409},
                   examples=[response_example({**_CONTACT, "name": "", "phone": None, "email": None,
                                                "whatsapp": None, "tags": [], "erased_at":
                                                "2026-11-25T09:00:00+01:00"})],
                   tags=TAGS)
    def post(self, request: Request, contact_id: int) -> Response:
        services.contact_erase(contact_id=contact_id, actor=request.user)
        return Response(_contact_data(contact_id))


class ContactDuplicatesView(APIView):
    @extend_schema(summary="Likely duplicates to merge",
                   description="Groups with the same name and city, or phone numbers whose last 8 digits match.",
                   responses=DuplicateListSerializer,
                   examples=[response_example({"results": [{"reason": "similar_phone", "key": "…99123456",
                                                             "contacts": [_BRIEF, {**_BRIEF, "id": 57}]}]})],
                   tags=TAGS)
    def get(self, request: Request) -> Response:
        groups = selectors.contact_duplicate_groups()
        return Response({"results": DuplicateGroupSerializer(groups, many=True).data})


class ContactStaleView(GenericAPIView):
    queryset = Contact.objects.none()  # for the schema; the selector gives the rows
    pagination_class = CreatedCursorPagination
    serializer_class = ContactOutputSerializer

    @extend_schema(summary="Contacts not verified for a year",
                   description="A customer file loses 15 to 25% of its accuracy each year: re-check these and "
                               "PATCH them with `verified: true`.",
                   responses=ContactOutputSerializer(many=True),
                   examples=[response_example({"next": None, "previous": None, "results": [_CONTACT]})], tags=TAGS)
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(selectors.contacts_stale().prefetch_related("consents"))
        return self.get_paginated_response(ContactOutputSerializer(page, many=True).data)


class ContactExportCsvView(GenericAPIView):
    filterset_class = ContactFilter
    pagination_class = None

    def get_queryset(self):
        return selectors.contact_list()

    @extend_schema(summary="Export the filtered contacts as CSV",
                   description="Same filters as the list. Streamed: the file is never held in memory.",
                   responses={(200, "text/csv"): OpenApiTypes.STR}, filters=True, tags=TAGS)
    def get(self, request: Request) -> StreamingHttpResponse:
        rows = selectors.contacts_export_rows(self.filter_queryset(self.get_queryset()))
        response = StreamingHttpResponse(export_lines(rows), content_type="text/csv; charset=utf-8")
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
        response["Content-Disposition"] = f'attachment; filename="contacts-{stamp}.csv"'
        return response


class ImportJobCreateView(APIView):
    """Upload a CSV of contacts; a worker imports it."""

    # Multipart only, and the file is counted while it streams: past 50 MB the upload stops with a 413
    # instead of being stored whole in a temporary file and measured afterwards.
    parser_classes = [UploadMultiPartParser]
    upload_max_bytes = services.IMPORT_MAX_BYTES

    @extend_schema(summary="Upload a CSV of contacts to import",
                   description="Headers in French or English (nom, téléphone, whatsapp, email, ville, quartier, "
                               "segment, source, tags, note…), `;` or `,`, UTF-8 or Windows-1252. A worker "
                               "imports it in batches; GET the job for progress and the per-row error report.",
                   request={"multipart/form-data": ImportUploadSerializer},
                   responses={202: ImportJobOutputSerializer},
                   examples=[response_example({**_IMPORT_JOB, "status": "pending", "rows_done": 0, "progress": 0,
                                                "created_count": 0, "updated_count": 0, "unchanged_count": 0,
                                                "skipped_count": 0, "error_count": 0, "row_errors": [],
                                                "started_at": None},
                                               status_codes=["202"])],
                   tags=TAGS)
    def post(self, request: Request) -> Response:
        serializer = ImportUploadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        upload = serializer.validated_data["file"]
        job = services.import_job_create(file_name=upload.name or "upload.csv", data=upload.read(),
                                         created_by=request.user,
                                         consent_given=serializer.validated_data["consent_given"])
        return Response(ImportJobOutputSerializer(selectors.import_job_get(job.pk)).data,
                        status=status.HTTP_202_ACCEPTED)


class ImportJobDetailView(APIView):
    @extend_schema(summary="Progress and error report of an import",
                   responses=ImportJobOutputSerializer, examples=[response_example(_IMPORT_JOB)], tags=TAGS)
    def get(self, request: Request, job_id: int) -> Response:
        return Response(ImportJobOutputSerializer(selectors.import_job_get(job_id)).data)


class _TaskPagination(CreatedCursorPagination):
    ordering = ("due_at", "id")


class TaskListCreateView(GenericAPIView):
    queryset = FollowUpTask.objects.none()  # for the schema; the selector gives the rows
    pagination_class = _TaskPagination
    serializer_class = TaskOutputSerializer

    @extend_schema(summary="Follow-up tasks (a salesperson's day: ?mine=true&due=today)",
                   parameters=[TaskFilterSerializer], responses=TaskOutputSerializer(many=True),
                   examples=[response_example({"next": None, "previous": None, "results": [_TASK]})], tags=TAGS)
    def get(self, request: Request) -> Response:
        query = TaskFilterSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        qs = selectors.tasks_list(user=request.user, **query.validated_data)
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(TaskOutputSerializer(page, many=True).data)

    @extend_schema(summary="Create a follow-up task (call, visit, send a sample)",
                   request=TaskInputSerializer, responses={201: TaskOutputSerializer},
                   examples=[request_example({"contact_id": 42, "kind": "call", "due_at": "2026-11-25T10:00:00+01:00",
                                               "note": "Rappeler pour le coffret de fin d'année"}),
                             response_example(_TASK, status_codes=["201"])],
                   tags=TAGS)
    def post(self, request: Request) -> Response:
        serializer = TaskInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        owner = _staff_user(data.pop("owner_id", None))
        task = services.task_create(owner=owner, created_by=request.user, **data)
        return Response(TaskOutputSerializer(task).data, status=status.HTTP_201_CREATED)


def _staff_user(user_id: int | None) -> Any:
    if user_id is None:
        return None
    user = get_user_model().objects.filter(pk=user_id, is_staff=True).first()
    if user is None:
        raise ApplicationError("No staff user with this id.", code="validation_error",
                               errors=[field_error("owner_id", "No staff user with this id.", "does_not_exist")])
    return user


class TaskDetailView(APIView):
    @extend_schema(summary="Update a follow-up task (outcome, done, new due date)",
                   request=TaskUpdateInputSerializer, responses=TaskOutputSerializer,
                   examples=[request_example({"done": True, "outcome": "Commande de 6 coffrets pour décembre"}),
                             response_example({**_TASK, "outcome": "Commande de 6 coffrets pour décembre",
                                                "done_at": "2026-11-25T10:20:00+01:00"})],
                   tags=TAGS)
    def patch(self, request: Request, task_id: int) -> Response:
        serializer = TaskUpdateInputSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        owner = _staff_user(data.pop("owner_id", None))
        task = services.task_update(task_id=task_id, owner=owner, **data)
        return Response(TaskOutputSerializer(task).data)
