"""Sequences and enrollments: a sequence's steps are queued as outbound messages when a contact enrolls."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from datetime import time as dtime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_duration

from api.common.errors import ApplicationError, NotFoundError, field_error
from api.contacts.selectors import contact_live_get, contacts_audience
from api.nurture.enums import Purpose
from api.nurture.models import Enrollment, OutboundMessage, Sequence, SequenceStep
from api.nurture.services.channels import (
    SUPPORTED_CHANNELS,
    channel_choose,
    contact_recipient,
    parse_clock,
    render_text,
    validate_audience,
    validate_channels,
)
from api.nurture.services.templates import (
    CONTACT_PARAMETERS,
    contact_parameters,
    outbound_enqueue_with_template,
    whatsapp_template_choose,
)

State = OutboundMessage.State


@transaction.atomic
def sequence_create(*, name: str, steps: list[dict[str, Any]], purpose: str = Purpose.MANUAL,
                    campaign_code: str = "", audience: dict[str, Any] | None = None,
                    channels: list[str] | None = None, stop_on_order: bool = True, stop_on_reply: bool = False,
                    is_active: bool = True) -> Sequence:
    """Create a sequence with its steps (``delay``, ``text``, ``image_url``, ``window_start``/``end``,
    ``whatsapp_template``: an approved template's id, sent instead of the text on WhatsApp outside
    the 24-hour window, see ``services.templates``).

    Channels default to every supported channel; a campaign sequence needs its campaign code (the
    code a bot ``/start`` carries). One transaction: a bad step leaves nothing behind.
    """
    channels = list(channels or SUPPORTED_CHANNELS)
    audience = dict(audience or {})
    validate_channels(channels)
    validate_audience(audience)
    if purpose == Purpose.CAMPAIGN and not campaign_code:
        raise ApplicationError("A campaign sequence needs its campaign code.", code="validation_error",
                               errors=[field_error("campaign_code", "Required for purpose campaign.", "required")])
    sequence = Sequence(name=name, purpose=purpose, campaign_code=campaign_code.strip().upper(), audience=audience,
                        channels=channels, stop_on_order=stop_on_order, stop_on_reply=stop_on_reply,
                        is_active=is_active)
    sequence.full_clean()
    sequence.save()
    for position, step in enumerate(steps, start=1):
        template = whatsapp_template_choose(step.get("whatsapp_template"), max_parameters=CONTACT_PARAMETERS,
                                            field=f"steps[{position - 1}].whatsapp_template")
        SequenceStep.objects.create(sequence=sequence, position=position, delay=_duration(step.get("delay"), position),
                                    text=step["text"], image_url=step.get("image_url") or "",
                                    window_start=_clock(step.get("window_start")),
                                    window_end=_clock(step.get("window_end")), whatsapp_template=template)
    return sequence


def _duration(value: Any, position: int, field: str = "") -> timedelta:
    if value is None or value == "":
        return timedelta()
    # A timedelta (the back office's form) obeys the same bounds as a typed duration.
    parsed = value if isinstance(value, timedelta) else parse_duration(str(value))
    if parsed is None or parsed < timedelta() or parsed > SequenceStep.MAX_DELAY:
        raise ApplicationError("A step delay is a positive duration of at most 366 days, such as `1 00:00:00`.", code="validation_error",
                               errors=[field_error(field or f"steps[{position - 1}].delay", "Invalid duration.")])
    return parsed


def _clock(value: Any) -> dtime | None:
    if value is None or value == "" or isinstance(value, dtime):
        return value or None
    return parse_clock(str(value)[:5])


@transaction.atomic
def sequence_update(*, sequence_id: int, name: str | None = None, audience: dict[str, Any] | None = None,
                    channels: list[str] | None = None, stop_on_order: bool | None = None,
                    stop_on_reply: bool | None = None, is_active: bool | None = None) -> Sequence:
    """Change a sequence's settings (not its steps); an argument left ``None`` keeps its value.

    Running enrollments keep their queued messages. The row is locked for the change.
    """
    sequence = Sequence.objects.select_for_update().filter(pk=sequence_id).first()
    if sequence is None:
        raise NotFoundError(f"No sequence #{sequence_id}.")
    if channels is not None:
        validate_channels(channels)
        sequence.channels = channels
    if audience is not None:
        validate_audience(audience)
        sequence.audience = audience
    if name is not None:
        sequence.name = name
    if stop_on_order is not None:
        sequence.stop_on_order = stop_on_order
    if stop_on_reply is not None:
        sequence.stop_on_reply = stop_on_reply
    if is_active is not None:
        sequence.is_active = is_active
    sequence.full_clean()
    sequence.save()
    return sequence


MAX_STEP_TEXT = 4096  # Telegram's limit on one message, the smallest of the three channels


def _step_fields(*, text: str, delay: Any, image_url: str, window_start: Any, window_end: Any,
                 position: int, whatsapp_template: int | None = None) -> dict[str, Any]:
    """A step's checked fields, or a 400 naming the field (the same rules for adding and editing)."""
    text = (text or "").strip()
    errors = []
    if not text:
        errors.append(field_error("text", "A message needs a text.", "required"))
    elif len(text) > MAX_STEP_TEXT:
        errors.append(field_error("text", f"At most {MAX_STEP_TEXT} characters.", "max_length"))
    start, end = _clock(window_start), _clock(window_end)
    if start and end and start >= end:
        errors.append(field_error("window_end", "The sending window must end after it starts.", "invalid"))
    if errors:
        raise ApplicationError("The message is not valid.", code="validation_error", errors=errors)
    return {"text": text, "delay": _duration(delay, position, "delay"), "image_url": image_url or "",
            "window_start": start, "window_end": end,
            "whatsapp_template": whatsapp_template_choose(whatsapp_template, max_parameters=CONTACT_PARAMETERS)}


@transaction.atomic
def sequence_step_update(*, sequence_id: int, position: int, text: str, delay: Any = None, image_url: str = "",
                         window_start: Any = None, window_end: Any = None,
                         whatsapp_template: int | None = None) -> SequenceStep:
    """Rewrite step ``position`` of a sequence (text, delay after the previous one, image, sending window,
    WhatsApp template: none when not given).

    Only people enrolled from now on get the new text: messages already queued keep theirs, like a
    letter already posted. 404 when the sequence or the step does not exist.
    """
    step = SequenceStep.objects.select_for_update().filter(sequence_id=sequence_id, position=position).first()
    if step is None:
        raise NotFoundError(f"No step {position} in sequence #{sequence_id}.")
    for name, value in _step_fields(text=text, delay=delay, image_url=image_url, window_start=window_start,
                                     window_end=window_end, position=position,
                                     whatsapp_template=whatsapp_template).items():
        setattr(step, name, value)
    step.full_clean()
    step.save()
    return step


@transaction.atomic
def sequence_step_add(*, sequence_id: int, text: str, delay: Any = None, image_url: str = "",
                      window_start: Any = None, window_end: Any = None,
                      whatsapp_template: int | None = None) -> SequenceStep:
    """Add a message at the end of a sequence; the sequence row is locked so two additions get two positions."""
    sequence = Sequence.objects.select_for_update().filter(pk=sequence_id).first()
    if sequence is None:
        raise NotFoundError(f"No sequence #{sequence_id}.")
    position = (sequence.steps.order_by("-position").values_list("position", flat=True).first() or 0) + 1
    step = SequenceStep(sequence=sequence, position=position,
                        **_step_fields(text=text, delay=delay, image_url=image_url, window_start=window_start,
                                       window_end=window_end, position=position,
                                       whatsapp_template=whatsapp_template))
    step.full_clean()
    step.save()
    return step


def enrollment_create(*, sequence_id: int, contact_id: int, trigger: str, trigger_ref: str = "",
                      enrolled_by: Any = None, check_audience: bool = True,
                      now: datetime | None = None) -> Enrollment | None:
    """Enroll a contact and queue every step as an ``OutboundMessage`` (due times from the delays).

    Returns None (nothing done) when the sequence is inactive, the contact is outside its audience,
    already active in it, or has no usable channel. Idempotent per ``(sequence, contact, trigger_ref)``.
    A merged or erased contact is a 404.
    """
    now = now or timezone.now()
    with transaction.atomic():
        sequence = Sequence.objects.filter(pk=sequence_id).first()
        if sequence is None:
            raise NotFoundError(f"No sequence #{sequence_id}.")
        contact = contact_live_get(contact_id)
        if contact is None:
            raise NotFoundError(f"No contact #{contact_id}.")
        if not sequence.is_active:
            return None
        if Enrollment.objects.filter(sequence=sequence, contact=contact, state=Enrollment.State.ACTIVE).exists():
            return None
        if Enrollment.objects.filter(sequence=sequence, contact=contact, trigger_ref=trigger_ref).exists():
            return None
        if (check_audience and sequence.audience
                and not contacts_audience(sequence.audience).filter(pk=contact.pk).exists()):
            return None
        channel = channel_choose(contact, sequence.channels)
        if channel is None:
            return None
        try:
            with transaction.atomic():
                enrollment = Enrollment.objects.create(sequence=sequence, contact=contact, trigger=trigger[:40],
                                                       trigger_ref=trigger_ref[:100],
                                                       enrolled_by=enrolled_by if getattr(enrolled_by, "pk", None)
                                                       else None)
        except IntegrityError:
            return None
        due = now
        recipient = contact_recipient(contact, channel)
        for step in sequence.steps.select_related("whatsapp_template").order_by("position"):
            due = due + step.delay
            outbound_enqueue_with_template(
                template=step.whatsapp_template, parameters=contact_parameters(contact),
                idempotency_key=f"seq:{enrollment.pk}:{step.position}", channel=channel, recipient=recipient,
                text=render_text(step.text, contact), contact_id=contact.pk, due_at=due, image_url=step.image_url,
                window=(step.window_start, step.window_end), enrollment_id=enrollment.pk, step_id=step.pk)
    return enrollment


def enrollment_stop(*, enrollment_id: int, reason: str) -> Enrollment:
    """Stop one enrollment and cancel its queued messages. Idempotent (the row is locked)."""
    with transaction.atomic():
        enrollment = Enrollment.objects.select_for_update().filter(pk=enrollment_id).first()
        if enrollment is None:
            raise NotFoundError(f"No enrollment #{enrollment_id}.")
        if enrollment.state == Enrollment.State.ACTIVE:
            enrollment.state, enrollment.stopped_reason, enrollment.ended_at = (
                Enrollment.State.STOPPED, reason[:100], timezone.now())
            enrollment.save(update_fields=["state", "stopped_reason", "ended_at"])
            OutboundMessage.objects.filter(enrollment=enrollment, state=State.SCHEDULED).update(
                state=State.CANCELLED, reason=f"sequence stopped: {reason}"[:200], claim_token="",
                claimed_until=None, updated_at=timezone.now())
    return enrollment


def enrollments_stop_for_contact(*, contact_id: int, reason: str, on_order: bool = False, on_reply: bool = False,
                                 keep_purposes: Iterable[str] = ()) -> int:
    """Stop the contact's active enrollments whose stop conditions match ``reason``. Returns how many.

    ``on_order`` / ``on_reply`` stop only sequences with that stop condition; sequences of
    ``keep_purposes`` keep running.
    """
    qs = Enrollment.objects.filter(contact_id=contact_id, state=Enrollment.State.ACTIVE)
    if on_order:
        qs = qs.filter(sequence__stop_on_order=True)
    if on_reply:
        qs = qs.filter(sequence__stop_on_reply=True)
    qs = qs.exclude(sequence__purpose__in=list(keep_purposes))
    ids = list(qs.values_list("id", flat=True))
    for enrollment_id in ids:
        enrollment_stop(enrollment_id=enrollment_id, reason=reason)
    return len(ids)


def enrollments_complete(*, now: datetime | None = None) -> int:
    """Mark active enrollments without any pending message as completed. Returns how many."""
    pending = OutboundMessage.objects.filter(enrollment__isnull=False, state__in=[State.SCHEDULED, State.SENDING])
    active = Enrollment.objects.filter(state=Enrollment.State.ACTIVE).exclude(
        pk__in=pending.values("enrollment_id"))
    return active.update(state=Enrollment.State.COMPLETED, ended_at=now or timezone.now())
