"""The Telegram bot: updates stored once per ``update_id`` and applied once, from a webhook or by polling.

Telegram's adapter to the inbound pipeline (``services.inbound``): a private message (``/start [code]``,
STOP, any text) and a tapped inline button become an ``Inbound`` handled like a WhatsApp or Messenger
message; only what is Telegram's own stays here: storing updates, retrying them, polling, answering a
button press, and a blocked bot making the chat unreachable. Updates from the staff chat
(``TELEGRAM_STAFF_CHAT_ID``) are staff, never customers: a reply there to a forwarded question answers
the person (``services.inbox.staff_chat_reply``), anything else is ignored.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from api.campaigns.enums import TouchpointKind
from api.campaigns.selectors import campaign_resolve_code
from api.common.errors import ApplicationError, field_error
from api.contacts.enums import Channel
from api.contacts.selectors import contact_id_by_telegram_chat
from api.contacts.services import contact_mark_unreachable
from api.nurture import senders
from api.nurture.models import Cursor, InboundMessage, TelegramUpdate
from api.nurture.services.inbound import (
    INTRO_TEXT,
    MONTHLY_CHOICE,
    MONTHLY_CONFIRM,
    MONTHLY_LABEL,
    SOURCE_CHOICES,
    SOURCE_PREFIX,
    SOURCE_QUESTION,
    STOP_CONFIRM,
    Inbound,
    inbound_receive,
)
from api.nurture.services.inbox import staff_chat_reply
from api.nurture.services.outbox import outbound_cancel_for_identity
from integrations.telegram import Update, parse_update

logger = logging.getLogger(__name__)

Kind = InboundMessage.Kind

# Re-exported: the texts of the bot are the pipeline's, the same on every channel.
__all__ = ["INTRO_TEXT", "MONTHLY_CONFIRM", "SOURCE_CHOICES", "SOURCE_QUESTION", "STOP_CONFIRM",
           "telegram_poll_once", "telegram_update_failed", "telegram_update_process", "telegram_update_receive",
           "telegram_update_refused", "telegram_updates_retry"]

# A refusal is kept with this prefix: it will not change on a retry, so ``telegram_updates_retry`` skips it.
REFUSED_PREFIX = "refused:"
TELEGRAM_OFFSET_CURSOR = "telegram_offset"
# Titles of the buttons the bot sent, to keep a tap's text readable (a callback carries only the id).
_BUTTON_TITLES = {**{f"{SOURCE_PREFIX}{key}": label for key, label in SOURCE_CHOICES},
                  MONTHLY_CHOICE: MONTHLY_LABEL, "stop:all": "Ne plus rien recevoir"}


# --- updates: stored once, applied once ----------------------------------------------------------------


def telegram_update_receive(*, payload: dict[str, Any]) -> TelegramUpdate:
    """Store an update (webhook or polling) once per ``update_id`` and process it if not done yet.

    A payload without an integer ``update_id`` is a 400 ``invalid_update``.
    """
    try:
        update = parse_update(payload)
    except ValueError as exc:
        raise ApplicationError(str(exc), code="invalid_update",
                               errors=[field_error("update_id", "An integer update_id is required.")]) from None
    row, _ = TelegramUpdate.objects.get_or_create(
        update_id=update.update_id,
        defaults={"kind": update.kind, "chat_id": str(update.chat_id or ""), "payload": payload})
    if row.processed_at is None:
        telegram_update_process(update_id=update.update_id)
        row.refresh_from_db()
    return row


def telegram_update_process(*, update_id: int) -> bool:
    """Apply one stored update, exactly once: row lock + ``processed_at`` in the same transaction.

    Returns False when it was already processed. An exception rolls everything back (the update
    stays unprocessed and a redelivery of the webhook, or ``telegram_updates_retry``, tries again).
    """
    with transaction.atomic():
        row = TelegramUpdate.objects.select_for_update().filter(update_id=update_id).first()
        if row is None or row.processed_at is not None:
            return False
        update = parse_update(row.payload)
        if _in_staff_chat(update):
            _staff_chat_update(update)  # staff, never a customer: whatever they write or tap there
        elif update.kind == "message" and update.chat_id is not None and update.chat_type in (None, "private"):
            if update.text:
                inbound_receive(_message_inbound(update))
        elif update.kind == "callback_query" and update.chat_id is not None:
            if update.callback_query_id:
                _answer_callback_after_commit(update.callback_query_id)
            inbound_receive(_callback_inbound(update))
        elif update.kind == "my_chat_member" and update.chat_id is not None and update.blocked:
            _bot_blocked(update)
        row.processed_at = timezone.now()
        row.save(update_fields=["processed_at"])
    return True


def telegram_update_refused(*, update_id: int, error: ApplicationError) -> None:
    """Keep a business refusal (e.g. an identity conflict) on the stored update, for staff.

    It will not change on redelivery, so the update is not retried (``telegram_updates_retry``).
    """
    TelegramUpdate.objects.filter(update_id=update_id).update(
        error=f"{REFUSED_PREFIX} {error.code}: {error.message}"[:300])


def telegram_update_failed(*, update_id: int, error: BaseException) -> None:
    """Record an unexpected error on the stored update; it stays unprocessed, to be retried."""
    TelegramUpdate.objects.filter(update_id=update_id).update(error=error.__class__.__name__)


def telegram_updates_retry(*, now: datetime | None = None, limit: int = 100) -> int:
    """Process again stored updates that failed on an unexpected error (not a business refusal).

    Telegram redelivers a webhook that answered 500, but gives up after a while; polling refetches
    only until the offset moves. Rows older than a minute and younger than a day are retried here.
    Returns how many were processed.
    """
    now = now or timezone.now()
    rows = (TelegramUpdate.objects.filter(processed_at__isnull=True, received_at__lt=now - timedelta(minutes=1),
                                          received_at__gt=now - timedelta(days=1))
            .exclude(error__startswith=REFUSED_PREFIX).order_by("update_id")
            .values_list("update_id", flat=True)[:limit])
    done = 0
    for update_id in list(rows):
        try:
            done += telegram_update_process(update_id=update_id)
        except ApplicationError as exc:
            telegram_update_refused(update_id=update_id, error=exc)
        except Exception as exc:  # keep going with the others; the row says what happened
            logger.exception("telegram update %s failed again", update_id)
            telegram_update_failed(update_id=update_id, error=exc)
    return done


def telegram_poll_once(*, client: Any, timeout: int = 25) -> int:
    """One ``getUpdates`` round: process each update, then move the stored offset past it.

    The offset is a ``Cursor`` row; an update processed but not yet confirmed is fetched again after
    a crash and skipped by its ``update_id``. Returns how many updates came.
    """
    cursor = Cursor.objects.filter(name=TELEGRAM_OFFSET_CURSOR).first()
    offset = cursor.value if cursor and cursor.value else None
    updates = client.get_updates(offset=offset, timeout=timeout)
    for update in updates:
        telegram_update_receive(payload=update.raw)
        Cursor.objects.update_or_create(name=TELEGRAM_OFFSET_CURSOR, defaults={"value": update.update_id + 1})
    return len(updates)


# --- the staff chat: replies to forwarded questions ----------------------------------------------------------


def _in_staff_chat(update: Update) -> bool:
    """Whether the update comes from the staff chat (``TELEGRAM_STAFF_CHAT_ID``), a group or a private chat."""
    staff_chat = str(settings.TELEGRAM_STAFF_CHAT_ID or "")
    return bool(staff_chat) and update.chat_id is not None and str(update.chat_id) == staff_chat


def _staff_chat_update(update: Update) -> None:
    """A message in the staff chat: a reply (Telegram's reply-to) to a forwarded question answers the person
    (``services.inbox.staff_chat_reply``); anything else there is staff talking among themselves."""
    raw: dict[str, Any] = update.raw or {}
    message: dict[str, Any] = raw["message"] if isinstance(raw.get("message"), dict) else {}
    replied: dict[str, Any] = message["reply_to_message"] if isinstance(message.get("reply_to_message"), dict) else {}
    replied_id = replied.get("message_id")
    if update.kind != "message" or not isinstance(replied_id, int) or isinstance(replied_id, bool):
        return
    user = update.user
    author = " ".join(x for x in ((user.first_name if user else None), (user.last_name if user else None)) if x)
    staff_chat_reply(reply_to_message_id=replied_id, text=update.text or "", update_id=update.update_id,
                     author=author)


# --- Telegram updates as inbound messages ------------------------------------------------------------------


def _base(update: Update, *, when: datetime | None = None, **fields: Any) -> Inbound:
    """The parts of an ``Inbound`` every Telegram update shares (identity, keys, the person's time)."""
    user = update.user
    return Inbound(
        channel=Channel.TELEGRAM, sender=str(update.chat_id), provider_message_id=str(update.update_id),
        event_key=f"tg:{update.update_id}", occurred_at=when or timezone.now(),
        identity={"telegram_chat_id": str(update.chat_id)},
        updates={"telegram_username": (user.username if user else None) or None},
        # Names come from Telegram only for a new contact: a name staff or the person gave later wins.
        new_contact={"first_name": (user.first_name if user else None) or None,
                     "last_name": (user.last_name if user else None) or None,
                     "acquisition_channel": Channel.TELEGRAM},
        **fields)


def _message_inbound(update: Update) -> Inbound:
    """A private text message: ``/start [code]`` (a campaign code, or a friend's referral code), or words."""
    when = datetime.fromtimestamp(update.date, tz=UTC) if update.date else None
    if not update.is_start:
        return _base(update, when=when, kind=Kind.TEXT, text=update.text or "")
    payload = (update.start_payload or "").strip()
    code = payload.upper()
    campaign = campaign_resolve_code(code) if code else None
    # ``consent_how`` is read by staff beside the channel's name ("Accepte les messages sur Telegram (a démarré
    # le bot)"), like inbound's "a écrit en premier".
    return _base(update, when=when, kind=Kind.START, text=update.text or "", payload=payload,
                 touch_kind=TouchpointKind.BOT_START, campaign_code=code or None,
                 touch_details={"payload": payload}, start_code=code,
                 referral_codes=(payload,) if payload and campaign is None else (),
                 referral_via="telegram_start", consent_how="a démarré le bot")


def _callback_inbound(update: Update) -> Inbound:
    """A tapped inline button. Telegram does not date a tap: the time it reached us stands for it."""
    data = update.callback_data or ""
    return _base(update, kind=Kind.BUTTON, text=_BUTTON_TITLES.get(data, data), payload=data)


def _answer_callback_after_commit(query_id: str) -> None:
    """Answer the button press once the update's changes are committed (Telegram shows a spinner until then)."""

    def answer() -> None:
        try:
            senders.telegram_client().answer_callback_query(query_id)
        except Exception:  # a late or failed answer only leaves a spinner on the button
            logger.info("answerCallbackQuery failed", exc_info=True)

    transaction.on_commit(answer)


def _bot_blocked(update: Update) -> None:
    """The person blocked the bot: the identity is unreachable and its pending messages are cancelled."""
    contact_id = contact_id_by_telegram_chat(str(update.chat_id))
    outbound_cancel_for_identity(channel=Channel.TELEGRAM, recipient=str(update.chat_id), reason="unreachable")
    if contact_id is not None:
        contact_mark_unreachable(contact_id=contact_id, channel=Channel.TELEGRAM, reason="blocked")
