"""The identity rows of a contact (``ContactIdentity``): every phone, WhatsApp number and e-mail the
person is known by, the main ones (the contact's own fields) and the extra ones a merge brought.

Writers of the customer file call these after changing a contact's main identities, so that a lookup
(``selectors.identity_owner_ids``) finds the person by any of their numbers and a number has one owner.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from api.contacts.models import Contact, ContactIdentity
from api.contacts.selectors import IDENTITY_ROW_KINDS


def identity_value(kind: str, value: Any) -> str:
    """The stored form of an identity value: e-mails in lower case, numbers as given (already E.164)."""
    text = str(value or "").strip()
    return text.lower() if kind == "email" else text


def identity_rows_claim(contact_id: int, pairs: Iterable[tuple[str, Any]], *, strict: bool = True) -> int:
    """Give the contact the identities ``(kind, value)`` it does not hold yet; returns how many rows were made.

    ``strict``: a value another contact holds raises ``IntegrityError`` (the caller runs in a savepoint
    and answers 409 or retries its lookup); otherwise such a value is skipped, its owner keeps it.
    """
    wanted = {(kind, identity_value(kind, value)) for kind, value in pairs if kind in IDENTITY_ROW_KINDS and value}
    if not wanted:
        return 0
    held = set(ContactIdentity.objects.filter(contact_id=contact_id).values_list("kind", "value"))
    rows = [ContactIdentity(contact_id=contact_id, kind=kind, value=value) for kind, value in sorted(wanted - held)]
    if not rows:
        return 0
    if strict:
        ContactIdentity.objects.bulk_create(rows)
        return len(rows)
    before = ContactIdentity.objects.filter(contact_id=contact_id).count()
    ContactIdentity.objects.bulk_create(rows, ignore_conflicts=True)
    return ContactIdentity.objects.filter(contact_id=contact_id).count() - before


def identity_rows_of_fields(contact: Contact) -> list[tuple[str, str]]:
    """The ``(kind, value)`` of the contact's main phone, WhatsApp number and e-mail that are set."""
    return [(kind, identity_value(kind, getattr(contact, kind))) for kind in IDENTITY_ROW_KINDS
            if getattr(contact, kind)]


def identity_rows_heal(contact: Contact) -> int:
    """Make rows for the contact's main identities that have none (a contact written by an import or
    before identities were rows); a value another contact holds is left to its owner."""
    return identity_rows_claim(contact.pk, identity_rows_of_fields(contact), strict=False)


def identity_rows_replace(contact: Contact, previous: Mapping[str, Any]) -> None:
    """After a staff edit of the main identities: the replaced or cleared values stop being the contact's
    (a typo corrected is no identity), the new ones become theirs (``IntegrityError`` when taken)."""
    claim = []
    for kind in IDENTITY_ROW_KINDS:
        old, new = identity_value(kind, previous.get(kind)), identity_value(kind, getattr(contact, kind))
        if old == new:
            continue
        if old:
            ContactIdentity.objects.filter(contact_id=contact.pk, kind=kind, value=old).delete()
        if new:
            claim.append((kind, new))
    identity_rows_claim(contact.pk, claim)


def identity_rows_move(*, source_id: int, target_id: int) -> int:
    """Hand every identity row of ``source_id`` to ``target_id`` (a merge); returns how many moved."""
    return ContactIdentity.objects.filter(contact_id=source_id).update(contact_id=target_id)
