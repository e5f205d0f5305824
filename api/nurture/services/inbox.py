"""The staff inbox: one conversation per person across channels, answered from the API or the staff chat.

What the person wrote is in ``InboundMessage`` rows (the inbound pipeline); what staff did with it is a
``Conversation`` row (owner, open or done, read and answered marks as inbound ids). The inbox's figures
(unread, waiting since) are derived from the messages in ``selectors``; this module writes:

- ``conversation_inbound_record``: called by the inbound pipeline for every stored message, in its
  transaction: the conversation exists, and a new message reopens a conversation marked done;
- ``conversation_reply``: staff answer on the channel the person last wrote from (or one they choose).
  The reply is an ``OutboundMessage`` of category SERVICE queued through ``outbound_enqueue`` (outbox,
  limiter, at most once): its idempotency key is ``inbox:<contact>:<client key>``, so a double tap with
  the same ``Idempotency-Key`` queues one message. Outside WhatsApp's 24-hour window only an approved
  template may go (``templates``), filled like every contact message; Messenger outside its window is
  refused (the Page may not write first);
- ``conversation_assign`` / ``conversation_done`` / ``conversation_mark_read``;
- ``staff_chat_reply``: a staff member answers a forwarded question in the Telegram staff chat with
  Telegram's reply-to; the staff copy's idempotency key (``staff:inbound:<InboundMessage id>``) names
  the message, the reply goes to the person on the channel they wrote from;
- ``staff_message_deliver``: the deliverer of ``api.common.staff_messages`` (other apps' staff messages
  go through the outbox as STAFF rows).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from api.campaigns.selectors import messaging_window_until
from api.common.errors import ApplicationError, NotFoundError, field_error
from api.common.staff_messages import StaffMessage
from api.contacts.enums import Channel
from api.contacts.selectors import contact_id_resolve, contact_live_get
from api.nurture.models import Conversation, InboundMessage, OutboundMessage
from api.nurture.services.channels import CHANNEL_LABELS, SUPPORTED_CHANNELS, contact_recipient
from api.nurture.services.outbox import staff_notify
from api.nurture.services.templates import (
    CONTACT_PARAMETERS,
    contact_parameters,
    outbound_enqueue_with_template,
    template_message_fields,
    whatsapp_template_choose,
)

logger = logging.getLogger(__name__)

State = Conversation.State
Category = OutboundMessage.Category

# The longest reply accepted: Messenger's text limit (Telegram and WhatsApp take 4,096).
REPLY_MAX_CHARS = 2000
# What a client may send as its key (a UUID, a ULID, a counter...): short and plain, so it fits the outbox key.
CLIENT_KEY_RE = re.compile(r"[A-Za-z0-9_.:-]{1,80}")
STAFF_INBOUND_PREFIX = "staff:inbound:"


def _invalid(field: str, message: str, code: str = "invalid") -> ApplicationError:
    return ApplicationError(f"The reply cannot be sent: {message}", code="validation_error",
                            errors=[field_error(field, message, code)])


def _last_inbound_id(contact_id: int) -> int:
    return InboundMessage.objects.filter(contact_id=contact_id).aggregate(m=Max("id"))["m"] or 0


def _conversation_lock(contact_id: int, *, create: bool = False) -> Conversation | None:
    """The contact's conversation, row-locked (call inside a transaction), None when there is none.

    A merge may have moved a second row to this contact: the oldest is kept, the others folded into
    it (the later marks win, an open state wins, the first owner found stays) and deleted.
    """
    rows = list(Conversation.objects.select_for_update().filter(contact_id=contact_id).order_by("id"))
    if not rows:
        if not create:
            return None
        return Conversation.objects.create(contact_id=contact_id)
    kept, others = rows[0], rows[1:]
    if others:
        kept.owner_id = kept.owner_id or next((r.owner_id for r in others if r.owner_id), None)
        kept.last_read_inbound_id = max(r.last_read_inbound_id for r in rows)
        if any(r.state == State.OPEN for r in rows):
            kept.state, kept.done_at = State.OPEN, None
            # Open on either side: what one side had answered is not the answer to the other's messages.
            kept.answered_inbound_id = min(r.answered_inbound_id for r in rows if r.state == State.OPEN)
        else:
            kept.answered_inbound_id = max(r.answered_inbound_id for r in rows)
        kept.save()
        Conversation.objects.filter(pk__in=[r.pk for r in others]).delete()
    return kept


def conversation_inbound_record(*, row: InboundMessage) -> None:
    """The inbound pipeline stored ``row``: its contact has a conversation, reopened if it was done.

    Runs in the pipeline's transaction (the message and its conversation commit together).
    """
    if row.contact_id is None:
        return
    conversation = _conversation_lock(row.contact_id, create=True)
    if conversation is not None and conversation.state == State.DONE:
        conversation.state, conversation.done_at = State.OPEN, None
        conversation.save(update_fields=["state", "done_at", "updated_at"])


def _contact(contact_id: int) -> Any:
    contact = contact_live_get(contact_id)
    if contact is None or not Conversation.objects.filter(contact_id=contact_id).exists():
        raise NotFoundError(f"No conversation with contact #{contact_id}.")
    return contact


def _last_channel(contact_id: int) -> str:
    last = (InboundMessage.objects.filter(contact_id=contact_id, channel__in=SUPPORTED_CHANNELS)
            .order_by("-occurred_at", "-id").values_list("channel", flat=True).first())
    return last or ""


def _recipient(contact: Any, channel: str) -> str:
    """The person's identity on ``channel``: the contact's, else the one they last wrote from there."""
    recipient = contact_recipient(contact, channel)
    if recipient:
        return recipient
    return (InboundMessage.objects.filter(contact_id=contact.pk, channel=channel).exclude(sender="")
            .order_by("-occurred_at", "-id").values_list("sender", flat=True).first()) or ""


def _template_text(template: Any, parameters: list[str]) -> str:
    """The template's body with its variables filled: what the reply says, kept on the message row."""
    body = next((c.get("text", "") for c in template.components or [] if str(c.get("type", "")).upper() == "BODY"),
                "") or template.name
    values = template_message_fields(template, parameters).get("template_parameters") or []
    for index, value in enumerate(values, start=1):
        body = re.sub(rf"\{{\{{\s*{index}\s*\}}\}}", lambda _m, v=value: v, body)
    return body


def reply_key(contact_id: int, client_key: str) -> str:
    """The outbox idempotency key of a staff reply: one message per contact and client key."""
    return f"inbox:{contact_id}:{client_key}"


def conversation_reply(*, contact_id: int, text: str = "", client_key: str, channel: str | None = None,
                       template_id: int | None = None, staff: Any = None) -> tuple[OutboundMessage, bool]:
    """Queue a staff reply to the person; returns the message and whether it was queued by this call.

    ``channel`` defaults to the one the person last wrote from. Inside the channel's window ``text``
    goes as written. Outside WhatsApp's 24-hour window ``template_id`` (an approved template, variables
    filled from the contact) is required, else a 400 naming ``template``; outside Messenger's window a
    400 naming ``channel``. A second call with the same ``client_key`` returns the first message and
    queues nothing (whatever else it says). The reply marks the conversation read and answered, and
    makes the replying staff member its owner when it had none.
    """
    if not CLIENT_KEY_RE.fullmatch(client_key or ""):
        raise _invalid("idempotency_key", "Give 1 to 80 letters, digits or _ . : - as the Idempotency-Key.")
    contact = _contact(contact_id)
    key = reply_key(contact.pk, client_key)
    known = OutboundMessage.objects.filter(idempotency_key=key).first()
    if known is not None:
        return known, False
    channel = channel or _last_channel(contact.pk)
    if not channel:
        raise _invalid("channel", "The person has not written on a messaging channel: choose one.", "required")
    if channel not in SUPPORTED_CHANNELS:
        raise _invalid("channel", f"Choose one of {', '.join(SUPPORTED_CHANNELS)}.", "invalid_choice")
    recipient = _recipient(contact, channel)
    if not recipient:
        raise _invalid("channel", f"The person has no {channel} identity.", "no_identity")
    text = (text or "").strip()
    if len(text) > REPLY_MAX_CHARS:
        raise _invalid("text", f"At most {REPLY_MAX_CHARS} characters.", "max_length")
    template = None
    if template_id is not None and channel != Channel.WHATSAPP:
        raise _invalid("template", "A template is only for WhatsApp replies.", "not_whatsapp")
    window_open = True
    if channel in (Channel.WHATSAPP, Channel.MESSENGER):
        window_open = messaging_window_until(contact_id=contact.pk, channel=channel) is not None
    if channel == Channel.MESSENGER and not window_open:
        raise _invalid("channel", "The person last wrote on Messenger more than 24 hours ago: the Page may not "
                                  "write first. Answer on another channel.", "window_closed")
    if channel == Channel.WHATSAPP:
        template = whatsapp_template_choose(template_id, max_parameters=CONTACT_PARAMETERS, field="template")
        if template is None and not window_open:
            raise _invalid("template", "The person last wrote on WhatsApp more than 24 hours ago: a template is "
                                       "needed (the id of an approved WhatsApp template).", "template_required")
    parameters = contact_parameters(contact) if template is not None else []
    if not text and template is not None:
        text = _template_text(template, parameters)
    if not text:
        raise _invalid("text", "Write the reply.", "required")
    with transaction.atomic():
        conversation = _conversation_lock(contact.pk, create=True)
        message = outbound_enqueue_with_template(
            template=template, parameters=parameters, idempotency_key=key, channel=channel, recipient=recipient,
            text=text, contact_id=contact.pk, category=Category.SERVICE)
        if conversation is not None:
            upto = _last_inbound_id(contact.pk)
            conversation.answered_inbound_id = max(conversation.answered_inbound_id, upto)
            conversation.last_read_inbound_id = max(conversation.last_read_inbound_id, upto)
            if conversation.owner_id is None and getattr(staff, "pk", None):
                conversation.owner_id = staff.pk
            conversation.save()
    return message, True


def conversation_assign(*, contact_id: int, owner_id: int | None) -> Conversation:
    """Give the conversation to a staff member (an active ``is_staff`` user), or to no one (``None``)."""
    _contact(contact_id)
    if owner_id is not None:
        user_model = get_user_model()
        if not user_model.objects.filter(pk=owner_id, is_staff=True, is_active=True).exists():
            raise ApplicationError("The owner must be an active staff member.", code="validation_error",
                                   errors=[field_error("owner", f"No active staff member #{owner_id}.",
                                                       "does_not_exist")])
    with transaction.atomic():
        conversation = _conversation_lock(contact_id, create=True)
        assert conversation is not None
        conversation.owner_id = owner_id
        conversation.save(update_fields=["owner", "updated_at"])
    return conversation


def conversation_done(*, contact_id: int) -> Conversation:
    """Mark it done: nothing waits any more and what came so far is read; the next message reopens it."""
    _contact(contact_id)
    with transaction.atomic():
        conversation = _conversation_lock(contact_id, create=True)
        assert conversation is not None
        upto = _last_inbound_id(contact_id)
        conversation.state, conversation.done_at = State.DONE, timezone.now()
        conversation.answered_inbound_id = max(conversation.answered_inbound_id, upto)
        conversation.last_read_inbound_id = max(conversation.last_read_inbound_id, upto)
        conversation.save()
    return conversation


def conversation_mark_read(*, contact_id: int) -> Conversation:
    """Everything the person wrote so far is read (a message arriving later counts as unread)."""
    _contact(contact_id)
    with transaction.atomic():
        conversation = _conversation_lock(contact_id, create=True)
        assert conversation is not None
        conversation.last_read_inbound_id = max(conversation.last_read_inbound_id, _last_inbound_id(contact_id))
        conversation.save(update_fields=["last_read_inbound_id", "updated_at"])
    return conversation


def conversations_merge(*, target_id: int, source_id: int) -> None:
    """Merge hook (contacts' registry): the source's conversation, moved to the target with the other
    relations, is folded into the target's, so that the person has one conversation again."""
    _conversation_lock(target_id)


def conversations_erase(contact_id: int) -> None:
    """Erase (the contacts app's eraser for conversations): an erased person leaves the inbox."""
    Conversation.objects.filter(contact_id=contact_id).delete()


# --- the Telegram staff chat ------------------------------------------------------------------------------

_REFUSALS_FR = {
    "template_required": "la fenêtre WhatsApp de 24 h est fermée : répondez depuis la boîte de réception "
                         "avec un modèle approuvé",
    "window_closed": "la fenêtre Messenger est fermée : répondez sur un autre canal",
    "no_identity": "la personne n'a plus d'identité sur ce canal",
}


def staff_chat_reply(*, reply_to_message_id: int, text: str, update_id: int, author: str = "") -> OutboundMessage | None:
    """A staff member answered, with Telegram's reply-to, a message the bot posted in the staff chat.

    When that message is the copy of a person's question (key ``staff:inbound:<id>``), ``text`` goes to
    the person on the channel they wrote from, once per Telegram ``update_id``. A reply to any other
    staff message is ignored with a log line. A reply that may not go (WhatsApp window closed...) is
    explained in the staff chat instead. Never treated as a message of a customer.
    """
    copy = (OutboundMessage.objects.filter(category=Category.STAFF, channel=Channel.TELEGRAM,
                                           provider_message_id=str(reply_to_message_id),
                                           idempotency_key__startswith=STAFF_INBOUND_PREFIX)
            .values_list("idempotency_key", flat=True).first())
    if copy is None:
        logger.info("staff chat: update %s replies to message %s, which is no forwarded question; ignored",
                    update_id, reply_to_message_id)
        return None
    inbound = InboundMessage.objects.filter(pk=int(copy[len(STAFF_INBOUND_PREFIX):])).first()
    contact_id = contact_id_resolve(inbound.contact_id) if inbound and inbound.contact_id else None
    if inbound is None or contact_id is None:
        logger.info("staff chat: update %s answers a question whose person is gone; ignored", update_id)
        return None
    if not (text or "").strip():
        logger.info("staff chat: update %s replies without text; ignored", update_id)
        return None
    try:
        with transaction.atomic():
            message, _ = conversation_reply(contact_id=contact_id, text=text, channel=inbound.channel,
                                            client_key=f"tg{update_id}")
    except ApplicationError as exc:
        code = (exc.errors[0].get("code") if exc.errors else "") or exc.code
        why = _REFUSALS_FR.get(code, f"réponse refusée ({code})")
        logger.info("staff chat: reply of update %s refused: %s", update_id, code)
        staff_notify(key=f"reply-refused:{update_id}",
                     text=f"⚠️ Réponse de {author or 'l’équipe'} non envoyée "
                          f"({CHANNEL_LABELS.get(inbound.channel, inbound.channel)}) : {why}.")
        return None
    return message


def staff_message_deliver(message: StaffMessage) -> bool:
    """The deliverer of ``api.common.staff_messages``: a STAFF outbox row to the staff chat (once per key).

    False when no staff chat is configured (nothing is queued).
    """
    return staff_notify(key=message.key, text=message.text, image_url=message.image_url) is not None


__all__ = ["REPLY_MAX_CHARS", "conversation_assign", "conversation_done", "conversation_inbound_record",
           "conversation_mark_read", "conversation_reply", "conversations_erase", "conversations_merge", "reply_key", "staff_chat_reply",
           "staff_message_deliver"]
