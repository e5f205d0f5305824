"""The outbox: queueing ``OutboundMessage`` rows, cancelling them, and giving a failed one another try.

Every message on every channel is a row here; only the dispatcher (``services.dispatch``) sends.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from datetime import time as dtime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from api.common.errors import ConflictError, NotFoundError
from api.common.kicks import task_kick_on_commit
from api.contacts.enums import Channel
from api.contacts.registry import ERASED_TEXT
from api.nurture.models import NurtureProfile, OutboundMessage

State = OutboundMessage.State
Category = OutboundMessage.Category

# The Celery task that sends due rows (workers/tasks/nurture.py); named, not imported (api never
# imports workers).
DISPATCH_TASK = "workers.tasks.nurture.outbound_dispatch"
# A message due within this delay is worth a kick now; later ones are found by beat's next tick.
KICK_IF_DUE_WITHIN = timedelta(seconds=5)


def outbound_dispatch_kick() -> None:
    """Ask a worker to run the dispatcher once the current transaction commits.

    Switched off by ``NURTURE_KICK_DISPATCHER = False`` (tests and benchmarks run the dispatcher
    themselves); without a broker, beat's next tick finds the rows anyway.
    """
    task_kick_on_commit(DISPATCH_TASK, switch="NURTURE_KICK_DISPATCHER")


def outbound_enqueue(*, idempotency_key: str, channel: str, recipient: str, text: str,
                     contact_id: int | None = None, category: str = Category.MARKETING,
                     due_at: datetime | None = None, image_url: str = "", reply_markup: dict | None = None,
                     window: tuple[dtime | None, dtime | None] = (None, None), enrollment_id: int | None = None,
                     step_id: int | None = None, broadcast_id: int | None = None) -> OutboundMessage:
    """Queue one message, once per ``idempotency_key`` (a second call returns the first row).

    The dispatcher is kicked after commit when the message is due now; without a broker, beat's
    next tick finds the row.
    """
    defaults = {"contact_id": contact_id, "channel": channel, "recipient": recipient, "text": text,
                "category": category, "due_at": due_at or timezone.now(), "image_url": image_url,
                "reply_markup": reply_markup, "window_start": window[0], "window_end": window[1],
                "enrollment_id": enrollment_id, "step_id": step_id, "broadcast_id": broadcast_id}
    try:
        with transaction.atomic():
            message, created = OutboundMessage.objects.get_or_create(idempotency_key=idempotency_key[:120],
                                                                     defaults=defaults)
    except IntegrityError:  # a simultaneous call queued it first
        message, created = OutboundMessage.objects.get(idempotency_key=idempotency_key[:120]), False
    if created and message.due_at <= timezone.now() + KICK_IF_DUE_WITHIN:
        outbound_dispatch_kick()
    return message


def staff_notify(*, key: str, text: str, image_url: str = "") -> OutboundMessage | None:
    """Tell staff in the configured Telegram chat (once per ``key``); a no-op when no chat is configured.

    With ``image_url`` the text goes as the picture's caption (Telegram caps captions at 1024 characters).
    """
    chat = str(settings.TELEGRAM_STAFF_CHAT_ID or "")
    if not chat:
        return None
    return outbound_enqueue(idempotency_key=f"staff:{key}", channel=Channel.TELEGRAM, recipient=chat,
                            text=text[:1024] if image_url else text[:4000], image_url=image_url,
                            category=Category.STAFF)


def outbound_cancel_for_identity(*, channel: str, recipient: str, reason: str) -> int:
    """Cancel every pending message to this identity (it became unreachable). Returns how many.

    Staff notifications are kept: the staff chat is not a contact's identity.
    """
    return (OutboundMessage.objects.filter(channel=channel, recipient=recipient, state=State.SCHEDULED)
            .exclude(category=Category.STAFF).update(state=State.CANCELLED, reason=reason[:200],
                                                     claim_token="", claimed_until=None,
                                                     updated_at=timezone.now()))


def outbound_retry(*, message_id: int) -> OutboundMessage:
    """Staff decided to send a failed message again (e.g. an ``unknown_outcome`` they checked).

    Only a ``failed`` row moves back to ``scheduled`` (guarded update); anything else is a 409.
    """
    updated = OutboundMessage.objects.filter(pk=message_id, state=State.FAILED).update(
        state=State.SCHEDULED, due_at=timezone.now(), reason="retried by staff", claim_token="",
        claimed_until=None, updated_at=timezone.now())
    message = OutboundMessage.objects.filter(pk=message_id).first()
    if message is None:
        raise NotFoundError(f"No outbound message #{message_id}.")
    if not updated:
        raise ConflictError(f"Only a failed message can be retried; this one is {message.state}.",
                            code="invalid_state")
    outbound_dispatch_kick()
    return message


def contact_messages_erase(contact_id: int) -> None:
    """Erase (the contacts app's eraser for nurture): drop the texts sent to the person, cancel what is queued.

    Registered in ``apps.py`` with ``register_contact_relation``; called inside the erase transaction.
    """
    OutboundMessage.objects.filter(contact_id=contact_id, state=State.SCHEDULED).update(
        state=State.CANCELLED, reason="erased", claim_token="", claimed_until=None)
    OutboundMessage.objects.filter(contact_id=contact_id).update(text=ERASED_TEXT, recipient="", reply_markup=None)
    NurtureProfile.objects.filter(contact_id=contact_id).delete()
