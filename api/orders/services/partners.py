"""Partners (resellers), their API keys and how a request's key is authenticated."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from api.common.errors import ConflictError, NotFoundError, field_error
from api.orders.models import Partner, PartnerApiKey
from api.orders.services._shared import UNSET, Unset, given, invalid
from integrations.webhooks import UnsafeWebhookUrl, validate_public_https_url


def _check_webhook_url(url: str) -> None:
    """Refuse a webhook URL that is not public https (a 400 on ``webhook_url``); empty is allowed."""
    if not url:
        return
    try:
        validate_public_https_url(url, allow_loopback=settings.PARTNER_WEBHOOKS_ALLOW_LOOPBACK)
    except UnsafeWebhookUrl as exc:
        raise invalid("webhook_url", str(exc), "unsafe_url") from None


# A signing secret a partner brings must be as hard to guess as the ones we generate (32 random
# bytes give 43 characters of ``token_urlsafe``); printable ASCII without spaces, so that it reads
# back byte for byte from any partner's configuration file.
WEBHOOK_SECRET_MIN_LENGTH = 32
WEBHOOK_SECRET_MAX_LENGTH = 100  # the column's length
_WEBHOOK_SECRET_CHARACTERS = re.compile(r"[!-~]+")


def webhook_secret_generate() -> str:
    """A new webhook signing secret: 32 random bytes, URL-safe base64 (43 characters)."""
    return secrets.token_urlsafe(32)


def _check_webhook_secret(secret: str) -> None:
    if not WEBHOOK_SECRET_MIN_LENGTH <= len(secret) <= WEBHOOK_SECRET_MAX_LENGTH:
        raise invalid("webhook_secret", f"Between {WEBHOOK_SECRET_MIN_LENGTH} and {WEBHOOK_SECRET_MAX_LENGTH} "
                      "characters; leave it out to have one generated.", "invalid_secret")
    if not _WEBHOOK_SECRET_CHARACTERS.fullmatch(secret):
        raise invalid("webhook_secret", "Printable ASCII characters only, without spaces.", "invalid_secret")


def partner_create(*, name: str, contact_person: str = "", email: str = "", phone: str = "",
                   discount_percent: int = 0, webhook_url: str = "", active: bool = True,
                   webhook_secret: str = "") -> Partner:
    """Add a reseller; a webhook URL must be public https (see ``integrations.webhooks``).

    The signing secret is the one given (a partner that already has one keeps it; it must be 32 to
    100 printable characters, else a 400 on ``webhook_secret``) or a generated one. The caller shows
    it this once: lists and details never carry it.
    """
    if Partner.objects.filter(name=name).exists():
        raise ConflictError(f"A partner named {name} exists.", code="duplicate_partner",
                            errors=[field_error("name", "Already used.", "unique")])
    if not 0 <= discount_percent <= 90:
        raise invalid("discount_percent", "Between 0 and 90.")
    if webhook_secret:
        _check_webhook_secret(webhook_secret)
    _check_webhook_url(webhook_url)
    return Partner.objects.create(name=name, contact_person=contact_person, email=email, phone=phone,
                                  discount_percent=discount_percent, webhook_url=webhook_url, active=active,
                                  webhook_secret=webhook_secret or webhook_secret_generate())


def partner_update(*, partner_id: int, rotate_secret: bool = False, name: str | Unset = UNSET,
                   contact_person: str | Unset = UNSET, email: str | Unset = UNSET, phone: str | Unset = UNSET,
                   discount_percent: int | Unset = UNSET, webhook_url: str | Unset = UNSET,
                   active: bool | Unset = UNSET) -> Partner:
    """Change the given fields of a partner; a new webhook URL is checked like on creation, and
    ``rotate_secret`` generates a new signing secret. Forgets the partner's cached API keys."""
    fields = given(name=name, contact_person=contact_person, email=email, phone=phone,
                   discount_percent=discount_percent, webhook_url=webhook_url, active=active)
    with transaction.atomic():
        partner = Partner.objects.select_for_update().filter(pk=partner_id).first()
        if partner is None:
            raise NotFoundError(f"No partner #{partner_id}.")
        if isinstance(name, str) and Partner.objects.filter(name=name).exclude(pk=partner_id).exists():
            raise ConflictError(f"A partner named {name} exists.", code="duplicate_partner",
                                errors=[field_error("name", "Already used.", "unique")])
        if isinstance(webhook_url, str):
            _check_webhook_url(webhook_url)
        if isinstance(discount_percent, int) and not 0 <= discount_percent <= 90:
            raise invalid("discount_percent", "Between 0 and 90.")
        for field_name, value in fields.items():
            setattr(partner, field_name, value)
        if rotate_secret:
            partner.webhook_secret = webhook_secret_generate()
        partner.save()
        partner_api_keys_forget(partner_id=partner.pk)  # cached keys carry the partner (active, discount)
        return partner


def partner_webhook_secret_rotate(*, partner_id: int) -> Partner:
    """Give a partner a new generated webhook signing secret; the caller shows it this once.

    Deliveries still waiting are signed with the new secret when they are sent: the partner
    switches its configuration to the new secret as soon as it reads it.
    """
    return partner_update(partner_id=partner_id, rotate_secret=True)


def api_key_hash(raw_key: str) -> str:
    """The stored form of an API key: its SHA-256, hex."""
    return hashlib.sha256(raw_key.encode()).hexdigest()


def partner_api_key_create(*, partner_id: int, name: str = "", actor: Any = None) -> tuple[PartnerApiKey, str]:
    """Create an API key; returns the row and the key, which is shown this once and stored only hashed."""
    if not Partner.objects.filter(pk=partner_id).exists():
        raise NotFoundError(f"No partner #{partner_id}.")
    prefix = "cfk_" + secrets.token_hex(4)
    raw = f"{prefix}_{secrets.token_urlsafe(32)}"
    key = PartnerApiKey.objects.create(partner_id=partner_id, name=name, prefix=prefix, key_hash=api_key_hash(raw),
                                       created_by=actor if getattr(actor, "pk", None) else None)
    return key, raw


def partner_api_key_revoke(*, partner_id: int, key_id: int) -> PartnerApiKey:
    """Revoke a key at once; revoking twice keeps the first date."""
    key = PartnerApiKey.objects.filter(pk=key_id, partner_id=partner_id).first()
    if key is None:
        raise NotFoundError(f"No key #{key_id} for partner #{partner_id}.")
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
    partner_api_keys_forget(partner_id=partner_id)
    return key


# Writing last_used_at on every request would turn each partner read into a write; once a minute is enough.
_LAST_USED_RESOLUTION = timedelta(seconds=60)
# Resellers poll several times a second at peak: the key and its partner are kept in the shared
# cache instead of joined on every request. Revoking a key or changing a partner (services and
# admin) forgets the entries at once; the lifetime only bounds a change made behind their back.
_API_KEY_CACHE_SECONDS = 300


def _api_key_cache_key(key_hash: str) -> str:
    return f"partner-api-key:{key_hash}"


def partner_api_keys_forget(*, partner_id: int) -> None:
    """Drop the cached keys of a partner, now and again once the current transaction commits
    (a request authenticating in between could otherwise cache the state being replaced)."""
    names = [_api_key_cache_key(h) for h in PartnerApiKey.objects.filter(partner_id=partner_id)
             .values_list("key_hash", flat=True)]
    cache.delete_many(names)
    transaction.on_commit(lambda: cache.delete_many(names))


def partner_api_key_authenticate(*, raw_key: str) -> PartnerApiKey | None:
    """The active key whose hash matches ``raw_key``, with its partner, or None; stamps last use.

    A cache hit costs no query; a miss is one indexed lookup by hash. Unknown keys are not cached,
    so guessing cannot fill the cache.
    """
    digest = api_key_hash(raw_key)
    name = _api_key_cache_key(digest)
    key = cache.get(name)
    if key is None:
        key = (PartnerApiKey.objects.select_related("partner")
               .filter(key_hash=digest, revoked_at__isnull=True, partner__active=True).first())
        if key is None:
            return None
        cache.set(name, key, _API_KEY_CACHE_SECONDS)
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > _LAST_USED_RESOLUTION:
        PartnerApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
        cache.set(name, key, _API_KEY_CACHE_SECONDS)
    return key

