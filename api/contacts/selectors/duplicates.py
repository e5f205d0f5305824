"""Likely duplicates for staff to merge, and contacts not verified for a year."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Q, QuerySet, Value
from django.db.models.functions import Coalesce, Lower
from django.utils import timezone

from api.contacts.models import Contact
from api.contacts.selectors.contacts import contact_list, contacts_live

STALE_AFTER = timedelta(days=365)


# --- duplicates, freshness ----------------------------------------------------------------------------


# Two numbers ending with the same 8 digits are probably one line: another prefix, an old 8-digit
# Cameroonian number, a WhatsApp number equal to another contact's phone.
SIMILAR_PHONE_DIGITS = 8


def contact_duplicate_groups(*, limit: int = 100) -> list[dict[str, Any]]:
    """Groups of contacts that are likely the same person, for staff to merge.

    - ``same_name_and_city``: the same name and city, ignoring case;
    - ``similar_phone``: phone or WhatsApp numbers whose last 8 digits match (the same number
      typed with another prefix, an old 8-digit Cameroonian number, a WhatsApp number equal to
      another contact's phone).
    """
    groups: list[dict[str, Any]] = []
    base = contacts_live()
    name_city = (base.exclude(name="").exclude(city="").annotate(n=Lower("name"), c=Lower("city"))
                 .values("n", "c").annotate(count=Count("id")).filter(count__gt=1).order_by("n", "c")[:limit])
    for row in name_city:
        members = list(base.annotate(n=Lower("name"), c=Lower("city")).filter(n=row["n"], c=row["c"])
                       .order_by("pk"))
        groups.append({"reason": "same_name_and_city", "key": f"{row['n']} / {row['c']}", "contacts": members})
    by_suffix: dict[str, set[int]] = defaultdict(set)
    for pk, phone, whatsapp in (base.filter(Q(phone__isnull=False) | Q(whatsapp__isnull=False))
                                .values_list("pk", "phone", "whatsapp").iterator(chunk_size=5000)):
        for number in {phone, whatsapp}:
            if number:
                by_suffix[number[-SIMILAR_PHONE_DIGITS:]].add(pk)
    suffix_groups = sorted((s, ids) for s, ids in by_suffix.items() if len(ids) > 1)
    for suffix, ids in suffix_groups[: max(0, limit - len(groups))]:
        groups.append({"reason": "similar_phone", "key": f"…{suffix}",
                       "contacts": list(Contact.objects.filter(pk__in=ids).order_by("pk"))})
    return groups[:limit]


def contact_duplicates_of(*, contact_id: int, limit: int = 20) -> list[Contact]:
    """The live contacts ``contact_duplicate_groups`` would put in a group with ``contact_id``: the
    same name and city (ignoring case), or a phone or WhatsApp number with the same last 8 digits.

    One query on this contact's own name, city and numbers (a scan of the contacts table, no
    grouping of the whole file): cheap enough to run after every quick add. Oldest first."""
    contact = contacts_live().filter(pk=contact_id).only("name", "city", "phone", "whatsapp").first()
    if contact is None:
        return []
    same = Q()
    if contact.name and contact.city:
        same |= Q(n=Lower(Value(contact.name)), c=Lower(Value(contact.city)))
    for number in {contact.phone, contact.whatsapp}:
        if number:
            suffix = number[-SIMILAR_PHONE_DIGITS:]
            same |= Q(phone__endswith=suffix) | Q(whatsapp__endswith=suffix)
    if not same:
        return []
    return list(contacts_live().alias(n=Lower("name"), c=Lower("city")).filter(same).exclude(pk=contact_id)
                .order_by("pk")[:limit])


def contacts_stale(*, now: datetime | None = None) -> QuerySet[Contact]:
    """Active contacts not verified for a year (never verified: created over a year ago)."""
    cutoff = (now or timezone.now()) - STALE_AFTER
    return (contact_list().alias(checked=Coalesce("last_verified_at", "created_at"))
            .filter(checked__lt=cutoff))
