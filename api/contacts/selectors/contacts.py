"""What a live contact is, where a merged one went, and the contact as the API shows it."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db.models import QuerySet

from api.common.errors import NotFoundError
from api.contacts.models import Contact
from api.contacts.registry import contact_attributes

# --- the published surface: what other apps read of the customer file ------------------------------
# Other apps never read ``Contact`` (nor its table) themselves: they call these, so that what a
# live contact is, and where a merged contact went, is decided here once.

# Longest merge chain followed. A merge repoints the contacts already merged into its source at its
# target, so a chain has one hop; the bound only guards against a corrupt file (a hand-edited cycle).
MERGE_CHAIN_MAX_HOPS = 10


def contacts_live() -> QuerySet[Contact]:
    """The live contacts: neither merge tombstones (``merged_into``) nor erased (``erased_at``).

    The one definition of a live contact; other apps compose it further (order, values, filters on
    the fields they need) instead of writing the filter themselves.
    """
    return Contact.objects.filter(merged_into__isnull=True, erased_at__isnull=True)


def contact_id_resolve(contact_id: int) -> int | None:
    """The contact that ``contact_id`` stands for today: itself, or the survivor of its merge chain.

    None when there is no such contact, or when the chain is longer than ``MERGE_CHAIN_MAX_HOPS`` or
    loops (neither happens through ``contact_merge``). The survivor may be erased: callers that need a
    live contact check ``contact_is_live``. One query per hop (one in practice).
    """
    seen: set[int] = set()
    current = contact_id
    for _hop in range(MERGE_CHAIN_MAX_HOPS + 1):
        row = Contact.objects.filter(pk=current).values_list("pk", "merged_into_id").first()
        if row is None:
            return None
        merged_into = row[1]
        if merged_into is None:
            return current
        seen.add(current)
        if merged_into in seen:
            return None  # a cycle
        current = merged_into
    return None


def contact_ids_resolve(contact_ids: Iterable[int]) -> dict[int, int]:
    """``{contact_id: surviving contact id}`` for many contacts at once (``contact_id_resolve`` in bulk):
    one query per hop for all of them. Unknown ids, too long chains and cycles are left out."""
    pending = {cid: cid for cid in set(contact_ids)}  # asked id -> where its walk stands
    resolved: dict[int, int] = {}
    seen: dict[int, set[int]] = {cid: set() for cid in pending}
    for _hop in range(MERGE_CHAIN_MAX_HOPS + 1):
        if not pending:
            break
        rows = dict(Contact.objects.filter(pk__in=set(pending.values())).values_list("pk", "merged_into_id"))
        following: dict[int, int] = {}
        for asked, current in pending.items():
            if current not in rows:
                continue
            merged_into = rows[current]
            if merged_into is None:
                resolved[asked] = current
            elif merged_into not in seen[asked] and merged_into != asked:
                seen[asked].add(current)
                following[asked] = merged_into
        pending = following
    return resolved


def contact_is_live(contact_id: int) -> bool:
    """Whether ``contact_id`` is a live contact (not merged away, not erased)."""
    return contacts_live().filter(pk=contact_id).exists()


def contact_exists(contact_id: int) -> bool:
    """Whether a contact row ``contact_id`` exists at all (merge tombstones and erased ones included)."""
    return Contact.objects.filter(pk=contact_id).exists()


def contact_live_get(contact_id: int) -> Contact | None:
    """The live contact ``contact_id`` (for its identities, names, consent), or None when there is none,
    or it was merged or erased. The merge chain is not followed: call ``contact_id_resolve`` first."""
    return contacts_live().filter(pk=contact_id).first()


def contact_find(contact_id: int) -> Contact | None:
    """The contact row ``contact_id`` as it is (tombstones and erased ones too), without related rows;
    None when there is none. ``contact_get`` is the same with tags and consents, 404 when missing."""
    return Contact.objects.filter(pk=contact_id).first()


def contact_get(contact_id: int) -> Contact:
    """The contact ``contact_id`` (404 ``NotFoundError`` when there is none). Merge tombstones are
    returned as they are; see ``merged_into_id``."""
    contact = (Contact.objects.select_related("owner", "referred_by")
               .prefetch_related("tags", "consents", "identities").filter(pk=contact_id).first())
    if contact is None:
        raise NotFoundError(f"No contact #{contact_id}.")
    return contact


def contact_list() -> QuerySet[Contact]:
    """Active contacts with what the list shows, for the filter set of ``filters.ContactFilter``."""
    return contacts_live().select_related("owner").prefetch_related("tags", "identities")


def contact_attribute_values(contact_ids: list[int]) -> dict[int, dict[str, datetime | None]]:
    """``{contact_id: {attribute name: value or None}}``: what other apps registered
    (``registry.register_contact_attribute``), one query per attribute for all the ids."""
    attributes = contact_attributes()
    out: dict[int, dict[str, datetime | None]] = {cid: dict.fromkeys(attributes) for cid in contact_ids}
    if not contact_ids:
        return out
    for name, attribute in attributes.items():
        for cid, value in attribute.values(list(contact_ids)).items():
            if cid in out:
                out[cid][name] = value
    return out
