"""The right to be forgotten: erase a contact's personal data, keep what accounting needs.

What is stored about a person is read by ``selectors.contact_privacy_export``."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from api.common.errors import ConflictError
from api.contacts.models import (
    Consent,
    Contact,
    ContactEvent,
    ContactIdentity,
    ContactMerge,
    ContactNote,
    ErasedIdentity,
    FollowUpTask,
)
from api.contacts.registry import contact_relations
from api.contacts.services._base import DIGEST_KIND, IDENTITY_FIELDS, contact_resolve, event_add
from api.contacts.services.identity import contact_digests, identity_digest, referral_code_new


def contact_erase(*, contact_id: int, actor: Any = None) -> Contact:
    """Right to be forgotten: remove the personal data of a contact, keep what accounting needs.

    - One-way hashes of each identity go to ``ErasedIdentity`` so that a later import of an old
      file or an upsert does not re-create the person unless they consent again.
    - Registered erasers of other apps run (orders keep amounts, drop names and addresses).
    - Notes, timeline events, tasks, tags and merge snapshots are deleted; consents revoked; the
      row keeps its id, segment and stage (no personal data) so that orders still add up.
    - An ``erased`` event (without personal data) records it. Idempotent.
    """
    with transaction.atomic():
        contact = contact_resolve(contact_id, follow_merge=False)
        if contact.merged_into_id:
            raise ConflictError(f"Contact #{contact.pk} was merged into #{contact.merged_into_id}: erase that one.",
                                code="already_merged")
        if contact.erased_at:
            return contact
        now = timezone.now()
        identities = {f: getattr(contact, f) for f in IDENTITY_FIELDS if getattr(contact, f)}
        # Every number and e-mail the person was known by (a merge may have brought several) is hashed.
        extra = [(kind, value) for kind, value in ContactIdentity.objects.filter(contact=contact)
                 .values_list("kind", "value")]
        digests = [(DIGEST_KIND[f], d) for f, d in contact_digests(identities).items()]
        digests += [(DIGEST_KIND[kind], identity_digest(kind, value)) for kind, value in extra]
        ErasedIdentity.objects.bulk_create([ErasedIdentity(digest=d, kind=k) for k, d in digests],
                                           ignore_conflicts=True)
        ContactIdentity.objects.filter(contact=contact).delete()
        for relation in contact_relations():
            if relation.eraser is not None:
                relation.eraser(contact.pk)
        ContactNote.objects.filter(contact=contact).delete()
        ContactEvent.objects.filter(contact=contact).delete()
        FollowUpTask.objects.filter(contact=contact).delete()
        ContactMerge.objects.filter(target=contact).update(source_snapshot={})
        Consent.objects.filter(contact=contact, revoked_at__isnull=True).update(revoked_at=now, revoked_how="erased")
        Consent.objects.filter(contact=contact).update(granted_how="", unreachable_reason="")
        contact.tags.clear()
        anonymous: dict[str, Any] = {
            "name": "", "first_name": "", "last_name": "", "salutation": "", "telegram_username": "",
            "instagram": "", "city": "", "neighbourhood": "", "birth_date": None, "self_reported_source": "",
            "preferred_hours_start": None, "preferred_hours_end": None, "owner": None, "last_seen_at": None,
            **dict.fromkeys(IDENTITY_FIELDS),
        }
        Contact.objects.filter(merged_into=contact).update(**anonymous)
        for field, value in anonymous.items():
            setattr(contact, field, value)
        contact.referral_code = referral_code_new()
        contact.opted_out_at = contact.opted_out_at or now
        contact.erased_at = now
        contact.save()
        event_add(contact, "erased", "Personal data erased at the person's request",
               {"by": getattr(actor, "pk", None)}, at=now)
    return contact

