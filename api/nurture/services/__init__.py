"""Writes of the nurture app, one module per subdomain; this package re-exports what others call.

- ``channels``: identities per channel, the channel choice, text variables, sending windows.
- ``outbox``: queueing, cancelling and retrying ``OutboundMessage`` rows; staff notifications.
- ``dispatch``: the dispatcher that claims due rows and sends them (its state machine is there).
- ``sequences``: sequences and enrollments; ``triggers``: new contacts and the monthly message.
- ``broadcasts``: one message to an audience at a set time.
- ``scoring``: the lead score and the "mature prospect" mark.
- ``order_events``: reactions to order events; ``replenishment``: reminders when a customer runs out.
- ``bot``: the Telegram bot (updates stored and applied once, webhook or polling).
"""

from api.nurture.services.bot import (
    INTRO_TEXT,
    MONTHLY_CONFIRM,
    SOURCE_CHOICES,
    SOURCE_QUESTION,
    STOP_CONFIRM,
    STOP_OFFER,
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
    broadcasts_start_due,
)
from api.nurture.services.channels import (
    SUPPORTED_CHANNELS,
    channel_choose,
    contact_recipient,
    render_text,
    window_next,
)
from api.nurture.services.dispatch import DispatchStats, outbound_dispatch, outbound_recover_stuck
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
from api.nurture.services.triggers import NEW_LEADS_LISTED, monthly_messages_enroll, new_contacts_enroll

__all__ = [
    "INTRO_TEXT",
    "MONTHLY_CONFIRM",
    "NEW_LEADS_LISTED",
    "SOURCE_CHOICES",
    "SOURCE_QUESTION",
    "STOP_CONFIRM",
    "STOP_OFFER",
    "SUPPORTED_CHANNELS",
    "DispatchStats",
    "broadcast_cancel",
    "broadcast_create",
    "broadcast_start",
    "broadcasts_start_due",
    "channel_choose",
    "contact_messages_erase",
    "contact_recipient",
    "enrollment_create",
    "enrollment_stop",
    "enrollments_complete",
    "enrollments_stop_for_contact",
    "lead_score_record",
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
    "render_text",
    "replenishment_plan",
    "sequence_create",
    "sequence_step_add",
    "sequence_step_update",
    "sequence_update",
    "staff_notify",
    "telegram_poll_once",
    "telegram_update_failed",
    "telegram_update_process",
    "telegram_update_receive",
    "telegram_update_refused",
    "telegram_updates_retry",
    "window_next",
]
