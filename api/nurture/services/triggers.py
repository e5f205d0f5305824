"""Triggers run by beat: the introduction sequence for new contacts, the monthly personal message.

Each trigger's progress is a row (a ``Cursor``, or the enrollments' ``trigger_ref``), so a run that
dies is resumed by the next one and a run twice does nothing more.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from api.common.businesstime import business_localtime
from api.contacts.selectors import contact_last_id_created_before, contacts_audience, contacts_live_after_id
from api.nurture.enums import Purpose
from api.nurture.models import Cursor, Enrollment, Sequence
from api.nurture.services.outbox import staff_notify
from api.nurture.services.sequences import enrollment_create, enrollment_stop

NEW_LEADS_LISTED = 10  # above this many new contacts in one run, staff get one summary line


def _cursor(name: str, initial: Callable[[], int]) -> Cursor:
    """The ``Cursor`` row ``name``, locked (created at ``initial()`` on first use)."""
    cursor = Cursor.objects.select_for_update().filter(name=name).first()
    if cursor is None:
        try:
            with transaction.atomic():
                cursor = Cursor.objects.create(name=name, value=initial())
        except IntegrityError:
            cursor = Cursor.objects.select_for_update().get(name=name)
    return cursor


def new_contacts_enroll(*, limit: int = 500, now: datetime | None = None) -> int:
    """Trigger "new contact": enroll contacts created since the cursor into the introduction sequence(s).

    The cursor (``Cursor`` row ``new_contacts``) is the last contact id handled, moved in the same
    transaction as the enrollments, so a crash re-runs only an uncommitted batch. On its first run it
    starts from contacts created in the last 24 hours, not from the whole file. Merged and erased
    contacts are passed over. Returns how many enrollments were made.
    """
    now = now or timezone.now()
    with transaction.atomic():
        cursor = _cursor("new_contacts", lambda: contact_last_id_created_before(now - timedelta(days=1)))
        contacts = contacts_live_after_id(after_id=cursor.value, limit=limit)
        sequences = list(Sequence.objects.filter(purpose=Purpose.INTRODUCTION, is_active=True))
        enrolled = 0
        # Staff hear of each new lead, but a CSV import of hundreds is one line, not hundreds.
        if len(contacts) > NEW_LEADS_LISTED:
            staff_notify(key=f"new_leads:{contacts[0].pk}-{contacts[-1].pk}",
                         text=f"🆕 {len(contacts)} nouveaux contacts (#{contacts[0].pk} à #{contacts[-1].pk}).")
        for contact in contacts:
            if len(contacts) <= NEW_LEADS_LISTED:
                staff_notify(key=f"new_lead:{contact.pk}",
                             text=f"🆕 Nouveau contact : {contact.display_name} (#{contact.pk}, "
                                  f"{contact.acquisition_channel or 'source inconnue'})")
            for sequence in sequences:
                if enrollment_create(sequence_id=sequence.pk, contact_id=contact.pk, trigger="new_contact",
                                     now=now):
                    enrolled += 1
        if contacts:
            cursor.value = contacts[-1].pk
            cursor.save(update_fields=["value", "updated_at"])
    return enrolled


def monthly_messages_enroll(*, now: datetime | None = None, limit: int = 5000) -> int:
    """Enroll every audience contact into each monthly sequence once per calendar month (business time).

    Once per month by ``trigger_ref`` ``month:YYYY-MM``; returns how many enrollments were made.
    """
    now = now or timezone.now()
    month = business_localtime(now).strftime("%Y-%m")
    enrolled = 0
    for sequence in Sequence.objects.filter(purpose=Purpose.MONTHLY, is_active=True):
        # Last month's message, if still queued (held by a window or a cap), gives way to this month's.
        stale = Enrollment.objects.filter(sequence=sequence, state=Enrollment.State.ACTIVE).exclude(
            trigger_ref=f"month:{month}").values_list("id", flat=True)
        for enrollment_id in list(stale):
            enrollment_stop(enrollment_id=enrollment_id, reason="superseded by next month")
        done = Enrollment.objects.filter(sequence=sequence, trigger_ref=f"month:{month}").values("contact_id")
        audience = contacts_audience(sequence.audience).exclude(pk__in=done)
        for contact_id in audience.values_list("id", flat=True)[:limit]:
            if enrollment_create(sequence_id=sequence.pk, contact_id=contact_id, trigger="monthly",
                                 trigger_ref=f"month:{month}", check_audience=False, now=now):
                enrolled += 1
    return enrolled
