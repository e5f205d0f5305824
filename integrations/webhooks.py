"""Signed outbound webhooks to partners, with a server-side request forgery guard (no Django).

- ``sign(secret, timestamp, body)`` is ``sha256=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>``;
  a partner recomputes it from the ``X-Confiotes-Timestamp`` header and the raw body.
- ``validate_public_https_url(url, allow_loopback)`` resolves the host and refuses loopback,
  private, link-local, multicast, reserved and unspecified addresses. With ``allow_loopback``
  (tests only) an address that resolves to loopback only is accepted, over ``http`` too.
- ``post_signed(...)`` checks the URL again right before sending (DNS may have changed since
  the partner saved it), never follows redirects (a redirect could point inside) and returns a
  ``DeliveryResult`` instead of raising: the caller records every attempt.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests

USER_AGENT = "Confiotes-Webhooks/1.0"


class UnsafeWebhookUrl(ValueError):
    """The URL is not ``https`` or resolves to an address we must not call."""


@dataclass(frozen=True)
class DeliveryResult:
    ok: bool
    status_code: int | None
    error: str
    duration_ms: int
    retryable: bool = True


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The value of ``X-Confiotes-Signature`` for ``body`` sent at ``timestamp``."""
    message = timestamp.encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    """Constant-time check of a signature (what a partner does; used by the test partner server)."""
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def _resolve(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeWebhookUrl(f"The host {host!r} does not resolve ({exc}).") from None
    addresses = []
    for info in infos:
        raw = str(info[4][0]).split("%", 1)[0]  # drop an IPv6 zone id
        addresses.append(ipaddress.ip_address(raw))
    if not addresses:
        raise UnsafeWebhookUrl(f"The host {host!r} does not resolve.")
    return addresses


def _is_internal(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return (address.is_private or address.is_loopback or address.is_link_local or address.is_multicast
            or address.is_reserved or address.is_unspecified or not address.is_global)


def validate_public_https_url(url: str, allow_loopback: bool = False) -> None:
    """Raise ``UnsafeWebhookUrl`` unless ``url`` is https and every address of its host is public.

    With ``allow_loopback`` (a test setting) a host whose addresses are all loopback is accepted,
    over http or https; private and link-local addresses stay refused.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeWebhookUrl(f"Not a valid URL: {exc}.") from None
    host = parts.hostname
    if parts.scheme not in ("https", "http") or not host:
        raise UnsafeWebhookUrl("The webhook URL must be an absolute https:// URL.")
    if parts.username or parts.password:
        raise UnsafeWebhookUrl("The webhook URL must not carry credentials.")
    addresses = _resolve(host, port or (443 if parts.scheme == "https" else 80))
    if allow_loopback and all(a.is_loopback for a in addresses):
        return
    if parts.scheme != "https":
        raise UnsafeWebhookUrl("The webhook URL must use https.")
    internal = [str(a) for a in addresses if _is_internal(a)]
    if internal:
        raise UnsafeWebhookUrl(
            f"The host {host!r} resolves to a loopback, private or link-local address ({', '.join(internal)})."
        )


def post_signed(url: str, body: bytes, secret: str, timestamp: str | None = None, timeout: float = 10.0, *,
                allow_loopback: bool = False, headers: dict[str, str] | None = None,
                session: requests.Session | None = None) -> DeliveryResult:
    """POST ``body`` (JSON bytes) to ``url`` signed with ``secret``; 2xx is success.

    Never raises for HTTP or network trouble: a timeout, a connection error or a 5xx/429 is a
    retryable failure; an unsafe URL is not retryable. The secret never appears in ``error``.
    """
    started = time.monotonic()

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        validate_public_https_url(url, allow_loopback=allow_loopback)
    except UnsafeWebhookUrl as exc:
        return DeliveryResult(False, None, str(exc)[:500], elapsed(), retryable=False)
    timestamp = timestamp or str(int(time.time()))
    all_headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Confiotes-Timestamp": timestamp,
        "X-Confiotes-Signature": sign(secret, timestamp, body),
        **(headers or {}),
    }
    http = session or requests
    try:
        response = http.post(url, data=body, headers=all_headers, timeout=timeout, allow_redirects=False)
    except requests.Timeout:
        return DeliveryResult(False, None, f"timeout after {timeout:g} s", elapsed())
    except requests.RequestException as exc:
        return DeliveryResult(False, None, f"connection failed: {exc.__class__.__name__}", elapsed())
    if 200 <= response.status_code < 300:
        return DeliveryResult(True, response.status_code, "", elapsed())
    excerpt = response.text[:200].replace(secret, "***") if secret else response.text[:200]
    return DeliveryResult(False, response.status_code, f"HTTP {response.status_code}: {excerpt}", elapsed())
