"""Clients: search by name or phone, the customer card, quick add, notes; the file's tools: likely
duplicates and their merge, CSV import with its progress, export, erase."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views import View

from api.attribution.selectors import rfm_list
from api.backoffice.access import StaffRequiredMixin
from api.backoffice.errors import service_message
from api.backoffice.forms import (
    ContactQuickAddForm,
    ContactSearchForm,
    EraseForm,
    ImportUploadForm,
    MergeForm,
    NoteForm,
)
from api.backoffice.selectors import contact_probable_duplicates, contact_search
from api.backoffice.timeline import timeline_for_card
from api.backoffice.views.base import StaffPageView, call_service
from api.common.errors import NotFoundError
from api.contacts.csv_io import export_lines
from api.contacts.filters import ContactFilter
from api.contacts.phones import INVALID_PHONE, phone_digits
from api.contacts.selectors import (
    contact_duplicate_groups,
    contact_get,
    contact_list,
    contact_timeline,
    contacts_export_rows,
    import_job_get,
    import_job_row_errors,
    tasks_list,
)
from api.contacts.services import (
    contact_create,
    contact_erase,
    contact_merge,
    contact_note_add,
    import_job_create,
)
from api.contacts.services.imports import import_row_fields_counts
from api.nurture.selectors import lead_mature_threshold, nurture_profile_find
from api.orders.selectors import order_list

CARD_ORDERS = 20
CARD_TIMELINE = 30
CARD_NOTES = 10
# Fewer characters find too many people to be a useful warning.
DUPLICATE_CHECK_MIN_CHARS = 4
# Groups on the Doublons page: more than a staff member works through in a sitting.
DUPLICATE_GROUPS = 50
# Row errors on an import's page; the API's job report has them all.
IMPORT_ROW_ERRORS = 200
IMPORT_FINISHED = ("done", "failed")  # ``ImportJob.Status`` values after which nothing moves


class ContactListView(StaffPageView):
    """The search; an htmx request (typing in the box) gets the result list alone."""

    template_name = "backoffice/clients/list.html"
    section = "clients"

    def get_template_names(self) -> list[str]:
        if self.request.htmx:  # type: ignore[attr-defined]
            return ["backoffice/clients/_results.html"]
        return [self.template_name]

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        form = ContactSearchForm(self.request.GET or None)
        query = form.cleaned_data["q"].strip() if form.is_valid() else ""
        context.update(form=form, query=query, contacts=list(contact_search(query=query)) if query else [])
        return context


class ContactCreateView(StaffPageView):
    """Quick add through ``contact_create``: the phone is normalised there, its errors shown here."""

    template_name = "backoffice/clients/new.html"
    section = "clients"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return self.render_to_response(self.get_context_data(form=ContactQuickAddForm()))

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        form = ContactQuickAddForm(request.POST)
        contact = None
        if form.is_valid():
            data = form.cleaned_data
            contact = call_service(
                form, contact_create, actor=request.user, name=data["name"], phone=data["phone"],
                city=data["city"] or None, neighbourhood=data["neighbourhood"] or None, segment=data["segment"],
                self_reported_source=data["self_reported_source"] or None)
        if contact is None:
            return self.render_to_response(self.get_context_data(form=form), status=400)
        messages.success(request, _("Customer added."))
        for other in contact_probable_duplicates(contact_id=contact.pk):
            messages.warning(request, _("%(name)s (#%(id)s) may be the same person: check before merging.")
                             % {"name": other.display_name, "id": other.pk})
        return redirect("backoffice:contact-detail", pk=contact.pk)


class ContactDuplicateCheckView(StaffPageView):
    """While the quick-add form is filled in (htmx): the people the phone or name already finds."""

    template_name = "backoffice/clients/_maybe_exists.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        phone = self.request.GET.get("phone", "").strip()
        name = self.request.GET.get("name", "").strip()
        query = phone if len(phone_digits(phone)) >= DUPLICATE_CHECK_MIN_CHARS else name
        found = list(contact_search(query=query, limit=5)) if len(query) >= DUPLICATE_CHECK_MIN_CHARS else []
        context["contacts"] = found
        return context


class ContactDetailView(StaffPageView):
    """The customer card: identities, consents, segment, stage, RFM group, orders, timeline, notes, tasks."""

    template_name = "backoffice/clients/detail.html"
    section = "clients"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return self.render_card(NoteForm())

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        """Add a note through ``contact_note_add``."""
        form = NoteForm(request.POST)
        note = None
        if form.is_valid():
            note = call_service(form, contact_note_add, contact_id=self.kwargs["pk"], text=form.cleaned_data["text"],
                                author=request.user)
        if note is None:
            return self.render_card(form, status=400)
        messages.success(request, _("Note added."))
        return redirect("backoffice:contact-detail", pk=self.kwargs["pk"])

    def render_card(self, note_form: NoteForm, status: int = 200) -> HttpResponse:
        pk = self.kwargs["pk"]
        try:
            contact = contact_get(pk)
        except NotFoundError:
            return TemplateResponse(self.request, "backoffice/not_found.html", {"section": self.section}, status=404)
        if contact.merged_into_id:
            return redirect("backoffice:contact-detail", pk=contact.merged_into_id)
        events, _cursor = contact_timeline(contact_id=pk, limit=CARD_TIMELINE)
        rfm = rfm_list(filters={"contact_id": pk}).first()
        profile = nurture_profile_find(pk)
        reorder_at = profile.replenishment_due_at if profile else None
        context = self.get_context_data(
            contact=contact, note_form=note_form, timeline=timeline_for_card(events), rfm=rfm,
            profile=profile, mature_threshold=lead_mature_threshold(), reorder_at=reorder_at,
            reorder_overdue=reorder_at is not None and reorder_at < timezone.now(),
            consents=sorted(contact.consents.all(), key=lambda c: c.channel),
            tags=[t.name for t in contact.tags.all()],
            orders=list(order_list().filter(contact_id=pk).order_by("-created_at")[:CARD_ORDERS]),
            notes=list(contact.notes.select_related("author").order_by("-created_at")[:CARD_NOTES]),
            tasks=list(tasks_list(user=self.request.user, contact_id=pk, done=False).order_by("due_at")),
        )
        return self.render_to_response(context, status=status)


def _row_message(message: str) -> str:
    """A row error of an import in the page's language: the phone error (which quotes the cell) by its
    pattern, ``phones.INVALID_PHONE``, a row of the wrong field count by its numbers
    (``import_row_fields_counts``), the others as the form errors are (``errors.service_message``)."""
    before, _sep, after = INVALID_PHONE.partition("{}")
    if message.startswith(before) and message.endswith(after) and len(message) > len(before) + len(after):
        return _("%(value)s is not a valid phone number.") % {"value": message[len(before):len(message) - len(after)]}
    if (fields := import_row_fields_counts(message)) is not None:
        found, expected = fields
        return ngettext("%(found)s field instead of %(expected)s.", "%(found)s fields instead of %(expected)s.",
                        found) % {"found": found, "expected": expected}
    return service_message(message)


class ContactDuplicatesView(StaffPageView):
    """Doublons: groups of customers who are probably one person (``contact_duplicate_groups``:
    same name and city, or the same phone written another way), each with the choice of the card
    that stays; merging is confirmed on the next page."""

    template_name = "backoffice/clients/duplicates.html"
    section = "clients"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["groups"] = contact_duplicate_groups(limit=DUPLICATE_GROUPS)
        return context


def _merge_into(*, target_id: int, source_ids: list[int], actor: Any) -> list[Any]:
    """Fold each of ``source_ids`` into ``target_id`` through ``contact_merge``; the caller's
    savepoint (``call_service``) undoes them all when one is refused."""
    return [contact_merge(target_id=target_id, source_id=source_id, actor=actor) for source_id in source_ids]


class ContactMergeView(StaffPageView):
    """The confirmation step of a merge: ``?garder=<id>&avec=<id>…`` shows the cards side by side
    and what a merge does; the POST merges through ``contact_merge`` and opens the survivor's card."""

    template_name = "backoffice/clients/merge.html"
    section = "clients"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        form = MergeForm(request.GET)
        if form.is_valid():
            # The group's form sends every member; the one chosen to stay is not merged into itself.
            keep = form.cleaned_data["garder"]
            others = [pk for pk in dict.fromkeys(form.cleaned_data["avec"]) if pk != keep]
            form = MergeForm(initial={"garder": keep, "avec": others})
        return self.render_page(form)

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        form = MergeForm(request.POST)
        merges = None
        if form.is_valid():
            merges = call_service(form, _merge_into, target_id=form.cleaned_data["garder"],
                                  source_ids=form.cleaned_data["avec"], actor=request.user)
        if not merges:
            if form.is_valid() and merges is not None:  # nobody to merge
                form.add_error(None, _("Choose at least one other customer to merge."))
            return self.render_page(form, status=400)
        target = form.cleaned_data["garder"]
        messages.success(request, _("%(count)s customer card(s) merged into this one.") % {"count": len(merges)})
        return redirect("backoffice:contact-detail", pk=target)

    def render_page(self, form: MergeForm, status: int = 200) -> HttpResponse:
        data = form.cleaned_data if form.is_bound and hasattr(form, "cleaned_data") else form.initial
        keep_id = data.get("garder")
        ids = [keep_id, *(data.get("avec") or [])] if keep_id else []
        cards = {}
        for pk in dict.fromkeys(ids):
            try:
                cards[pk] = contact_get(pk)
            except NotFoundError:
                continue
        context = self.get_context_data(form=form, keep=cards.get(keep_id),
                                        others=[c for pk, c in cards.items() if pk != keep_id])
        return self.render_to_response(context, status=status)


class ContactImportView(StaffPageView):
    """Upload a CSV through ``import_job_create`` (the API's import: headers in French or English,
    file checks, a worker imports it in batches), then follow it on the job's page."""

    template_name = "backoffice/clients/import.html"
    section = "clients"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return self.render_to_response(self.get_context_data(form=ImportUploadForm()))

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        form = ImportUploadForm(request.POST, request.FILES)
        job = None
        if form.is_valid():
            upload = form.cleaned_data["file"]
            # The service's whole message says what is wrong with the file; its entry only lists headers.
            job = call_service(form, import_job_create, fields={"file": "__all__"},
                               file_name=upload.name or "upload.csv", data=upload.read(), created_by=request.user,
                               consent_given=form.cleaned_data["consent_given"])
        if job is None:
            return self.render_to_response(self.get_context_data(form=form), status=400)
        return redirect("backoffice:contact-import-job", pk=job.pk)


class ImportJobView(StaffPageView):
    """An import's page: its progress, polled by htmx until the job is done or failed, then the
    counts and the row errors. An htmx request gets the progress fragment alone."""

    template_name = "backoffice/clients/import_job.html"
    section = "clients"

    def get_template_names(self) -> list[str]:
        if self.request.htmx:  # type: ignore[attr-defined]
            return ["backoffice/clients/_import_progress.html"]
        return [self.template_name]

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            job = import_job_get(self.kwargs["pk"])
        except NotFoundError:
            return TemplateResponse(request, "backoffice/not_found.html", {"section": self.section}, status=404)
        finished = job.status in IMPORT_FINISHED
        row_errors = import_job_row_errors(job.pk, limit=IMPORT_ROW_ERRORS) if finished else []
        for error in row_errors:
            error["message"] = _row_message(error["message"])
        percent = round(100 * job.rows_done / job.total_rows) if job.total_rows else (100 if finished else 0)
        return self.render_to_response(self.get_context_data(
            job=job, finished=finished, percent=percent, row_errors=row_errors,
            failure=service_message(job.failure) if job.failure else "",
            more_errors=len(row_errors) >= IMPORT_ROW_ERRORS))


class ContactExportView(StaffRequiredMixin, View):
    """The customer file as CSV, the API's export (``contacts_export_rows``, ``export_lines``), of
    everyone or of the search ``?q=``; streamed, never held in memory."""

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> StreamingHttpResponse:
        query = request.GET.get("q", "").strip()
        contacts = ContactFilter(data={"q": query}, queryset=contact_list()).qs if query else contact_list()
        response = StreamingHttpResponse(export_lines(contacts_export_rows(contacts)),
                                         content_type="text/csv; charset=utf-8")
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
        response["Content-Disposition"] = f'attachment; filename="contacts-{stamp}.csv"'
        return response


class ContactEraseView(StaffPageView):
    """The right to be forgotten: what erasing keeps and deletes, a box to tick, then ``contact_erase``."""

    template_name = "backoffice/clients/erase.html"
    section = "clients"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return self.render_page(EraseForm())

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        form = EraseForm(request.POST)
        erased = None
        if form.is_valid():
            erased = call_service(form, contact_erase, contact_id=self.kwargs["pk"], actor=request.user)
        if erased is None:
            return self.render_page(form, status=400)
        messages.success(request, _("This person's details were erased."))
        return redirect("backoffice:contact-detail", pk=erased.pk)

    def render_page(self, form: EraseForm, status: int = 200) -> HttpResponse:
        try:
            contact = contact_get(self.kwargs["pk"])
        except NotFoundError:
            return TemplateResponse(self.request, "backoffice/not_found.html", {"section": self.section}, status=404)
        return self.render_to_response(self.get_context_data(contact=contact, form=form), status=status)
