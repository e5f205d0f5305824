"""The customer file: contacts, their identities, consents, tags, notes, timeline events,
follow-up tasks, merges, erasures and CSV import jobs.

Deduplication lives in the database: a normalized phone (E.164), a case-insensitive
e-mail, a Telegram chat id and a Facebook PSID each identify at most one contact
(partial unique constraints, so empty values do not collide). Every phone, WhatsApp number
and e-mail a person is known by, including the extra ones a merge brought, is also a
``ContactIdentity`` row, unique by ``(kind, value)``: that is what makes a WhatsApp number
belong to one contact.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower

from api.contacts.enums import Channel, LifecycleStage, Segment


class Tag(models.Model):
    name = models.CharField(max_length=60, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Contact(models.Model):
    """One person (or business) in the customer file.

    ``merged_into`` marks a tombstone left by a merge: its identities moved to the
    target and it is hidden from lists. ``erased_at`` marks a contact whose personal
    data was removed at their request; the row stays so that orders keep their amounts.
    """

    name = models.CharField(max_length=200, blank=True)
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    salutation = models.CharField(max_length=30, blank=True, help_text="e.g. M., Mme, Dr, Maman")
    language = models.CharField(max_length=10, default="fr")

    # Identities (E.164 phones, lower-case e-mail); unique when present.
    phone = models.CharField(max_length=20, null=True, blank=True)
    email = models.EmailField(max_length=254, null=True, blank=True)
    whatsapp = models.CharField(max_length=20, null=True, blank=True)
    telegram_chat_id = models.CharField(max_length=32, null=True, blank=True)
    telegram_username = models.CharField(max_length=64, blank=True)
    facebook_psid = models.CharField(max_length=64, null=True, blank=True)
    instagram = models.CharField(max_length=64, blank=True)

    city = models.CharField(max_length=100, blank=True)
    neighbourhood = models.CharField(max_length=100, blank=True)
    birth_date = models.DateField(null=True, blank=True)

    segment = models.CharField(max_length=20, choices=Segment.choices, default=Segment.UNKNOWN)
    lifecycle_stage = models.CharField(max_length=20, choices=LifecycleStage.choices, default=LifecycleStage.SUSPECT)
    lifecycle_stage_locked = models.BooleanField(
        default=False, help_text="Staff set the stage by hand: automatic moves leave it alone."
    )
    acquisition_channel = models.CharField(max_length=50, blank=True)
    self_reported_source = models.CharField(max_length=200, blank=True, help_text="d'où il vient")
    referred_by = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="referrals",
                                    db_index=False)  # partial index in Meta
    referral_code = models.CharField(max_length=16)  # unique: a constraint in Meta (no LIKE index)
    tags = models.ManyToManyField(Tag, blank=True, related_name="contacts")

    preferred_channel = models.CharField(max_length=20, choices=Channel.choices, blank=True)
    preferred_hours_start = models.TimeField(null=True, blank=True)
    preferred_hours_end = models.TimeField(null=True, blank=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="owned_contacts", db_index=False)  # partial index in Meta

    opted_out_at = models.DateTimeField(null=True, blank=True, help_text="Global opt-out: no marketing at all.")
    last_seen_at = models.DateTimeField(null=True, blank=True)
    last_verified_at = models.DateTimeField(null=True, blank=True)
    erased_at = models.DateTimeField(null=True, blank=True)
    merged_into = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                                    db_index=False)  # partial index in Meta
    merged_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["phone"], condition=models.Q(phone__isnull=False),
                                    name="contact_unique_phone"),
            models.UniqueConstraint(Lower("email"), condition=models.Q(email__isnull=False),
                                    name="contact_unique_email_ci"),
            models.UniqueConstraint(fields=["telegram_chat_id"], condition=models.Q(telegram_chat_id__isnull=False),
                                    name="contact_unique_telegram_chat_id"),
            models.UniqueConstraint(fields=["facebook_psid"], condition=models.Q(facebook_psid__isnull=False),
                                    name="contact_unique_facebook_psid"),
            # A constraint rather than unique=True, which adds a varchar_pattern_ops (LIKE) index
            # on PostgreSQL: codes are only ever looked up whole.
            models.UniqueConstraint(fields=["referral_code"], name="contact_unique_referral_code"),
        ]
        # Columns that are empty on most contacts (an import fills none of them) get partial
        # indexes: every query that uses them asks for a value (``= x``, ``IN``, ``IS NOT NULL``),
        # and inserting a row with NULL there costs nothing. ``merged_into IS NULL`` (active
        # contacts) matches nearly every row: an index would not serve it anyway.
        indexes = [
            models.Index(fields=["whatsapp"], name="contact_whatsapp_idx", condition=models.Q(whatsapp__isnull=False)),
            models.Index(fields=["city"], name="contact_city_idx"),
            models.Index(fields=["segment", "lifecycle_stage"], name="contact_segment_stage_idx"),
            models.Index(fields=["last_verified_at"], name="contact_verified_idx",
                         condition=models.Q(last_verified_at__isnull=False)),
            models.Index(fields=["referred_by"], name="contact_referred_by_idx",
                         condition=models.Q(referred_by__isnull=False)),
            models.Index(fields=["owner"], name="contact_owner_idx", condition=models.Q(owner__isnull=False)),
            models.Index(fields=["merged_into"], name="contact_merged_into_idx",
                         condition=models.Q(merged_into__isnull=False)),
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        full = self.name or " ".join(p for p in (self.first_name, self.last_name) if p)
        return full or f"Contact #{self.pk}"


class ContactIdentity(models.Model):
    """One phone number, WhatsApp number or e-mail by which a contact is known.

    Every such identity of a live contact has a row here, the contact's main ``phone`` / ``whatsapp`` /
    ``email`` as well as the extra ones a merge brought (the merged-away contact's numbers), so that a
    message from any of them finds the person. ``(kind, value)`` is unique: one WhatsApp number has one
    owner. Tombstones and erased contacts hold none (a merge moves them, an erase deletes them).
    """

    class Kind(models.TextChoices):
        PHONE = "phone", "Phone"
        WHATSAPP = "whatsapp", "WhatsApp"
        EMAIL = "email", "E-mail"

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="identities")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    value = models.CharField(max_length=254, help_text="E.164 for numbers, lower case for e-mails.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["kind", "id"]
        constraints = [models.UniqueConstraint(fields=["kind", "value"], name="contactidentity_unique_kind_value")]

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


class ContactNote(models.Model):
    """A staff note: tastes, habits, after-sale requests."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="+")
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]


class Consent(models.Model):
    """Consent and reachability of one contact on one channel.

    A channel may be used when ``granted_at`` is set, ``revoked_at`` is not, and the
    provider did not tell us the identity is unreachable (blocked bot, no such chat).
    """

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="consents")
    channel = models.CharField(max_length=20, choices=Channel.choices)
    granted_at = models.DateTimeField(null=True, blank=True)
    granted_how = models.CharField(max_length=200, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_how = models.CharField(max_length=200, blank=True)
    unreachable_at = models.DateTimeField(null=True, blank=True)
    unreachable_reason = models.CharField(max_length=200, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["contact", "channel"], name="consent_one_per_channel")]

    @property
    def is_active(self) -> bool:
        return self.granted_at is not None and self.revoked_at is None


class ContactEvent(models.Model):
    """Something that happened to a contact, owned by the contacts app (the timeline's own source)."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField()
    kind = models.CharField(max_length=50)
    summary = models.CharField(max_length=500)
    data = models.JSONField(default=dict, blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")

    class Meta:
        indexes = [
            models.Index(fields=["contact", "-at", "-id"], name="contactevent_timeline_idx"),
            # The newest lifecycle move, read by the weekly indicators' fingerprint at every view.
            models.Index(fields=["id"], name="contactevent_stage_move_idx", condition=models.Q(kind="lifecycle_changed")),
        ]


class ContactMerge(models.Model):
    """The record of a merge: what the source contact was, and how many rows moved."""

    target = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="merges")
    source = models.ForeignKey(Contact, null=True, on_delete=models.SET_NULL, related_name="+")
    source_snapshot = models.JSONField(default=dict)
    moved = models.JSONField(default=dict)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)


class ErasedIdentity(models.Model):
    """A one-way hash (HMAC-SHA256 keyed with SECRET_KEY) of an identity of an erased contact.

    Imports and upserts refuse such an identity unless the person gives consent again.
    """

    digest = models.CharField(max_length=64, unique=True)
    kind = models.CharField(max_length=20)
    erased_at = models.DateTimeField(auto_now_add=True)


class FollowUpTask(models.Model):
    class Kind(models.TextChoices):
        CALL = "call", "Call"
        VISIT = "visit", "Visit"
        SAMPLE = "sample", "Send a sample"
        OTHER = "other", "Other"

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="tasks")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="contact_tasks")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.CALL)
    due_at = models.DateTimeField()
    note = models.TextField(blank=True)
    outcome = models.TextField(blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["owner", "done_at", "due_at"], name="task_owner_due_idx")]


class ImportJob(models.Model):
    """A CSV upload processed by a worker in batches.

    ``rows_done`` is the cursor: the number of data rows whose effects are committed.
    It is updated in the same transaction as the rows of a batch, so a worker killed
    mid-way resumes after the last committed batch without duplicating anything. The
    file is kept in the database so that any worker machine can read it. Each row up to
    the cursor is counted once: created, updated, unchanged, skipped (blank) or error.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    file_name = models.CharField(max_length=255)
    data = models.BinaryField()
    encoding = models.CharField(max_length=20)
    delimiter = models.CharField(max_length=1)
    columns = models.JSONField(default=dict, help_text="CSV column index -> contact field")
    consent_given = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    total_rows = models.PositiveIntegerField(default=0)
    rows_done = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    unchanged_count = models.PositiveIntegerField(default=0)
    skipped_count = models.PositiveIntegerField(
        default=0, help_text="Blank rows (nothing but separators or spaces): nothing to import.")
    error_count = models.PositiveIntegerField(default=0)
    failure = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(
        default=0, help_text="Failed attempts in a row at the batch after the cursor; the job fails after a few.")
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["status", "heartbeat_at"], name="importjob_status_idx")]


class ImportRowError(models.Model):
    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="row_errors")
    row = models.PositiveIntegerField(help_text="Line of the file, the header being line 1.")
    column = models.CharField(max_length=100, blank=True)
    message = models.CharField(max_length=500)

    class Meta:
        ordering = ["row", "id"]


# Module-level names of nested choice sets, for drf-spectacular's ENUM_NAME_OVERRIDES.
FollowUpTaskKind = FollowUpTask.Kind
ContactIdentityKind = ContactIdentity.Kind
ImportJobStatus = ImportJob.Status
