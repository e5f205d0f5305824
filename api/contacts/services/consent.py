"""Consent per channel and the global opt-out: what the person agreed to, withdrew, or cannot receive."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from api.common.errors import ConflictError
from api.contacts.enums import Channel
from api.contacts.models import Consent, Contact
from api.contacts.services._base import check_choice, contact_resolve, event_add


def consent_grant(*, contact_id: int, channel: str, how: str) -> Consent:
    """Record that the contact agreed to messages on ``channel`` (``how``: "bot /start", "form"...).

    A fresh explicit consent also lifts a global opt-out and an earlier "unreachable" mark on
    that channel: the person came back by themselves.
    """
    check_choice("channel", channel, Channel.values)
    now = timezone.now()
    with transaction.atomic():
        contact = contact_resolve(contact_id)
        if contact.erased_at:
            raise ConflictError(f"Contact #{contact.pk} was erased.", code="erased")
        consent, _ = Consent.objects.get_or_create(contact=contact, channel=channel)
        consent.granted_at, consent.granted_how = now, how[:200]
        consent.revoked_at, consent.revoked_how = None, ""
        consent.unreachable_at, consent.unreachable_reason = None, ""
        consent.save()
        if contact.opted_out_at:
            contact.opted_out_at = None
            contact.save(update_fields=["opted_out_at", "updated_at"])
        event_add(contact, "consent_granted", f"Consent granted on {channel} ({how})", {"channel": channel, "how": how})
    return consent


def consent_revoke(*, contact_id: int, channel: str, how: str) -> Consent:
    """Record that the contact withdrew consent on ``channel``. Idempotent."""
    check_choice("channel", channel, Channel.values)
    with transaction.atomic():
        contact = contact_resolve(contact_id)
        consent, _ = Consent.objects.get_or_create(contact=contact, channel=channel)
        if consent.revoked_at is None:
            consent.revoked_at, consent.revoked_how = timezone.now(), how[:200]
            consent.save()
            event_add(contact, "consent_revoked", f"Consent revoked on {channel} ({how})",
                   {"channel": channel, "how": how})
    return consent


def contact_opt_out(*, contact_id: int, how: str) -> Contact:
    """Global opt-out ("STOP"): no marketing on any channel; every consent is revoked. Idempotent."""
    with transaction.atomic():
        contact = contact_resolve(contact_id)
        now = timezone.now()
        Consent.objects.filter(contact=contact, revoked_at__isnull=True).update(revoked_at=now, revoked_how=how[:200])
        if contact.opted_out_at is None:
            contact.opted_out_at = now
            contact.save(update_fields=["opted_out_at", "updated_at"])
            event_add(contact, "opted_out", f"Opted out of all messages ({how})", {"how": how})
    return contact


def contact_mark_unreachable(*, contact_id: int, channel: str, reason: str) -> Consent:
    """The provider said this identity cannot be reached (bot blocked, no such chat): stop using it."""
    check_choice("channel", channel, Channel.values)
    with transaction.atomic():
        contact = contact_resolve(contact_id)
        consent, _ = Consent.objects.get_or_create(contact=contact, channel=channel)
        if consent.unreachable_at is None:
            consent.unreachable_at, consent.unreachable_reason = timezone.now(), reason[:200]
            consent.save()
            event_add(contact, "unreachable", f"Unreachable on {channel}: {reason}", {"channel": channel,
                                                                                   "reason": reason})
    return consent

