"""Who owns a phone, WhatsApp number, e-mail or Telegram chat: the main fields of the contacts and the
identity rows (``ContactIdentity``) that upserts, imports and merges write."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.db.models import F, Q
from django.db.models.functions import Lower

from api.contacts.models import Contact, ContactIdentity
from api.contacts.selectors.contacts import contacts_live


def contact_id_by_telegram_chat(chat_id: str | int) -> int | None:
    """The contact owning the Telegram chat ``chat_id`` (identities are unique and cleared on merge and
    erase, so this is a live contact), or None."""
    return Contact.objects.filter(telegram_chat_id=str(chat_id)).values_list("pk", flat=True).first()


# Identities kept as rows (``ContactIdentity``): several per contact, one owner each.
IDENTITY_ROW_KINDS = ("phone", "whatsapp", "email")
# Identities that are columns of the contact alone (one per contact, unique constraints).
_FIELD_ONLY_IDENTITIES = ("telegram_chat_id", "facebook_psid")


def identity_owner_ids(identities: dict[str, str], *, phone_fallback: bool = True) -> dict[str, int]:
    """``{field: contact id}``: who owns each of the given (normalized) identities, ``field`` being one of
    phone, whatsapp, email, telegram_chat_id, facebook_psid.

    A phone, WhatsApp number or e-mail is looked up in the identity rows first (they hold the extra
    numbers a merge brought), then in the contacts' own columns for a contact written without rows (an
    import from before the rows, a fixture); ``identity_owners`` is this rule for many at once. A
    WhatsApp number held in the column of several old contacts answers the oldest. A WhatsApp number
    nobody has as WhatsApp falls back to the owner of that number as a phone (people give the number
    they use on WhatsApp as their phone); the fallback is reported under ``whatsapp`` only when no other
    identity found anyone, as before identities were rows (``phone_fallback=False``
    for a uniqueness check: a WhatsApp number is not taken by someone's phone).
    """
    by_pair = identity_owners((kind, identities[kind]) for kind in IDENTITY_ROW_KINDS if identities.get(kind))
    owners: dict[str, int] = {kind: by_pair[(kind, identities[kind])] for kind in IDENTITY_ROW_KINDS
                              if (kind, identities.get(kind)) in by_pair}
    live = contacts_live()
    for field in _FIELD_ONLY_IDENTITIES:
        value = identities.get(field)
        if value:
            found = live.filter(**{field: value}).order_by("created_at", "pk").values_list("pk", flat=True).first()
            if found is not None:
                owners[field] = found
    wa = identities.get("whatsapp")
    if phone_fallback and wa and "whatsapp" not in owners and not owners:
        as_phone = (ContactIdentity.objects.filter(kind="phone", value=wa).values_list("contact_id", flat=True).first()
                    or live.filter(phone=wa).values_list("pk", flat=True).first())
        if as_phone is not None:
            owners["whatsapp"] = as_phone
    return owners


def identity_owners(pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """``{(kind, value): contact id}``: who owns each of many (normalized) phones, WhatsApp numbers and
    e-mails, ``kind`` being one of ``IDENTITY_ROW_KINDS``; pairs nobody owns are left out.

    The rule of ``identity_owner_ids`` for many identities at once (an import batch): the identity rows
    first (they hold the extra numbers a merge brought), then the columns of the live contacts for a
    contact written without rows; a WhatsApp number in the column of several old contacts answers the
    oldest. No fallback from WhatsApp to phone here (``identity_owner_ids`` adds it for one person).
    One query, and one per kind not all found in it, whatever the number of pairs. ``imports.pg`` has the SQL twin
    (``_sql_owners``), checked against this by tests/contacts/test_import_equivalence.py.
    """
    wanted: dict[str, set[str]] = {}
    for kind, value in pairs:
        if kind in IDENTITY_ROW_KINDS and value:
            wanted.setdefault(kind, set()).add(value)
    owners: dict[tuple[str, str], int] = {}
    if not wanted:
        return owners
    rows = Q()
    for kind, values in wanted.items():
        rows |= Q(kind=kind, value__in=values)
    for kind, value, contact_id in ContactIdentity.objects.filter(rows).values_list("kind", "value", "contact_id"):
        owners[(kind, value)] = contact_id
    for kind, values in wanted.items():
        missing = [v for v in values if (kind, v) not in owners]
        if not missing:
            continue
        live = contacts_live()
        qs = (live.alias(email_l=Lower("email")).filter(email_l__in=missing).annotate(key=Lower("email"))
              if kind == "email" else live.filter(**{f"{kind}__in": missing}).annotate(key=F(kind)))
        # Oldest first, the first one kept: only WhatsApp numbers can have several holders.
        for key, contact_id in qs.order_by("-created_at", "-pk").values_list("key", "pk"):
            owners[(kind, key)] = contact_id
    return owners


def contact_id_by_phone(phone: str) -> int | None:
    """The live contact known by the E.164 ``phone`` (their main phone or one a merge brought), or None."""
    return identity_owner_ids({"phone": phone}).get("phone")


def contact_id_by_whatsapp(number: str) -> int | None:
    """The live contact known by the WhatsApp number ``number`` (E.164), or by that number as a phone
    when no one has it as WhatsApp; None when nobody."""
    return identity_owner_ids({"whatsapp": number}).get("whatsapp")


def contact_id_by_email(email: str) -> int | None:
    """The live contact known by ``email`` (any case), or None."""
    return identity_owner_ids({"email": email.strip().lower()}).get("email")


def contact_identities(contact_id: int) -> list[dict[str, Any]]:
    """Every phone, WhatsApp number and e-mail of the contact: ``{"kind", "value", "primary"}`` rows,
    the main ones (the contact's own fields) first. A main identity without a row (written by an import)
    is listed too."""
    contact = Contact.objects.filter(pk=contact_id).values("phone", "whatsapp", "email").first()
    if contact is None:
        return []
    return identities_with_primary(contact, ContactIdentity.objects.filter(contact_id=contact_id)
                                   .values_list("kind", "value"))


def identities_with_primary(primary: Mapping[str, Any], rows: Iterable[tuple[str, str]]) -> list[dict[str, Any]]:
    """The identity list of one contact from its main fields and its rows (see ``contact_identities``)."""
    out = []
    seen = set()
    for kind in IDENTITY_ROW_KINDS:
        value = primary.get(kind)
        if value:
            value = value.lower() if kind == "email" else value
            out.append({"kind": kind, "value": value, "primary": True})
            seen.add((kind, value))
    for kind, value in sorted(rows):
        if (kind, value) not in seen:
            out.append({"kind": kind, "value": value, "primary": False})
    return out
