"""Partner API keys: ``Authorization: Api-Key <key>``, a permission and a per-key throttle.

The key is random (256 bits), so it is looked up by its SHA-256 in one indexed query: a slow
password hasher would add tens of milliseconds to every partner request for no gain.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.cache import cache
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import BasePermission
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from api.common.cache import shared_redis
from api.orders.models import Partner, PartnerApiKey
from api.orders.services import partner_api_key_authenticate

KEYWORD = "Api-Key"


class PartnerPrincipal:
    """``request.user`` of a partner request: authenticated, never staff."""

    is_authenticated = True
    is_anonymous = False
    is_staff = False
    is_superuser = False
    is_active = True
    pk = None
    id = None

    def __init__(self, partner: Partner):
        self.partner = partner

    def __str__(self) -> str:
        return f"partner:{self.partner.pk}"


class ApiKeyAuthentication(BaseAuthentication):
    """Authenticate a partner by ``Authorization: Api-Key <key>``; ``request.auth`` is the key row."""

    def authenticate(self, request: Any) -> tuple[PartnerPrincipal, PartnerApiKey] | None:
        header = get_authorization_header(request).split()
        if not header or header[0].decode(errors="replace").lower() != KEYWORD.lower():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Invalid Api-Key header: give `Api-Key <key>`.")
        try:
            raw = header[1].decode()
        except UnicodeError:
            raise exceptions.AuthenticationFailed("Invalid API key.") from None
        key = partner_api_key_authenticate(raw_key=raw)
        if key is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        return PartnerPrincipal(key.partner), key

    def authenticate_header(self, request: Any) -> str:
        return KEYWORD


class IsPartner(BasePermission):
    message = "Only partners with an API key may use this endpoint."

    def has_permission(self, request: Any, view: Any) -> bool:
        return isinstance(request.auth, PartnerApiKey)


def request_partner(request: Any) -> Partner:
    return request.auth.partner


def _parse_rate(rate: Any) -> tuple[int | None, int | None]:
    """``"600/min"`` -> ``(600, 60)``, as DRF reads rates; None turns throttling off."""
    if not rate:
        return None, None
    number, period = str(rate).split("/")
    return int(number), {"s": 1, "m": 60, "h": 3600, "d": 86400}[period[0]]


def _count_in_window(name: str, ttl: int) -> int:
    """Count one more request in a window counter of the shared cache and return the count.

    With Redis, ``INCR`` and ``EXPIRE NX`` go in one pipelined round trip on the process's
    connection; through the cache API the same takes two or three.
    """
    client = shared_redis()
    if client is not None:
        key = cache.make_key(name)
        pipe = client.pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, ttl, nx=True)
        count, _ = pipe.execute()
        return int(count)
    try:
        return cache.incr(name)
    except ValueError:  # first request of the window
        return 1 if cache.add(name, 1, ttl) else cache.incr(name)


class PartnerKeyThrottle(BaseThrottle):
    """The ``partner`` rate of ``DEFAULT_THROTTLE_RATES`` (e.g. ``600/min``), counted per API key.

    A fixed-window counter (one ``incr`` in the shared cache) rather than DRF's sliding log, which
    pickles up to ``rate`` timestamps on every request: the cost stays flat however high the rate.
    A client may get up to twice the rate across a window boundary, which is fine for abuse control.
    """

    scope = "partner"
    THROTTLE_RATES = api_settings.DEFAULT_THROTTLE_RATES

    def __init__(self) -> None:
        self.num_requests, self.duration = _parse_rate(self.THROTTLE_RATES.get(self.scope))
        self._wait = 0.0

    def allow_request(self, request: Any, view: Any) -> bool:
        if not isinstance(request.auth, PartnerApiKey) or self.num_requests is None or self.duration is None:
            return True
        now = time.time()
        window = int(now // self.duration)
        count = _count_in_window(f"throttle_{self.scope}_key{request.auth.pk}_{window}", self.duration + 1)
        if count <= self.num_requests:
            return True
        self._wait = (window + 1) * self.duration - now
        return False

    def wait(self) -> float | None:
        return max(1.0, self._wait)


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "api.orders.auth.ApiKeyAuthentication"
    name = "Api-Key"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {"type": "apiKey", "in": "header", "name": "Authorization",
                "description": "`Api-Key <key>`: a partner API key, created by staff and shown once."}
