"""Signed outbound webhooks to partners, with a server-side request forgery guard (no Django).

- ``sign(secret, timestamp, body)`` is ``sha256=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>``;
  a partner recomputes it from the ``X-Confiotes-Timestamp`` header and the raw body.
- ``vet_webhook_url(url, allow_loopback, resolver)`` resolves the host once and refuses loopback,
  private, link-local, multicast, reserved and unspecified addresses, and IPv6 forms that carry
  such an IPv4 address inside (IPv4-mapped, IPv4-compatible, 6to4, NAT64, Teredo). It returns the
  address it vetted. With ``allow_loopback`` (tests only) a host that resolves to loopback only is
  accepted, over ``http`` too.
- ``post_signed(...)`` vets the URL again right before sending (DNS may have changed since the
  partner saved it) and then connects to **that vetted address**, never resolving the name a
  second time: a partner who controls its DNS cannot answer a public address to the check and
  ``127.0.0.1`` to the connection (DNS rebinding). TLS still sends the URL's host name (SNI) and
  checks the certificate against it, and the ``Host`` header is the URL's. Redirects are never
  followed (one could point inside) and proxies from the environment are ignored (the proxy
  would resolve the name again).
- Whatever stops a delivery before an HTTP answer (the address is not allowed, the name does not
  resolve, the connection is refused, TLS fails, a timeout) ``DeliveryResult.error`` is the same
  sentence, and every such failure is retried alike: a partner reading its delivery log cannot
  use us to tell an open port from a closed one. ``DeliveryResult.detail`` says what happened,
  for the staff's log only; it never holds the secret nor the URL's path and query.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from integrations.http import scrub

USER_AGENT = "Confiotes-Webhooks/1.0"

# The one sentence a partner reads for any failure before an HTTP answer (see the module docstring).
UNREACHABLE_ERROR = "The webhook endpoint could not be reached."

# How much of a partner's error answer is kept in the delivery log: enough to read an error message.
_EXCERPT_BYTES = 1024

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# ``(host, port) -> addresses``: the system's DNS by default; tests pass a fake one.
Resolver = Callable[[str, int], Sequence[str]]

# NAT64 prefixes (RFC 6052 well-known, RFC 8215 local use): the last 32 bits are the IPv4 address
# the translator connects to. The local-use prefix leads into a private network whatever it carries.
_NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL_USE = ipaddress.IPv6Network("64:ff9b:1::/48")
# IPv4-compatible addresses (``::a.b.c.d``, deprecated by RFC 4291) still reach the IPv4 host on
# some stacks; ``::`` and ``::1`` are in this range too and are refused on their own account.
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


class UnsafeWebhookUrl(ValueError):
    """The URL is not ``https`` or resolves to an address we must not call."""


@dataclass(frozen=True)
class DeliveryResult:
    """What a delivery attempt gave: ``error`` may be shown to the partner, ``detail`` only to staff."""

    ok: bool
    status_code: int | None
    error: str
    duration_ms: int
    retryable: bool = True
    detail: str = ""


@dataclass(frozen=True)
class VettedTarget:
    """A webhook URL taken apart, with the one address it may be sent to."""

    scheme: str
    host: str  # as in the URL, without brackets: what TLS checks the certificate against
    netloc: str  # the ``Host`` header
    port: int
    path: str  # path and query, never logged
    address: IPAddress

    @property
    def pinned_url(self) -> str:
        """The URL with the vetted address in place of the host name."""
        literal = f"[{self.address}]" if self.address.version == 6 else str(self.address)
        return f"{self.scheme}://{literal}:{self.port}{self.path}"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The value of ``X-Confiotes-Signature`` for ``body`` sent at ``timestamp``."""
    message = timestamp.encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    """Constant-time check of a signature (what a partner does; used by the test partner server)."""
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def system_resolver(host: str, port: int) -> list[str]:
    """The addresses the system's DNS gives for ``host``, in its order of preference."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _resolve(host: str, port: int, resolver: Resolver) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]  # a literal address needs no DNS
    except ValueError:
        pass
    try:
        answers = resolver(host, port)
    except (OSError, UnicodeError) as exc:
        raise UnsafeWebhookUrl(f"The host {host!r} does not resolve ({exc}).") from None
    addresses = []
    for answer in answers:
        try:
            addresses.append(ipaddress.ip_address(answer.split("%", 1)[0]))  # drop an IPv6 zone id
        except ValueError:
            raise UnsafeWebhookUrl(f"The host {host!r} resolves to {answer!r}, not an address.") from None
    if not addresses:
        raise UnsafeWebhookUrl(f"The host {host!r} does not resolve.")
    return addresses


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address leads to through a transition mechanism (NAT64 aside:
    see ``is_internal``)."""
    found = []
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)  # (relay server, client): either leads into the IPv4 network
    if address in _IPV4_COMPATIBLE:
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def _is_internal_one(address: IPAddress) -> bool:
    return (address.is_private or address.is_loopback or address.is_link_local or address.is_multicast
            or address.is_reserved or address.is_unspecified or not address.is_global)


def is_internal(address: IPAddress) -> bool:
    """True unless ``address`` and every IPv4 address it embeds are public unicast addresses."""
    if isinstance(address, ipaddress.IPv6Address) and address in _NAT64_WELL_KNOWN:
        # Python files the NAT64 prefix under "reserved" (it lies in ::/8), yet a server on an
        # IPv6-only network reaches every IPv4-only partner through it: judge the IPv4 address.
        return _is_internal_one(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    if _is_internal_one(address):
        return True
    if isinstance(address, ipaddress.IPv6Address):
        return address in _NAT64_LOCAL_USE or any(_is_internal_one(inner) for inner in _embedded_ipv4(address))
    return False


def _is_loopback(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def vet_webhook_url(url: str, allow_loopback: bool = False, resolver: Resolver | None = None) -> VettedTarget:
    """Resolve the URL's host once, check every address, and return the first one to connect to.

    Raises ``UnsafeWebhookUrl`` unless the URL is https without credentials and every address of
    its host is public. With ``allow_loopback`` (a test setting) a host whose addresses are all
    loopback is accepted, over http or https; private and link-local addresses stay refused.
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
    port = port or (443 if parts.scheme == "https" else 80)
    addresses = _resolve(host, port, resolver or system_resolver)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    target = VettedTarget(scheme=parts.scheme, host=host, netloc=parts.netloc, port=port, path=path,
                          address=addresses[0])
    if allow_loopback and all(_is_loopback(a) for a in addresses):
        return target
    if parts.scheme != "https":
        raise UnsafeWebhookUrl("The webhook URL must use https.")
    internal = [str(a) for a in addresses if is_internal(a)]
    if internal:
        raise UnsafeWebhookUrl(
            f"The host {host!r} resolves to a loopback, private or link-local address ({', '.join(internal)})."
        )
    return target


def validate_public_https_url(url: str, allow_loopback: bool = False, resolver: Resolver | None = None) -> None:
    """Raise ``UnsafeWebhookUrl`` unless ``url`` may receive webhooks (see ``vet_webhook_url``)."""
    vet_webhook_url(url, allow_loopback=allow_loopback, resolver=resolver)


class _PinnedHostAdapter(HTTPAdapter):
    """Sends to the vetted address in the URL while TLS names the original host.

    urllib3's ``server_hostname`` is the name sent in SNI and ``assert_hostname`` the name the
    certificate must carry (what ``requests_toolbelt``'s ``HostHeaderSSLAdapter`` does); both are
    dropped by urllib3 for plain http.
    """

    def __init__(self, host: str):
        self._host = host
        super().__init__(max_retries=0)

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any) -> None:
        """Create the pool manager with the host name for SNI and the certificate check."""
        pool_kwargs.update(server_hostname=self._host, assert_hostname=self._host)
        super().init_poolmanager(connections, maxsize, block=block, **pool_kwargs)


def _root_cause(exc: BaseException) -> BaseException:
    """The innermost error behind a requests error (refused, TLS, timeout…), for the staff's log."""
    seen: set[int] = set()
    current: BaseException = exc
    while id(current) not in seen:
        seen.add(id(current))
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            current = reason
        elif current.args and isinstance(current.args[0], BaseException):
            current = current.args[0]
        elif current.__cause__ is not None:
            current = current.__cause__
        else:
            break
    return current


def post_signed(url: str, body: bytes, secret: str, timestamp: str | None = None, timeout: float = 10.0, *,
                allow_loopback: bool = False, headers: dict[str, str] | None = None,
                resolver: Resolver | None = None, verify_tls: bool | str = True) -> DeliveryResult:
    """POST ``body`` (JSON bytes) to ``url`` signed with ``secret``, on the address vetted now; 2xx is
    success.

    Never raises for HTTP or network trouble. An answer of the partner's server (any status) is
    reported with its status and an excerpt of its body; anything before an answer gives
    ``UNREACHABLE_ERROR``, retryable, with the cause in ``detail``. The secret appears in neither.
    ``verify_tls`` is the CA bundle (tests) or True for the system's.
    """
    started = time.monotonic()

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    def unreachable(detail: str, host: str = "") -> DeliveryResult:
        where = f"{host}: " if host else ""
        return DeliveryResult(False, None, UNREACHABLE_ERROR, elapsed(), retryable=True,
                              detail=scrub(f"{where}{detail}", [secret])[:500])

    try:
        target = vet_webhook_url(url, allow_loopback=allow_loopback, resolver=resolver)
    except UnsafeWebhookUrl as exc:
        return unreachable(f"refused before connecting: {exc}")
    timestamp = timestamp or str(int(time.time()))
    all_headers = {
        "Host": target.netloc,
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Confiotes-Timestamp": timestamp,
        "X-Confiotes-Signature": sign(secret, timestamp, body),
        **(headers or {}),
    }
    where = f"{target.host} ({target.address}:{target.port})"
    with requests.Session() as session:
        session.trust_env = False  # an environment proxy would resolve the host name again
        session.mount(f"{target.scheme}://", _PinnedHostAdapter(target.host))
        try:
            response = session.post(target.pinned_url, data=body, headers=all_headers, timeout=timeout,
                                    allow_redirects=False, stream=True, verify=verify_tls)
        except requests.Timeout:
            return unreachable(f"timeout after {timeout:g} s", where)
        except requests.RequestException as exc:
            cause = _root_cause(exc)
            # The path and query of the URL may carry the partner's token: keep them out of the log.
            reason = scrub(f"{cause.__class__.__name__}: {cause}", [target.path])
            return unreachable(f"connection failed: {reason}", where)
        with response:
            if 200 <= response.status_code < 300:
                return DeliveryResult(True, response.status_code, "", elapsed())
            try:
                raw = response.raw.read(_EXCERPT_BYTES, decode_content=True) or b""
            except Exception:  # an answer cut short still has its status
                raw = b""
    excerpt = scrub(raw.decode("utf-8", "replace")[:200], [secret])
    return DeliveryResult(False, response.status_code, f"HTTP {response.status_code}: {excerpt}", elapsed())
