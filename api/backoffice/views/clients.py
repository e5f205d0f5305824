"""Clients: search by name or phone, the customer card, quick add, notes."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _

from api.attribution.selectors import rfm_list
from api.backoffice.forms import ContactQuickAddForm, ContactSearchForm, NoteForm
from api.backoffice.selectors import contact_probable_duplicates, contact_search
from api.backoffice.views.base import StaffPageView, call_service
from api.common.errors import NotFoundError
from api.contacts.phones import phone_digits
from api.contacts.selectors import contact_get, contact_timeline, tasks_list
from api.contacts.services import contact_create, contact_note_add
from api.orders.selectors import order_list

CARD_ORDERS = 20
CARD_TIMELINE = 30
CARD_NOTES = 10
# Fewer characters find too many people to be a useful warning.
DUPLICATE_CHECK_MIN_CHARS = 4


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
        context = self.get_context_data(
            contact=contact, note_form=note_form, timeline=events, rfm=rfm,
            consents=sorted(contact.consents.all(), key=lambda c: c.channel),
            tags=[t.name for t in contact.tags.all()],
            orders=list(order_list().filter(contact_id=pk).order_by("-created_at")[:CARD_ORDERS]),
            notes=list(contact.notes.select_related("author").order_by("-created_at")[:CARD_NOTES]),
            tasks=list(tasks_list(user=self.request.user, contact_id=pk, done=False).order_by("due_at")),
        )
        return self.render_to_response(context, status=status)
