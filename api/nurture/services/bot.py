"""The Telegram bot: updates stored once per ``update_id`` and applied once, from a webhook or by polling.

``/start [code]`` makes a contact with consent, a touchpoint and the introduction or campaign
sequence; STOP first offers "monthly only", a second STOP opts out; inline buttons answer "how did
you hear of us" and the STOP offer; any other text is an inbound touch copied to staff; a blocked
bot makes the chat unreachable.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from api.campaigns.enums import TouchpointKind
from api.campaigns.services import touchpoint_record
from api.common.errors import ApplicationError, field_error
from api.contacts.enums import Channel
from api.contacts.selectors import contact_id_by_telegram_chat
from api.contacts.services import (
    consent_grant,
    consent_revoke,
    contact_event_record,
    contact_mark_unreachable,
    contact_upsert,
)
from api.nurture import senders
from api.nurture.enums import Purpose
from api.nurture.models import Cursor, NurtureProfile, OutboundMessage, Sequence, TelegramUpdate
from api.nurture.services.channels import render_text
from api.nurture.services.outbox import outbound_cancel_for_identity, outbound_enqueue, staff_notify
from api.nurture.services.scoring import lead_score_record, nurture_profile_get
from api.nurture.services.sequences import enrollment_create, enrollments_stop_for_contact
from integrations.telegram import Update, inline_keyboard, parse_update

logger = logging.getLogger(__name__)

State = OutboundMessage.State
Category = OutboundMessage.Category

# Answers to "Comment nous avez-vous connus ?": callback key -> self-reported source.
SOURCE_CHOICES: list[tuple[str, str]] = [
    ("facebook", "Facebook"),
    ("whatsapp", "WhatsApp"),
    ("friend", "Un ami / bouche-à-oreille"),
    ("tasting", "Une dégustation"),
    ("fair", "Un salon / une foire"),
    ("reseller", "Un revendeur"),
    ("other", "Autre"),
]
INTRO_TEXT = ("Bonjour {first_name} ! Bienvenue chez Confiotes 🍹 : sirops, liqueurs et coffrets "
              "faits au Cameroun. Écrivez-nous ici à tout moment ; tapez STOP pour ne plus recevoir de messages.")
SOURCE_QUESTION = "Comment nous avez-vous connus ?"
STOP_OFFER = ("Vous souhaitez moins de messages ? Nous pouvons vous écrire seulement une fois par mois, "
              "ou plus du tout.")
STOP_CONFIRM = "C'est noté : vous ne recevrez plus de messages de Confiotes ici. Tapez /start pour revenir."
MONTHLY_CONFIRM = "C'est noté : vous ne recevrez plus qu'un message par mois."
# A refusal is kept with this prefix: it will not change on a retry, so ``telegram_updates_retry`` skips it.
REFUSED_PREFIX = "refused:"
TELEGRAM_OFFSET_CURSOR = "telegram_offset"


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
        if update.kind == "message" and update.chat_id is not None and update.chat_type in (None, "private"):
            if update.is_start:
                _bot_start(update)
            elif update.is_stop:
                _bot_stop(update)
            elif update.text:
                _bot_inbound(update)
        elif update.kind == "callback_query" and update.chat_id is not None:
            _bot_callback(update)
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


# --- what each kind of update does ------------------------------------------------------------------------


def _tg_contact(update: Update, **extra: Any) -> Any:
    """Upsert the contact of the update's chat (``contact_upsert``'s result: ``.contact``, ``.created``)."""
    user = update.user
    names: dict[str, Any] = {}
    if contact_id_by_telegram_chat(str(update.chat_id)) is None:
        # Names come from Telegram only for a new contact: a name staff or the person gave later wins.
        names = {"first_name": (user.first_name if user else None) or None,
                 "last_name": (user.last_name if user else None) or None}
    return contact_upsert(telegram_chat_id=str(update.chat_id),
                          telegram_username=(user.username if user else None) or None, **names, **extra)


def _reply(update: Update, contact: Any, suffix: str, text: str, reply_markup: dict | None = None) -> None:
    """Queue a service reply in the update's chat, once per update and ``suffix``."""
    outbound_enqueue(idempotency_key=f"tg:{update.update_id}:{suffix}", channel=Channel.TELEGRAM,
                     recipient=str(update.chat_id), text=text, contact_id=contact.pk, category=Category.SERVICE,
                     reply_markup=reply_markup)


def _bot_start(update: Update) -> None:
    """``/start [code]``: contact, consent, bot-start touchpoint, intro, "how did you hear of us", enrollments."""
    code = (update.start_payload or "").strip().upper()
    known = contact_id_by_telegram_chat(str(update.chat_id)) is not None
    result = _tg_contact(update, **({} if known else {"acquisition_channel": Channel.TELEGRAM}))
    contact = result.contact
    consent_grant(contact_id=contact.pk, channel=Channel.TELEGRAM, how="bot /start")
    touchpoint_record(contact_id=contact.pk, channel=Channel.TELEGRAM, kind=TouchpointKind.BOT_START,
                      campaign_code=code or None, provider_event_id=f"tg:{update.update_id}",
                      details={"payload": update.start_payload or ""})
    profile = nurture_profile_get(contact.pk)
    if profile.stop_offered_at:  # coming back with /start ends a pending STOP
        NurtureProfile.objects.filter(pk=profile.pk).update(stop_offered_at=None)
    _reply(update, contact, "intro", render_text(INTRO_TEXT, contact))
    if not contact.self_reported_source:
        rows = [[(label, f"src:{key}")] for key, label in SOURCE_CHOICES]
        _reply(update, contact, "source", SOURCE_QUESTION, inline_keyboard(rows))
    lead_score_record(contact_id=contact.pk, kind="bot_start", ref=f"tg:{update.update_id}")
    if result.created:
        staff_notify(key=f"new_lead:{contact.pk}",
                     text=f"🆕 Nouveau prospect Telegram : {contact.display_name}"
                          f"{' @' + contact.telegram_username if contact.telegram_username else ''} (#{contact.pk})"
                          f"{', campagne ' + code if code else ''}.")
    sequences = list(Sequence.objects.filter(purpose=Purpose.CAMPAIGN, campaign_code=code, is_active=True)) if code \
        else []
    if not sequences and result.created:
        sequences = list(Sequence.objects.filter(purpose=Purpose.INTRODUCTION, is_active=True))
    for sequence in sequences:
        enrollment_create(sequence_id=sequence.pk, contact_id=contact.pk,
                          trigger="bot_start" if code else "new_contact")


def _stop_buttons() -> dict[str, Any]:
    return inline_keyboard([[("Un message par mois", "freq:monthly")], [("Ne plus rien recevoir", "stop:all")]])


def _bot_stop(update: Update) -> None:
    """STOP: first offer "monthly only" (marketing is held meanwhile); a second STOP opts out at once."""
    contact = _tg_contact(update).contact
    profile = nurture_profile_get(contact.pk)
    if profile.stop_offered_at is None:
        NurtureProfile.objects.filter(pk=profile.pk).update(stop_offered_at=timezone.now())
        contact_event_record(contact_id=contact.pk, kind="stop_requested",
                             summary="A demandé STOP sur Telegram : moins de messages proposé", data={})
        _reply(update, contact, "stop-offer", STOP_OFFER, _stop_buttons())
    else:
        _opt_out_telegram(update, contact)


def _opt_out_telegram(update: Update, contact: Any) -> None:
    """Revoke Telegram consent, stop every sequence, cancel queued marketing, confirm."""
    consent_revoke(contact_id=contact.pk, channel=Channel.TELEGRAM, how="bot STOP")
    enrollments_stop_for_contact(contact_id=contact.pk, reason="opted_out")
    OutboundMessage.objects.filter(contact_id=contact.pk, channel=Channel.TELEGRAM, state=State.SCHEDULED,
                                   category=Category.MARKETING).update(state=State.CANCELLED, reason="opted_out",
                                                                       claim_token="", claimed_until=None)
    NurtureProfile.objects.filter(contact_id=contact.pk).update(stop_offered_at=None)
    _reply(update, contact, "stop-confirm", STOP_CONFIRM)


def _answer_callback_after_commit(query_id: str) -> None:
    """Answer the button press once the update's changes are committed (Telegram shows a spinner until then)."""

    def answer() -> None:
        try:
            senders.telegram_client().answer_callback_query(query_id)
        except Exception:  # a late or failed answer only leaves a spinner on the button
            logger.info("answerCallbackQuery failed", exc_info=True)

    transaction.on_commit(answer)


def _bot_callback(update: Update) -> None:
    """Inline buttons: the self-reported source, or the answer to the STOP offer."""
    data = update.callback_data or ""
    contact = _tg_contact(update).contact
    if update.callback_query_id:
        _answer_callback_after_commit(update.callback_query_id)
    if data.startswith("src:"):
        label = dict(SOURCE_CHOICES).get(data[4:])
        if label is None:
            return
        contact_upsert(telegram_chat_id=str(update.chat_id), self_reported_source=label, create=False)
        touchpoint_record(contact_id=contact.pk, channel=Channel.TELEGRAM, kind=TouchpointKind.SELF_REPORTED_SOURCE,
                          provider_event_id=f"tg:{update.update_id}", details={"source": label})
        lead_score_record(contact_id=contact.pk, kind="self_reported_source", ref=f"tg:{update.update_id}")
        _reply(update, contact, "source-thanks", "Merci ! 🙏")
    elif data == "freq:monthly":
        NurtureProfile.objects.filter(contact_id=contact.pk).update(
            frequency=NurtureProfile.Frequency.MONTHLY, stop_offered_at=None)
        enrollments_stop_for_contact(contact_id=contact.pk, reason="monthly_only", keep_purposes=[Purpose.MONTHLY])
        contact_event_record(contact_id=contact.pk, kind="frequency_changed",
                             summary="Ne veut plus qu'un message par mois (Telegram)", data={})
        _reply(update, contact, "monthly-confirm", MONTHLY_CONFIRM)
    elif data == "stop:all":
        _opt_out_telegram(update, contact)


def _bot_inbound(update: Update) -> None:
    """Any other text: an inbound touchpoint, a reply stop condition, points, and a copy to staff."""
    contact = _tg_contact(update).contact
    touchpoint_record(contact_id=contact.pk, channel=Channel.TELEGRAM, kind=TouchpointKind.INBOUND_MESSAGE,
                      provider_event_id=f"tg:{update.update_id}", details={"text": (update.text or "")[:500]})
    enrollments_stop_for_contact(contact_id=contact.pk, reason="replied", on_reply=True)
    lead_score_record(contact_id=contact.pk, kind="inbound_message", ref=f"tg:{update.update_id}")
    who = contact.display_name + (f" @{contact.telegram_username}" if contact.telegram_username else "")
    staff_notify(key=f"inbound:{update.update_id}", text=f"💬 {who} (#{contact.pk}) : {update.text}")


def _bot_blocked(update: Update) -> None:
    """The person blocked the bot: the identity is unreachable and its pending messages are cancelled."""
    contact_id = contact_id_by_telegram_chat(str(update.chat_id))
    outbound_cancel_for_identity(channel=Channel.TELEGRAM, recipient=str(update.chat_id), reason="unreachable")
    if contact_id is not None:
        contact_mark_unreachable(contact_id=contact_id, channel=Channel.TELEGRAM, reason="blocked")
