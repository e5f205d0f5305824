"""What every writer of the customer file shares: identity field names, choice checks, the locked
lookup that follows merges, and the timeline event row."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import Enum
from typing import Any

from django.utils import timezone

from api.common.errors import ApplicationError, NotFoundError, field_error
from api.contacts.models import Contact, ContactEvent
from api.contacts.selectors import contact_id_resolve

# Identities that are unique (each has one owner), in lookup order: the WhatsApp number through the
# identity rows (``ContactIdentity``), the others through the contact's columns as well.
UNIQUE_IDENTITIES = ("phone", "email", "whatsapp", "telegram_chat_id", "facebook_psid")
IDENTITY_FIELDS = ("phone", "email", "whatsapp", "telegram_chat_id", "facebook_psid")
# The kind under which an identity is hashed when erased (a WhatsApp number is a phone number).
DIGEST_KIND = {"phone": "phone", "whatsapp": "phone", "email": "email", "telegram_chat_id": "telegram",
               "facebook_psid": "facebook_psid"}


class Unset(Enum):
    """The default of an update service's argument that was not given: ``None`` clears a field,
    ``UNSET`` leaves it alone."""

    UNSET = "unset"


UNSET = Unset.UNSET
# A contact merged into itself or a chain moved under us: the lookup retries this many times.
_RESOLVE_ATTEMPTS = 3


def check_choice(field: str, value: str | None, choices: Iterable[str]) -> None:
    """400 naming ``field`` when ``value`` is given and is not one of ``choices``."""
    if value is not None and value not in set(choices):
        raise ApplicationError(f"{field}: {value!r} is not one of {', '.join(choices)}.", code="validation_error",
                               errors=[field_error(field, f"{value!r} is not a valid choice.", "invalid_choice")])


def contact_resolve(contact_id: int, *, lock: bool = True, follow_merge: bool = True) -> Contact:
    """The contact ``contact_id`` (the survivor of its merge chain unless ``follow_merge=False``),
    row-locked when ``lock`` (the caller holds a transaction). 404 when there is none.

    The chain is walked by ``selectors.contact_id_resolve`` (the one merge walk); the survivor is then
    locked and checked again, since a merge may have folded it between the walk and the lock.
    """
    target = contact_id
    for _attempt in range(_RESOLVE_ATTEMPTS):
        if follow_merge:
            survivor = contact_id_resolve(target)
            if survivor is None:
                break
            target = survivor
        qs = Contact.objects.select_for_update() if lock else Contact.objects.all()
        contact = qs.filter(pk=target).first()
        if contact is None:
            break
        if not follow_merge or contact.merged_into_id is None:
            return contact
        target = contact.merged_into_id
    raise NotFoundError(f"No contact #{contact_id}.")


def event_add(contact: Contact | int, kind: str, summary: str, data: dict | None = None, *, actor: Any = None,
              at: datetime | None = None) -> ContactEvent:
    """Write one event on the contact's own timeline (summary cut to its column's 500 characters)."""
    contact_id = contact if isinstance(contact, int) else contact.pk
    return ContactEvent.objects.create(contact_id=contact_id, kind=kind, summary=summary[:500], data=data or {},
                                       actor=actor if getattr(actor, "pk", None) else None, at=at or timezone.now())
