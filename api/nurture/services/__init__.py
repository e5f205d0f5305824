"""Writes of the nurture app, one module per subdomain; this package re-exports what others call.

- ``channels``: identities per channel, the channel choice, text variables, sending windows.
- ``outbox``: queueing, cancelling and retrying ``OutboundMessage`` rows; staff notifications.
- ``dispatch``: the dispatcher that claims due rows and sends them (its state machine is there).
- ``delivery``: WhatsApp statuses and Messenger receipts on sent messages; what Meta charged as campaign costs.
- ``sequences``: sequences and enrollments; ``triggers``: new contacts and the monthly message.
- ``broadcasts``: one message to an audience at a set time, finished once every message has an outcome.
- ``templates``: WhatsApp message templates (sync, choice, variables, Meta's rules at send time).
- ``scoring``: the lead score and the "mature prospect" mark.
- ``order_events``: reactions to order events; ``replenishment``: reminders when a customer runs out.
- ``inbound``: the one inbound pipeline of Telegram, WhatsApp and Messenger (STOP, the source question,
  newcomers, replies copied to staff) and the Meta webhook's events.
- ``inbox``: the staff inbox (conversations: replies, owner, done, read), replies from the Telegram staff
  chat, other apps' staff messages into the outbox.
- ``bot``: the Telegram bot (updates stored and applied once, webhook or polling), an adapter to ``inbound``.
"""

from api.nurture.services.bot import (
    telegram_poll_once,
    telegram_update_failed,
    telegram_update_process,
    telegram_update_receive,
    telegram_update_refused,
    telegram_updates_retry,
)
from api.nurture.services.broadcasts import (
    broadcast_cancel,
    broadcast_create,
    broadcast_start,
    broadcasts_finish,
    broadcasts_start_due,
)
from api.nurture.services.channels import (
    SUPPORTED_CHANNELS,
    channel_choose,
    contact_recipient,
    render_text,
    window_next,
)
from api.nurture.services.delivery import (
    messenger_receipt_apply,
    outbound_send_refused,
    outbound_status_apply,
    whatsapp_campaign_cost_refresh,
)
from api.nurture.services.dispatch import DispatchStats, outbound_dispatch, outbound_recover_stuck
from api.nurture.services.inbound import (
    INTRO_TEXT,
    MONTHLY_CONFIRM,
    SOURCE_CHOICES,
    SOURCE_QUESTION,
    STOP_CONFIRM,
    inbound_messages_erase,
    inbound_receive,
    is_stop_word,
    meta_events_process,
    source_key,
    source_label,
)
from api.nurture.services.inbox import (
    conversation_assign,
    conversation_done,
    conversation_inbound_record,
    conversation_mark_read,
    conversation_reply,
    conversations_erase,
    staff_chat_reply,
    staff_message_deliver,
)
from api.nurture.services.order_events import order_event_handle
from api.nurture.services.outbox import (
    contact_messages_erase,
    outbound_cancel_for_identity,
    outbound_dispatch_kick,
    outbound_enqueue,
    outbound_retry,
    staff_notify,
)
from api.nurture.services.replenishment import replenishment_plan
from api.nurture.services.scoring import lead_score_record, nurture_profile_get
from api.nurture.services.sequences import (
    enrollment_create,
    enrollment_stop,
    enrollments_complete,
    enrollments_stop_for_contact,
    sequence_create,
    sequence_step_add,
    sequence_step_update,
    sequence_update,
)
from api.nurture.services.templates import (
    TemplateSyncResult,
    whatsapp_templates_sync,
    whatsapp_templates_sync_if_configured,
)
from api.nurture.services.triggers import NEW_LEADS_LISTED, monthly_messages_enroll, new_contacts_enroll

__all__ = [
    "INTRO_TEXT",
    "MONTHLY_CONFIRM",
    "NEW_LEADS_LISTED",
    "SOURCE_CHOICES",
    "SOURCE_QUESTION",
    "STOP_CONFIRM",
    "SUPPORTED_CHANNELS",
    "DispatchStats",
    "TemplateSyncResult",
    "broadcast_cancel",
    "broadcast_create",
    "broadcast_start",
    "broadcasts_finish",
    "broadcasts_start_due",
    "channel_choose",
    "contact_messages_erase",
    "conversation_assign",
    "conversation_done",
    "conversation_inbound_record",
    "conversation_mark_read",
    "conversation_reply",
    "conversations_erase",
    "contact_recipient",
    "enrollment_create",
    "enrollment_stop",
    "enrollments_complete",
    "enrollments_stop_for_contact",
    "inbound_messages_erase",
    "inbound_receive",
    "is_stop_word",
    "lead_score_record",
    "messenger_receipt_apply",
    "meta_events_process",
    "monthly_messages_enroll",
    "new_contacts_enroll",
    "nurture_profile_get",
    "order_event_handle",
    "outbound_cancel_for_identity",
    "outbound_dispatch",
    "outbound_dispatch_kick",
    "outbound_enqueue",
    "outbound_recover_stuck",
    "outbound_retry",
    "outbound_send_refused",
    "outbound_status_apply",
    "render_text",
    "replenishment_plan",
    "sequence_create",
    "sequence_step_add",
    "sequence_step_update",
    "sequence_update",
    "source_key",
    "source_label",
    "staff_chat_reply",
    "staff_message_deliver",
    "staff_notify",
    "telegram_poll_once",
    "telegram_update_failed",
    "telegram_update_process",
    "telegram_update_receive",
    "telegram_update_refused",
    "telegram_updates_retry",
    "whatsapp_campaign_cost_refresh",
    "whatsapp_templates_sync",
    "whatsapp_templates_sync_if_configured",
    "window_next",
]
