"""Nurture: sequences and their enrollments, broadcasts, outbound messages, Telegram updates, lead score.

Every message to send is an ``OutboundMessage`` row; the dispatcher moves it through
``scheduled -> sending -> sent`` (or ``failed`` / ``skipped`` / ``cancelled``) with guarded
updates, so that no row is sent twice (see ``services.outbound_dispatch``).
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models

from api.nurture.enums import Purpose


def default_channels() -> list[str]:
    return ["telegram", "messenger", "whatsapp"]


class Sequence(models.Model):
    """A series of timed messages for an audience, stopped by conditions such as an order."""

    name = models.CharField(max_length=200)
    purpose = models.CharField(max_length=20, choices=Purpose.choices, default=Purpose.MANUAL)
    campaign_code = models.CharField(max_length=64, blank=True, db_index=True,
                                     help_text="Bot starts with this code enroll into this sequence.")
    audience = models.JSONField(default=dict, blank=True,
                                help_text="Filters: segment, lifecycle_stage, tags, source, campaign.")
    channels = models.JSONField(default=default_channels, help_text="Channels in order of preference.")
    stop_on_order = models.BooleanField(default=True)
    stop_on_reply = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name


class SequenceStep(models.Model):
    """One message of a sequence, ``delay`` after the previous one (after enrollment for the first)."""

    MAX_DELAY = dt.timedelta(days=366)  # a step further away than a year is a typo, not a plan

    sequence = models.ForeignKey(Sequence, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveIntegerField()
    delay = models.DurationField(default=dt.timedelta)
    text = models.TextField(help_text="Variables: {first_name} {name} {salutation} {referral_code}.")
    image_url = models.URLField(blank=True)
    window_start = models.TimeField(null=True, blank=True, help_text="Business time zone; default 09:00.")
    window_end = models.TimeField(null=True, blank=True, help_text="Business time zone; default 20:00.")
    whatsapp_template = models.ForeignKey(
        "nurture.WhatsAppTemplate", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="Sent instead of the text on WhatsApp when the person has not written in the last 24 hours.")

    class Meta:
        ordering = ["sequence", "position"]
        constraints = [models.UniqueConstraint(fields=["sequence", "position"], name="step_unique_position")]


class Enrollment(models.Model):
    """A contact going through a sequence. Its messages are ``OutboundMessage`` rows made at enrollment."""

    class State(models.TextChoices):
        ACTIVE = "active", "Active"
        COMPLETED = "completed", "Completed"
        STOPPED = "stopped", "Stopped"

    sequence = models.ForeignKey(Sequence, on_delete=models.CASCADE, related_name="enrollments")
    contact = models.ForeignKey("contacts.Contact", on_delete=models.CASCADE, related_name="nurture_enrollments")
    state = models.CharField(max_length=10, choices=State.choices, default=State.ACTIVE)
    trigger = models.CharField(max_length=40, help_text="new_contact, bot_start, delivered_order, staff ...")
    trigger_ref = models.CharField(max_length=100, blank=True)
    stopped_reason = models.CharField(max_length=100, blank=True)
    enrolled_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["sequence", "contact", "trigger_ref"],
                                               name="enrollment_once_per_trigger")]


class Broadcast(models.Model):
    """A one-off message to an audience at a time; progress is counted from its messages."""

    class State(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        RUNNING = "running", "Running (messages queued)"
        CANCELLED = "cancelled", "Cancelled"
        FINISHED = "finished", "Finished (every message has an outcome)"

    name = models.CharField(max_length=200)
    text = models.TextField()
    image_url = models.URLField(blank=True)
    audience = models.JSONField(default=dict, blank=True)
    channels = models.JSONField(default=default_channels)
    send_at = models.DateTimeField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.SCHEDULED)
    total = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    whatsapp_template = models.ForeignKey(
        "nurture.WhatsAppTemplate", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="Sent instead of the text on WhatsApp when the person has not written in the last 24 hours.")
    campaign_code = models.CharField(max_length=64, blank=True,
                                     help_text="Campaign whose costs include what Meta charges for these messages.")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["state", "send_at"], name="broadcast_state_send_idx")]


class OutboundMessage(models.Model):
    """One message to one recipient on one channel, and what happened to it.

    ``idempotency_key`` (unique) derives from the origin (``seq:<enrollment>:<step>``,
    ``bc:<broadcast>:<contact>``, ``tg:<update_id>:reply``...), so a trigger run twice queues once.
    ``claim_token``/``claimed_until`` are the dispatcher's lease on a ``scheduled`` row;
    ``claimed_at`` is when the provider call started (state ``sending``).
    """

    class State(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        SENDING = "sending", "Sending (provider call in flight)"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"
        CANCELLED = "cancelled", "Cancelled"

    class Category(models.TextChoices):
        MARKETING = "marketing", "Marketing (consent, caps and windows apply)"
        SERVICE = "service", "Service reply (answer to the person; reachability applies)"
        STAFF = "staff", "Staff notification"

    contact = models.ForeignKey("contacts.Contact", null=True, blank=True, on_delete=models.CASCADE,
                                related_name="nurture_messages")
    channel = models.CharField(max_length=20)
    recipient = models.CharField(max_length=64, help_text="Chat id, PSID or E.164 number at queue time.")
    category = models.CharField(max_length=10, choices=Category.choices, default=Category.MARKETING)
    text = models.TextField()
    image_url = models.URLField(blank=True)
    reply_markup = models.JSONField(null=True, blank=True)
    due_at = models.DateTimeField()
    window_start = models.TimeField(null=True, blank=True)
    window_end = models.TimeField(null=True, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.SCHEDULED)
    reason = models.CharField(max_length=200, blank=True)
    provider_message_id = models.CharField(max_length=100, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    claim_token = models.CharField(max_length=32, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # What the provider reported afterwards (WhatsApp statuses, Messenger receipts).
    delivered_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    failure_code = models.CharField(max_length=20, blank=True, help_text="Provider error code of a failed delivery.")
    pricing_category = models.CharField(max_length=30, blank=True,
                                        help_text="WhatsApp pricing category (marketing, utility, service...).")
    billable = models.BooleanField(null=True, blank=True, help_text="Whether Meta charged for this message.")
    # A WhatsApp template sent instead of ``text`` outside the 24-hour window, with its filled variables.
    template_name = models.CharField(max_length=512, blank=True)
    template_language = models.CharField(max_length=15, blank=True)
    template_parameters = models.JSONField(null=True, blank=True)
    idempotency_key = models.CharField(max_length=120, unique=True)
    enrollment = models.ForeignKey(Enrollment, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="messages")
    step = models.ForeignKey(SequenceStep, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    broadcast = models.ForeignKey(Broadcast, null=True, blank=True, on_delete=models.CASCADE,
                                  related_name="messages")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["state", "due_at"], name="outbound_due_idx"),
            models.Index(fields=["contact", "state", "sent_at"], name="outbound_contact_idx"),
            models.Index(fields=["broadcast", "state"], name="outbound_broadcast_idx"),
            models.Index(fields=["channel", "provider_message_id"], name="outbound_provider_id_idx"),
        ]


class NurtureProfile(models.Model):
    """What nurture knows of a contact: message frequency, lead score, maturity."""

    class Frequency(models.TextChoices):
        NORMAL = "normal", "Normal"
        MONTHLY = "monthly", "Monthly only"

    contact = models.OneToOneField("contacts.Contact", on_delete=models.CASCADE, related_name="nurture_profile")
    frequency = models.CharField(max_length=10, choices=Frequency.choices, default=Frequency.NORMAL)
    lead_score = models.IntegerField(default=0)
    matured_at = models.DateTimeField(null=True, blank=True)
    replenishment_due_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)


class ScoreEvent(models.Model):
    """Points given to a contact for an event; ``ref`` makes each event count once."""

    contact = models.ForeignKey("contacts.Contact", on_delete=models.CASCADE, related_name="nurture_score_events")
    kind = models.CharField(max_length=40)
    points = models.IntegerField()
    ref = models.CharField(max_length=120, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)


class TelegramUpdate(models.Model):
    """A Telegram update as received (webhook or polling); ``update_id`` makes it processed once."""

    update_id = models.BigIntegerField(unique=True)
    kind = models.CharField(max_length=20)
    chat_id = models.CharField(max_length=32, blank=True)
    payload = models.JSONField()
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-update_id"]


class Cursor(models.Model):
    """A named position a periodic job resumes from (Telegram polling offset, last enrolled contact)."""

    name = models.CharField(max_length=60, unique=True)
    value = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name}={self.value}"


class WhatsAppTemplate(models.Model):
    """A message template of the WhatsApp Business Account, as last read from the Graph API.

    Only ``APPROVED`` templates are sent; a step or broadcast whose template is paused or rejected
    skips with that status as the reason. ``body_parameter_count`` is how many ``{{n}}`` variables the
    body has, filled from the contact and order at send time.
    """

    meta_id = models.CharField(max_length=64, blank=True)
    name = models.CharField(max_length=512)
    language = models.CharField(max_length=15)
    category = models.CharField(max_length=30, help_text="MARKETING, UTILITY or AUTHENTICATION.")
    status = models.CharField(max_length=30, help_text="APPROVED, PENDING, REJECTED, PAUSED, DISABLED...")
    components = models.JSONField(default=list, blank=True)
    body_parameter_count = models.PositiveSmallIntegerField(default=0)
    synced_at = models.DateTimeField()

    class Meta:
        ordering = ["name", "language"]
        constraints = [models.UniqueConstraint(fields=["name", "language"], name="wa_template_unique_name_lang")]

    def __str__(self) -> str:
        return f"{self.name} ({self.language})"


class InboundMessage(models.Model):
    """A message a person sent us on a messaging channel, kept as written (the inbound pipeline's record).

    ``provider_message_id`` is the provider's own id (Telegram ``update_id``, Messenger ``mid``,
    WhatsApp ``wamid``), unique per channel: a redelivered webhook finds its row and changes nothing.
    ``occurred_at`` is when the person wrote (the provider's event time), ``received_at`` when we got it.
    ``action`` says what the pipeline made of it (a question copied to staff, STOP, a source answer...).
    """

    class Kind(models.TextChoices):
        TEXT = "text", "Text"
        BUTTON = "button", "Button tapped (inline button, reply button, list row, quick reply)"
        START = "start", "Bot start (/start)"
        REFERRAL = "referral", "Opened the conversation from a link or an ad"
        POSTBACK = "postback", "Postback (Messenger menu or Get Started)"
        OTHER = "other", "Other (media without caption, unsupported)"

    channel = models.CharField(max_length=20)
    contact = models.ForeignKey("contacts.Contact", null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="nurture_inbound_messages")
    sender = models.CharField(max_length=64, help_text="Chat id, PSID or E.164 number it came from.")
    provider_message_id = models.CharField(max_length=200)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.TEXT)
    text = models.TextField(blank=True)
    payload = models.CharField(max_length=300, blank=True,
                               help_text="Tapped button id, postback payload, /start payload or m.me ref.")
    action = models.CharField(max_length=20, blank=True,
                              help_text="welcome, question, stop, monthly, source, referral or postback.")
    details = models.JSONField(default=dict, blank=True)
    occurred_at = models.DateTimeField(help_text="When the person wrote (the provider's time).")
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["channel", "provider_message_id"],
                                               name="inbound_unique_provider_id")]
        indexes = [models.Index(fields=["contact", "occurred_at"], name="inbound_contact_time_idx")]

    def __str__(self) -> str:
        return f"{self.channel}:{self.provider_message_id}"


class Conversation(models.Model):
    """What staff did with a person's conversation (all channels together): owner, done, read, answered.

    What the person wrote stays in ``InboundMessage`` rows; the inbox derives from them the unread
    count (inbound rows after ``last_read_inbound_id``) and "waiting since" (the oldest message of the
    person's own words after ``answered_inbound_id``), so that a late webhook or a merge that moves
    messages between contacts never leaves these figures stale. Marks are inbound row ids, not times:
    a message written earlier but received later is still unread.

    ``contact`` is not unique: a contact merge moves the source's row to the target (the registry's
    ``UPDATE``, which a unique key would turn into a 409), then the merge hook folds the two into the
    oldest (``services.inbox.conversations_merge``); the inbox reads and writes only the oldest row.
    """

    class State(models.TextChoices):
        OPEN = "open", "Open"
        DONE = "done", "Done (a new message from the person reopens it)"

    contact = models.ForeignKey("contacts.Contact", on_delete=models.CASCADE, related_name="nurture_conversations")
    state = models.CharField(max_length=10, choices=State.choices, default=State.OPEN)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+", help_text="The staff member who looks after it.")
    last_read_inbound_id = models.BigIntegerField(default=0, help_text="Inbound messages up to this id are read.")
    answered_inbound_id = models.BigIntegerField(default=0,
                                                 help_text="Inbound messages up to this id are answered (or done).")
    done_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["state", "owner"], name="conversation_state_owner_idx")]

    def __str__(self) -> str:
        return f"conversation of #{self.contact_id} ({self.state})"
