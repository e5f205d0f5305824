"""Partner webhooks cannot be turned against the inside of our network.

- DNS rebinding: the delivery connects to the address it vetted, never to a second DNS answer.
- IPv4 addresses hidden in IPv6 forms (mapped, compatible, 6to4, NAT64, Teredo) are refused when
  they are not public, at registration and at delivery.
- Whatever stops a delivery before an answer (refused, timeout, TLS, disallowed address, no DNS),
  the partner reads the same sentence and sees the same retries; staff read the cause in the log.
"""

from __future__ import annotations

import ipaddress
import logging
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from api.orders.enums import DeliveryState
from api.orders.models import WebhookDelivery
from api.orders.services import partner_api_key_create, partner_create, webhook_deliveries_send_due
from integrations import webhooks
from integrations.webhooks import UNREACHABLE_ERROR, UnsafeWebhookUrl, post_signed, validate_public_https_url
from tests.fakes.partner_server import FakePartner

PUBLIC = "93.184.216.34"  # a public address; the tests' socket guard refuses to reach it
SECRET = "a-partner-secret-that-must-never-show-in-a-log"


class ScriptedResolver:
    """A DNS server under the partner's control: one answer per lookup, the last one repeated."""

    def __init__(self, *answers: list[str] | Exception):
        self.answers = list(answers)
        self.lookups: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        answer = self.answers[min(len(self.lookups), len(self.answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer


@pytest.fixture
def connections(monkeypatch) -> list[tuple[str, int]]:
    """Every TCP connection attempted, as (address, port); the tests' guard still refuses non-loopback ones."""
    attempted: list[tuple[str, int]] = []
    guarded = socket.socket.connect

    def record(sock: socket.socket, address) -> None:
        if isinstance(address, tuple):
            attempted.append((address[0], address[1]))
        return guarded(sock, address)

    monkeypatch.setattr(socket.socket, "connect", record)
    return attempted


@pytest.fixture
def partner_server() -> Iterator[FakePartner]:
    with FakePartner(secret=SECRET) as server:
        yield server


def _port(server: FakePartner) -> int:
    return int(server.url.rsplit(":", 1)[1].split("/", 1)[0])


def _closed_port() -> int:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


# --- DNS rebinding ------------------------------------------------------------------------------


def test_a_second_dns_answer_pointing_at_loopback_is_never_connected_to(connections, partner_server):
    # given a partner's DNS that answers a public address to the check, then 127.0.0.1 (where a
    # service of ours listens)
    port = _port(partner_server)
    resolver = ScriptedResolver([PUBLIC], ["127.0.0.1"])

    # when a webhook is delivered (production: loopback not allowed)
    result = post_signed(f"https://hooks.rebinder.example:{port}/hooks/confiotes", b"{}", SECRET,
                         resolver=resolver, timeout=2)

    # then the name was resolved once and the only connection went to the vetted public address
    assert resolver.lookups == ["hooks.rebinder.example"]
    assert connections == [(PUBLIC, port)]
    assert partner_server.received == []
    assert not result.ok
    assert result.error == UNREACHABLE_ERROR


def test_the_request_reaches_the_vetted_address_with_the_partners_host_name(connections, partner_server):
    # Loopback is allowed here the way the other webhook tests allow it (a setting production never
    # sets), so that the vetted address can answer; the second DNS answer is a private address.
    port = _port(partner_server)
    resolver = ScriptedResolver(["127.0.0.1"], ["10.0.0.7"])

    result = post_signed(f"http://hooks.partner.example:{port}/hooks/confiotes", b'{"event":"ping"}', SECRET,
                         allow_loopback=True, resolver=resolver, timeout=5)

    assert result.ok, result
    assert resolver.lookups == ["hooks.partner.example"]
    assert connections == [("127.0.0.1", port)]
    [received] = partner_server.received
    assert received.verified
    assert received.headers["host"] == f"hooks.partner.example:{port}"
    assert received.path == "/hooks/confiotes"


# --- IPv4 inside IPv6 ---------------------------------------------------------------------------

EMBEDDED_INTERNAL = [
    "https://[2002:7f00:1::]/",  # 6to4 around 127.0.0.1
    "https://[2002:a00:1::]/hook",  # 6to4 around 10.0.0.1
    "https://[2002:a9fe:a9fe::]/latest/meta-data",  # 6to4 around 169.254.169.254
    "https://[64:ff9b::7f00:1]/hook",  # NAT64 around 127.0.0.1
    "https://[64:ff9b::c0a8:10a]/hook",  # NAT64 around 192.168.1.10
    "https://[64:ff9b:1::5db8:d822]/hook",  # local-use NAT64 prefix: a private network whatever it carries
    "https://[2001:0:7f00:1:0:0:f5ff:fffe]/hook",  # Teredo, relay 127.0.0.1, client 10.0.0.1
    "https://[::ffff:127.0.0.1]/hook",  # IPv4-mapped
    "https://[::7f00:1]/hook",  # IPv4-compatible (deprecated)
]


@pytest.mark.django_db
@pytest.mark.parametrize("url", EMBEDDED_INTERNAL)
def test_an_internal_ipv4_address_inside_ipv6_is_refused_at_registration(staff_client, url):
    response = staff_client.post("/api/v1/partners", {"name": "Pirate", "webhook_url": url}, format="json")
    assert response.status_code == 400, response.json()
    assert [e["field"] for e in response.json()["errors"]] == ["webhook_url"]
    assert staff_client.get("/api/v1/partners").json()["results"] == []


@pytest.mark.parametrize("address", ["2002:7f00:1::", "64:ff9b::a00:1", "::ffff:10.0.0.1"])
def test_an_internal_ipv4_address_inside_ipv6_is_refused_at_delivery(connections, address):
    # The name was public when the partner registered it; its DNS now answers an IPv6 form of an
    # internal address.
    resolver = ScriptedResolver([address])
    result = post_signed("https://hooks.partner.example/confiotes", b"{}", SECRET, resolver=resolver)
    assert connections == []
    assert result.error == UNREACHABLE_ERROR
    assert str(ipaddress.ip_address(address)) in result.detail


@pytest.mark.parametrize("url", [
    "https://[2002:5db8:d822::1]/hook",  # 6to4 around 93.184.216.34
    "https://[64:ff9b::5db8:d822]/hook",  # NAT64 around 93.184.216.34
    "https://[2606:2800:220:1:248:1893:25c8:1946]/hook",  # plain public IPv6
])
def test_a_public_ipv4_address_inside_ipv6_stays_allowed(url):
    validate_public_https_url(url)


def test_a_name_resolving_to_a_public_and_an_internal_address_is_refused():
    resolver = ScriptedResolver([PUBLIC, "2002:7f00:1::"])
    with pytest.raises(UnsafeWebhookUrl, match="2002:7f00:1::"):
        validate_public_https_url("https://hooks.partner.example/confiotes", resolver=resolver)


# --- one answer for every failure -------------------------------------------------------------


@pytest.fixture
def silent_server() -> Iterator[int]:
    """Accepts connections (the kernel's backlog) and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    yield server.getsockname()[1]
    server.close()


def test_refused_timeout_tls_and_disallowed_look_the_same_to_the_partner(partner_server, silent_server):
    path = "/hooks/confiotes?token=partner-token-in-the-query"
    attempts = {
        "refused": post_signed(f"http://127.0.0.1:{_closed_port()}{path}", b"{}", SECRET, allow_loopback=True),
        "timeout": post_signed(f"http://127.0.0.1:{silent_server}{path}", b"{}", SECRET, allow_loopback=True,
                               timeout=0.2),
        # https to a plain-http port: the TLS handshake fails
        "tls": post_signed(f"https://127.0.0.1:{_port(partner_server)}{path}", b"{}", SECRET, allow_loopback=True),
        "disallowed": post_signed(f"https://hooks.partner.example{path}", b"{}", SECRET,
                                  resolver=ScriptedResolver(["10.0.0.7"])),
        "no dns": post_signed(f"https://hooks.partner.example{path}", b"{}", SECRET,
                              resolver=ScriptedResolver(socket.gaierror(-2, "Name or service not known"))),
    }
    seen_by_partner = {(r.ok, r.status_code, r.error, r.retryable) for r in attempts.values()}
    assert seen_by_partner == {(False, None, UNREACHABLE_ERROR, True)}
    # staff can tell them apart; neither the secret nor the URL's query is in what they read
    details = {kind: result.detail for kind, result in attempts.items()}
    assert "Refused" in details["refused"]
    assert "timeout" in details["timeout"]
    assert "SSL" in details["tls"]
    assert "10.0.0.7" in details["disallowed"]
    assert "does not resolve" in details["no dns"]
    assert all(SECRET not in d and "partner-token" not in d for d in details.values())


@pytest.mark.django_db
def test_the_delivery_log_says_the_same_for_a_rebinding_and_a_closed_port(settings, monkeypatch, caplog):
    # given two partners registered with public names; at delivery one name answers a private
    # address and the other a closed port on loopback (allowed here as in the other webhook tests)
    settings.PARTNER_WEBHOOKS_ALLOW_LOOPBACK = True
    settings.PARTNER_WEBHOOKS_KICK = False
    closed = _closed_port()
    answers = {"hooks.rebinder.example": ScriptedResolver([PUBLIC], ["10.0.0.7"]),
               "hooks.closed.example": ScriptedResolver([PUBLIC], ["127.0.0.1"])}
    monkeypatch.setattr(webhooks, "system_resolver", lambda host, port: answers[host](host, port))
    rebinder = partner_create(name="Rebinder", webhook_url="https://hooks.rebinder.example/h",
                              webhook_secret=SECRET)
    closed_one = partner_create(name="Closed", webhook_url=f"https://hooks.closed.example:{closed}/h")
    for partner in (rebinder, closed_one):
        WebhookDelivery.objects.create(partner=partner, event="order.status_changed", payload={"event": "ping"})

    # when the worker sends them
    with caplog.at_level(logging.WARNING, logger="api.orders.services.webhooks"):
        assert webhook_deliveries_send_due() == 2

    # then each partner's log reads the same, and both are retried alike
    logs = {}
    for partner in (rebinder, closed_one):
        _, raw = partner_api_key_create(partner_id=partner.pk)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
        [entry] = client.get("/api/v1/partner/webhook-deliveries").json()["results"]
        logs[partner.name] = (entry["state"], entry["attempts"], entry["last_status_code"], entry["last_error"])
    assert logs["Rebinder"] == logs["Closed"] == (DeliveryState.PENDING, 1, None, UNREACHABLE_ERROR)
    # and staff's log says which is which, without the secret
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("10.0.0.7" in m for m in warnings)
    assert any("Refused" in m for m in warnings)
    assert not any(SECRET in m for m in warnings)


# --- TLS names the partner's host, not the address ----------------------------------------------


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory) -> dict[str, str]:
    """A throwaway CA and a certificate for ``hooks.partner.test`` (made with the openssl command)."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    files = {name: str(folder / name) for name in ("ca.key", "ca.pem", "leaf.key", "leaf.csr", "leaf.pem", "ext")}
    Path(files["ext"]).write_text("subjectAltName=DNS:hooks.partner.test\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for command in (
        ["req", "-x509", *ec, "-keyout", files["ca.key"], "-out", files["ca.pem"], "-days", "2",
         "-subj", "/CN=Confiotes test CA", "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        ["req", *ec, "-keyout", files["leaf.key"], "-out", files["leaf.csr"], "-subj", "/CN=hooks.partner.test"],
        ["x509", "-req", "-in", files["leaf.csr"], "-CA", files["ca.pem"], "-CAkey", files["ca.key"],
         "-CAcreateserial", "-out", files["leaf.pem"], "-days", "2", "-extfile", files["ext"]],
    ):
        subprocess.run(["openssl", *command], check=True, capture_output=True)
    return files


@pytest.fixture
def tls_partner(tls_files) -> Iterator[dict[str, Any]]:
    """An https partner endpoint on 127.0.0.1 that records the SNI name and the Host header it gets."""
    seen: dict[str, Any] = {"sni": [], "hosts": [], "port": 0}
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls_files["leaf.pem"], tls_files["leaf.key"])
    context.sni_callback = lambda connection, name, ctx: seen["sni"].append(name)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen["hosts"].append(self.headers.get("Host"))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    seen["port"] = server.server_address[1]
    yield seen
    server.shutdown()
    server.server_close()


def test_tls_sends_and_checks_the_partners_host_name_on_the_vetted_address(tls_files, tls_partner, connections):
    # given a certificate for hooks.partner.test (not for 127.0.0.1, the address we connect to)
    port = tls_partner["port"]
    resolver = ScriptedResolver(["127.0.0.1"], ["10.0.0.7"])

    result = post_signed(f"https://hooks.partner.test:{port}/h", b"{}", SECRET, allow_loopback=True,
                         resolver=resolver, verify_tls=tls_files["ca.pem"], timeout=5)

    assert result.ok, result
    assert connections == [("127.0.0.1", port)]
    assert tls_partner["sni"] == ["hooks.partner.test"]
    assert tls_partner["hosts"] == [f"hooks.partner.test:{port}"]


def test_a_certificate_for_another_name_is_refused_like_any_failure(tls_files, tls_partner):
    port = tls_partner["port"]
    result = post_signed(f"https://other.partner.test:{port}/h", b"{}", SECRET, allow_loopback=True,
                         resolver=ScriptedResolver(["127.0.0.1"]), verify_tls=tls_files["ca.pem"], timeout=5)
    assert result.error == UNREACHABLE_ERROR
    assert "certificate" in result.detail.lower() or "hostname" in result.detail.lower()
    assert tls_partner["hosts"] == []
