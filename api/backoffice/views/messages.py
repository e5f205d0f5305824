"""Messages: broadcasts (audience preview and count before sending, now or at a set time, progress,
cancel) and the nurture sequences with their steps, on the nurture app's services and selectors."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from api.backoffice import labels
from api.backoffice.views.base import StaffPageView, call_service
from api.common.businesstime import business_localtime, business_tz
from api.common.errors import NotFoundError
from api.contacts.selectors import contacts_audience
from api.nurture.selectors import (
    broadcast_get,
    broadcast_list,
    broadcast_progress,
    sequence_get,
    sequence_list,
)
from api.nurture.services import (
    SUPPORTED_CHANNELS,
    broadcast_cancel,
    broadcast_create,
    sequence_step_add,
    sequence_step_update,
    sequence_update,
)

RECENT_BROADCASTS = 30
# Names shown under the audience count: enough to recognise the audience, few enough for a phone.
PREVIEW_NAMES = 5
# How often the broadcast page asks for its progress while messages are going out.
PROGRESS_POLL_SECONDS = 3

# Audience filters of ``contacts_audience`` the form offers, as (filter, label kind of its values).
# City and tags are typed, comma-separated; the others are picked among the apps' choices.
AUDIENCE_CHOICE_FILTERS = (("segment", "segment"), ("lifecycle_stage", "stage"), ("rfm_group", "rfm_group"))
AUDIENCE_TEXT_FILTERS = ("city", "tags")

SEND_NOW, SEND_LATER = "now", "later"
# The step services name the delay ``delay``; the form types it as days and hours.
STEP_ERROR_FIELDS = {"delay": "days"}


def _words(raw: str) -> list[str]:
    """``"Douala, Yaoundé"`` → ``["Douala", "Yaoundé"]``."""
    return [word.strip() for word in raw.split(",") if word.strip()]


class AudienceForm(forms.Form):
    """The audience filters of a broadcast; every value is checked by ``contacts_audience`` itself."""

    segment = forms.MultipleChoiceField(label=gettext_lazy("Segment"), required=False,
                                        choices=labels.choices("segment"), widget=forms.CheckboxSelectMultiple)
    lifecycle_stage = forms.MultipleChoiceField(label=gettext_lazy("Stage"), required=False,
                                                choices=labels.choices("stage"), widget=forms.CheckboxSelectMultiple)
    rfm_group = forms.MultipleChoiceField(label=gettext_lazy("RFM group"), required=False,
                                          choices=labels.choices("rfm_group"), widget=forms.CheckboxSelectMultiple)
    city = forms.CharField(label=gettext_lazy("Cities"), required=False, max_length=300,
                           help_text=gettext_lazy("Separated by commas, e.g. Douala, Yaoundé. Empty: every city."))
    tags = forms.CharField(label=gettext_lazy("Tags"), required=False, max_length=300,
                           help_text=gettext_lazy("Separated by commas; a contact with any of them is reached."))

    def audience(self) -> dict[str, list[str]]:
        """The ``audience`` of ``broadcast_create`` (the filters left empty are not sent)."""
        data = getattr(self, "cleaned_data", {})
        audience: dict[str, list[str]] = {}
        for name, _kind in AUDIENCE_CHOICE_FILTERS:
            if data.get(name):
                audience[name] = list(data[name])
        for name in AUDIENCE_TEXT_FILTERS:
            words = _words(data.get(name) or "")
            if words:
                audience[name] = words
        return audience

    def audience_fields(self) -> list[forms.BoundField]:
        return [self[name] for name, _kind in AUDIENCE_CHOICE_FILTERS] + [self[n] for n in AUDIENCE_TEXT_FILTERS]


class BroadcastForm(AudienceForm):
    """A broadcast: its name for the team, the text, the channels, the audience, now or later."""

    name = forms.CharField(label=gettext_lazy("Name (for the team)"), max_length=200,
                           widget=forms.TextInput(attrs={"placeholder": gettext_lazy("e.g. Christmas coffrets")}))
    text = forms.CharField(label=gettext_lazy("Message"), max_length=4000, widget=forms.Textarea(attrs={"rows": 4}),
                           help_text=gettext_lazy("{first_name} is replaced by each person's first name."))
    channels = forms.MultipleChoiceField(label=gettext_lazy("Channels"), initial=list(SUPPORTED_CHANNELS),
                                         choices=labels.choices("channel", SUPPORTED_CHANNELS),
                                         widget=forms.CheckboxSelectMultiple,
                                         help_text=gettext_lazy("Each person gets it once, on their preferred "
                                                                "channel among these."))
    when = forms.ChoiceField(label=gettext_lazy("When"), initial=SEND_NOW, widget=forms.RadioSelect,
                             choices=[(SEND_NOW, gettext_lazy("Now")), (SEND_LATER, gettext_lazy("Later"))])
    send_date = forms.DateField(label=gettext_lazy("Day"), required=False,
                                widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    send_time = forms.TimeField(label=gettext_lazy("Time (Douala)"), required=False,
                                widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"))

    field_order = ["name", "text", "channels", "segment", "lifecycle_stage", "rfm_group", "city", "tags", "when",
                   "send_date", "send_time"]

    def clean(self) -> dict[str, Any]:
        """A later send needs its day and time, read in the business time zone, still to come."""
        data = super().clean() or {}
        if data.get("when") != SEND_LATER:
            return data
        day, clock = data.get("send_date"), data.get("send_time")
        if day is None:
            self.add_error("send_date", _("Choose the day."))
        if clock is None:
            self.add_error("send_time", _("Choose the time."))
        if day is not None and clock is not None:
            moment = datetime.combine(day, clock, tzinfo=business_tz())
            if moment <= timezone.now():
                self.add_error("send_time", _("This time is already past: choose a later one, or send now."))
            data["send_at"] = moment
        return data

    def send_at(self, now: datetime) -> datetime:
        """When the broadcast goes out: ``now``, or the day and time chosen."""
        if self.cleaned_data["when"] == SEND_LATER:
            return self.cleaned_data["send_at"]
        return now



def audience_preview(form: AudienceForm) -> dict[str, Any] | None:
    """The count and the first names of the contacts ``form``'s audience reaches, read through
    ``contacts_audience``, the selector ``broadcast_start`` queues the messages for; None when a
    filter is refused, by the form or by the contacts app (the error is then on ``form``)."""
    if any(field.errors for field in form.audience_fields()):
        return None  # a filter left out would widen the audience: no count rather than a wrong one
    contacts = call_service(form, contacts_audience, filters=form.audience())
    if contacts is None:
        return None
    count = contacts.count()
    names = [c.display_name for c in contacts.order_by("-created_at", "-pk")[:PREVIEW_NAMES]]
    return {"count": count, "names": names, "others": count - len(names)}


def audience_summary(audience: dict[str, Any]) -> list[tuple[str, str]]:
    """A stored audience as staff read it: (filter name, its values in words)."""
    kinds = dict(AUDIENCE_CHOICE_FILTERS)
    summary = []
    for name, values in audience.items():
        values = values if isinstance(values, list) else [values]
        words = [labels.label(kinds[name], v) if name in kinds else str(v) for v in values]
        summary.append((labels.label("audience_filter", name), ", ".join(words)))
    return summary


def broadcast_phase(broadcast: Any, progress: dict[str, int], now: datetime) -> str:
    """Where a broadcast stands for staff: ``scheduled`` (its time to come), ``starting`` (due,
    waiting for the worker that queues it), ``sending`` (messages pending), ``finished`` or ``cancelled``."""
    if broadcast.state == "cancelled":
        return "cancelled"
    if broadcast.state == "scheduled":
        return "starting" if broadcast.send_at <= now else "scheduled"
    return "sending" if progress["pending"] else "finished"


def progress_context(broadcast: Any) -> dict[str, Any]:
    """The progress fragment's context: counts, how much is done in percent, and whether to poll again."""
    progress = broadcast_progress(broadcast)
    phase = broadcast_phase(broadcast, progress, timezone.now())
    done = progress["sent"] + progress["skipped"] + progress["failed"] + progress["cancelled"]
    return {"broadcast": broadcast, "progress": progress, "phase": phase, "done": done,
            "done_ratio": done / progress["total"] if progress["total"] else None,
            "polling": phase in ("starting", "sending"), "poll_seconds": PROGRESS_POLL_SECONDS,
            "cancellable": phase in ("scheduled", "starting", "sending")}


class StepForm(forms.Form):
    """One message of a sequence as staff think of it: the text, then "so many days and hours after
    the previous message", and optionally the hours it may go out. ``sequence_step_*`` check the rest."""

    text = forms.CharField(label=gettext_lazy("Message"), widget=forms.Textarea(attrs={"rows": 6}),
                           help_text=gettext_lazy("{first_name} is replaced by each person's first name, "
                                                  "{referral_code} by their personal code."))
    days = forms.IntegerField(label=gettext_lazy("Days after the previous message"), min_value=0, max_value=366,
                              initial=1, widget=forms.NumberInput(attrs={"inputmode": "numeric"}))
    hours = forms.IntegerField(label=gettext_lazy("and hours"), min_value=0, max_value=23, initial=0,
                               widget=forms.NumberInput(attrs={"inputmode": "numeric"}))
    window_start = forms.TimeField(label=gettext_lazy("Not before (Douala)"), required=False,
                                   widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
                                   help_text=gettext_lazy("Empty: 09:00."))
    window_end = forms.TimeField(label=gettext_lazy("Not after (Douala)"), required=False,
                                 widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
                                 help_text=gettext_lazy("Empty: 20:00."))

    @classmethod
    def for_step(cls, step: Any) -> StepForm:
        """The form filled with what ``step`` says now."""
        return cls(initial={"text": step.text, "days": step.delay.days, "hours": step.delay.seconds // 3600,
                            "window_start": step.window_start, "window_end": step.window_end})

    def step_fields(self) -> dict[str, Any]:
        """The keyword arguments of ``sequence_step_add`` / ``sequence_step_update``."""
        data = self.cleaned_data
        return {"text": data["text"], "delay": timedelta(days=data["days"], hours=data["hours"]),
                "window_start": data.get("window_start"), "window_end": data.get("window_end")}


class MessagesPageView(StaffPageView):
    """A Messages page; a broadcast, sequence or step that does not exist is the French 404 page."""

    section = "messages"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return super().dispatch(request, *args, **kwargs)
        except NotFoundError:
            return self.not_found()

    def not_found(self) -> HttpResponse:
        return TemplateResponse(self.request, "backoffice/not_found.html", {"section": self.section}, status=404)


class BroadcastListView(MessagesPageView):
    """The latest broadcasts, newest first, each with where it stands and its progress."""

    template_name = "backoffice/messages/broadcast_list.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["broadcasts"] = [progress_context(b) for b in broadcast_list()[:RECENT_BROADCASTS]]
        return context


class BroadcastAudienceView(MessagesPageView):
    """While the broadcast form is filled in (htmx): how many people the audience reaches, and who."""

    template_name = "backoffice/messages/_audience.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        form = AudienceForm(self.request.GET)
        form.is_valid()
        context.update(form=form, preview=audience_preview(form), show_errors=True)
        return context


class BroadcastCreateView(MessagesPageView):
    """The broadcast form, then a confirmation page (who, how many, when) before ``broadcast_create``."""

    template_name = "backoffice/messages/broadcast_new.html"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        form = BroadcastForm()
        audience = AudienceForm({})
        audience.is_valid()
        return self.render_to_response(self.get_context_data(form=form, preview=audience_preview(audience)))

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        """Without ``confirmed``: check the form and show the confirmation; with it: plan the broadcast."""
        form = BroadcastForm(request.POST)
        valid = form.is_valid()
        preview = audience_preview(form)
        if not valid or preview is None or "edit" in request.POST:
            status = 200 if "edit" in request.POST and valid and preview is not None else 400
            return self.render_to_response(self.get_context_data(form=form, preview=preview), status=status)
        now = timezone.now()
        send_at = form.send_at(now)
        if "confirmed" not in request.POST:
            hidden = [(key, value) for key, values in request.POST.lists() if key not in ("csrfmiddlewaretoken",)
                      for value in values]
            return TemplateResponse(request, "backoffice/messages/broadcast_confirm.html", self.get_context_data(
                form=form, preview=preview, hidden=hidden, send_at=send_at, now=form.cleaned_data["when"] == SEND_NOW,
                audience=audience_summary(form.audience())))
        broadcast = call_service(
            form, broadcast_create, name=form.cleaned_data["name"], text=form.cleaned_data["text"], send_at=send_at,
            audience=form.audience(), channels=form.cleaned_data["channels"], created_by=request.user)
        if broadcast is None:
            return self.render_to_response(self.get_context_data(form=form, preview=preview), status=400)
        if form.cleaned_data["when"] == SEND_NOW:
            messages.success(request, _("Broadcast started: the messages go out within a minute."))
        else:
            messages.success(request, _("Broadcast scheduled for %(when)s.")
                             % {"when": business_localtime(send_at).strftime("%d/%m/%Y %H:%M")})
        return redirect("backoffice:broadcast-detail", pk=broadcast.pk)


class BroadcastDetailView(MessagesPageView):
    """A broadcast: its text, audience and time, its progress (polled while it is sending), cancel."""

    template_name = "backoffice/messages/broadcast_detail.html"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        broadcast = broadcast_get(self.kwargs["pk"])
        return self.render_to_response(self.get_context_data(
            **progress_context(broadcast), audience=audience_summary(broadcast.audience),
            channels=[labels.label("channel", c) for c in broadcast.channels]))


class BroadcastProgressView(MessagesPageView):
    """The progress fragment alone (htmx polling); it stops asking once the broadcast is over."""

    template_name = "backoffice/messages/_progress.html"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        broadcast = broadcast_get(self.kwargs["pk"])
        return self.render_to_response(self.get_context_data(**progress_context(broadcast)))


class BroadcastCancelView(MessagesPageView):
    """Cancel with a confirmation page first: ``broadcast_cancel`` stops what is not sent yet."""

    template_name = "backoffice/messages/broadcast_cancel.html"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        broadcast = broadcast_get(self.kwargs["pk"])
        return self.render_to_response(self.get_context_data(**progress_context(broadcast)))

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        broadcast_cancel(broadcast_id=self.kwargs["pk"])
        messages.success(request, _("Broadcast cancelled: nothing more goes out."))
        return redirect("backoffice:broadcast-detail", pk=self.kwargs["pk"])


class SequenceListView(MessagesPageView):
    """Every sequence: what it is for, whether it runs, how many steps."""

    template_name = "backoffice/messages/sequence_list.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["sequences"] = list(sequence_list())
        return context


class SequenceDetailView(MessagesPageView):
    """A sequence's settings and its steps in order; switched on or off through ``sequence_update``."""

    template_name = "backoffice/messages/sequence_detail.html"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        sequence = sequence_get(self.kwargs["pk"])
        steps = sorted(sequence.steps.all(), key=lambda s: s.position)
        return self.render_to_response(self.get_context_data(
            sequence=sequence, steps=steps, audience=audience_summary(sequence.audience),
            channels=[labels.label("channel", c) for c in sequence.channels]))

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        """``active=1`` switches the sequence on, ``active=0`` off (running enrollments keep their messages)."""
        active = request.POST.get("active")
        if active not in ("0", "1"):
            return redirect("backoffice:sequence-detail", pk=self.kwargs["pk"])
        sequence_update(sequence_id=self.kwargs["pk"], is_active=active == "1")
        messages.success(request, _("Sequence switched on.") if active == "1" else _("Sequence switched off."))
        return redirect("backoffice:sequence-detail", pk=self.kwargs["pk"])


class SequenceStepEditView(MessagesPageView):
    """Rewrite one message of a sequence (``position``), or add one at its end (no ``position``)."""

    template_name = "backoffice/messages/step_edit.html"

    def _sequence_and_step(self) -> tuple[Any, Any]:
        """The sequence and the step being edited (None when adding); NotFoundError when either is missing."""
        sequence = sequence_get(self.kwargs["pk"])
        position = self.kwargs.get("position")
        if position is None:
            return sequence, None
        step = next((s for s in sequence.steps.all() if s.position == position), None)
        if step is None:
            raise NotFoundError(f"No step {position}.")
        return sequence, step

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        sequence, step = self._sequence_and_step()
        form = StepForm() if step is None else StepForm.for_step(step)
        return self.render_to_response(self.get_context_data(sequence=sequence, step=step, form=form))

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        sequence, step = self._sequence_and_step()
        form = StepForm(request.POST)
        saved = None
        if form.is_valid():
            if step is None:
                saved = call_service(form, sequence_step_add, fields=STEP_ERROR_FIELDS, sequence_id=sequence.pk,
                                     **form.step_fields())
            else:
                saved = call_service(form, sequence_step_update, fields=STEP_ERROR_FIELDS, sequence_id=sequence.pk,
                                     position=step.position, **form.step_fields())
        if saved is None:
            return self.render_to_response(self.get_context_data(sequence=sequence, step=step, form=form), status=400)
        messages.success(request, _("Message %(n)s saved. People already enrolled keep the text planned for them.")
                         % {"n": saved.position})
        return redirect(f"{reverse('backoffice:sequence-detail', args=[sequence.pk])}#step-{saved.position}")
