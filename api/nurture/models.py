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
        ]


class NurtureProfile(models.Model):
    """What nurture knows of a contact: message frequency, lead score, maturity."""

    class Frequency(models.TextChoices):
        NORMAL = "normal", "Normal"
        MONTHLY = "monthly", "Monthly only"

    contact = models.OneToOneField("contacts.Contact", on_delete=models.CASCADE, related_name="nurture_profile")
    frequency = models.CharField(max_length=10, choices=Frequency.choices, default=Frequency.NORMAL)
    stop_offered_at = models.DateTimeField(null=True, blank=True)
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
