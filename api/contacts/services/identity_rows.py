"""The identity rows of a contact (``ContactIdentity``): every phone, WhatsApp number and e-mail the
person is known by, the main ones (the contact's own fields) and the extra ones a merge brought.

Writers of the customer file call these after changing a contact's main identities, so that a lookup
(``selectors.identity_owner_ids``) finds the person by any of their numbers and a number has one owner.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.db.models import Q

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
    before identities were rows); a value another contact holds is left to its owner. Returns how many
    rows were made (``identity_rows_heal_many`` for one contact)."""
    return identity_rows_heal_many({contact.pk: {kind: getattr(contact, kind) for kind in IDENTITY_ROW_KINDS}})


# Values per query of ``identity_rows_heal_many``: well under SQLite's limit on query parameters.
_HEAL_CHUNK = 500


def identity_rows_heal_many(mains: Mapping[int, Mapping[str, Any]]) -> int:
    """``identity_rows_heal`` for many contacts at once (an import batch); returns how many rows were made.

    ``mains`` maps a contact id to its main ``phone``, ``whatsapp`` and ``email`` (a dict of its fields;
    other keys are ignored). A value that has a row already keeps its owner, whoever that is, so a contact
    that has its rows gets nothing and a second call makes nothing. Two contacts given one value that
    nobody holds (old data: one WhatsApp number in the column of two contacts): the lower id gets it.

    A few queries, not one per contact: the values already held (one query per ``_HEAL_CHUNK`` values),
    then, when some are not, their insert and a look at who holds them after it (a concurrent writer may
    have taken one meanwhile: it stays theirs and is not counted).
    ``imports.pg._sql_identities`` is the set-based SQL twin on PostgreSQL, checked against this by
    tests/contacts/test_import_equivalence.py.
    """
    wanted: dict[tuple[str, str], int] = {}
    for contact_id in sorted(mains):
        for kind in IDENTITY_ROW_KINDS:
            value = identity_value(kind, mains[contact_id].get(kind))
            if value:
                wanted.setdefault((kind, value), contact_id)  # the lower id first
    held = _identity_row_owners(wanted)
    rows = [ContactIdentity(contact_id=contact_id, kind=kind, value=value)
            for (kind, value), contact_id in wanted.items() if (kind, value) not in held]
    if not rows:
        return 0
    ContactIdentity.objects.bulk_create(rows, ignore_conflicts=True, batch_size=_HEAL_CHUNK)
    owners = _identity_row_owners([(row.kind, row.value) for row in rows])
    return sum(1 for row in rows if owners.get((row.kind, row.value)) == row.contact_id)


def _identity_row_owners(pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """``{(kind, value): contact id}`` of the given pairs that have an identity row (rows only: not the
    contacts' columns, unlike ``selectors.identity_owners``); one query per ``_HEAL_CHUNK`` pairs."""
    pairs = list(pairs)
    owners: dict[tuple[str, str], int] = {}
    for start in range(0, len(pairs), _HEAL_CHUNK):
        by_kind: dict[str, list[str]] = {}
        for kind, value in pairs[start:start + _HEAL_CHUNK]:
            by_kind.setdefault(kind, []).append(value)
        rows = Q()
        for kind, values in by_kind.items():
            rows |= Q(kind=kind, value__in=values)
        owners.update(((kind, value), contact_id) for kind, value, contact_id
                      in ContactIdentity.objects.filter(rows).values_list("kind", "value", "contact_id"))
    return owners


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
