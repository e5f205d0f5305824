"""Whether a marketing message may go to a contact on a channel now (rule 3: checked at send time)."""

from __future__ import annotations

from collections.abc import Iterable

from api.contacts.enums import Channel
from api.contacts.models import Consent, Contact
from api.contacts.selectors.contacts import contact_id_resolve, contact_ids_resolve

# Which identity a channel needs.
CHANNEL_IDENTITY: dict[str, tuple[str, ...]] = {
    Channel.TELEGRAM: ("telegram_chat_id",),
    Channel.MESSENGER: ("facebook_psid",),
    Channel.WHATSAPP: ("whatsapp", "phone"),
    Channel.INSTAGRAM: ("instagram",),
    Channel.EMAIL: ("email",),
    Channel.SMS: ("phone",),
    Channel.PHONE: ("phone",),
    Channel.IN_PERSON: (),
}


def contact_can_receive(contact_id: int, channel: str) -> tuple[bool, str]:
    """Whether a marketing message may go to this contact on ``channel`` now, and why not.

    Checked at send time (rule 3). Reasons: ``ok``, ``no_such_contact``, ``erased``,
    ``opted_out``, ``no_identity``, ``no_consent``, ``consent_revoked``, ``unreachable``.
    A merge tombstone answers for the contact it was merged into.
    """
    resolved = contact_id_resolve(contact_id)
    contact = None if resolved is None else Contact.objects.filter(pk=resolved).first()
    consent = None if contact is None else Consent.objects.filter(contact=contact, channel=channel).first()
    return _can_receive(contact, consent, channel)


def contacts_can_receive(contact_ids: Iterable[int], channel: str) -> dict[int, tuple[bool, str]]:
    """``contact_can_receive`` for many contacts at once, ``{contact_id: (ok, reason)}``, in three queries
    whatever their number (the nurture dispatcher asks it for each claimed batch)."""
    ids = set(contact_ids)
    resolved = contact_ids_resolve(ids)
    identities = {field for fields in CHANNEL_IDENTITY.values() for field in fields}
    # Only the fields the rule reads: whole contacts cost more to build than the queries themselves.
    contacts = Contact.objects.only("erased_at", "opted_out_at", *identities).in_bulk(set(resolved.values()))
    consents = {c.contact_id: c for c in Consent.objects.filter(contact_id__in=contacts, channel=channel)
                .only("contact_id", "granted_at", "revoked_at", "unreachable_at")}
    return {cid: _can_receive(contacts.get(resolved.get(cid, 0)), consents.get(resolved.get(cid, 0)), channel)
            for cid in ids}


def _can_receive(contact: Contact | None, consent: Consent | None, channel: str) -> tuple[bool, str]:
    """The rule of ``contact_can_receive``, on the resolved contact and its consent on ``channel``."""
    if contact is None:
        return False, "no_such_contact"
    if contact.erased_at:
        return False, "erased"
    if contact.opted_out_at:
        return False, "opted_out"
    fields = CHANNEL_IDENTITY.get(channel)
    if fields is None:
        return False, "unknown_channel"
    if fields and not any(getattr(contact, f) for f in fields):
        return False, "no_identity"
    if consent is None or consent.granted_at is None:
        return False, "no_consent"
    if consent.revoked_at is not None:
        return False, "consent_revoked"
    if consent.unreachable_at is not None:
        return False, "unreachable"
    return True, "ok"
