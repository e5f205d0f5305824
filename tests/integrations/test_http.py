"""The base client reads the environment's proxy settings once, when it is built, and still follows them."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

from integrations.http import BaseClient


class _Proxy(BaseHTTPRequestHandler):
    """A loopback "proxy" that answers every request itself and remembers the request line."""

    seen: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (stdlib name)
        self.seen.append(self.requestline)
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (stdlib signature)
        pass


def test_requests_go_through_the_proxy_the_environment_names(monkeypatch):
    server = HTTPServer(("127.0.0.1", 0), _Proxy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{server.server_address[1]}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        client = BaseClient(base_url="http://provider.invalid")  # reachable only through the proxy

        response = client._request("GET", "http://provider.invalid/bot/getMe")

        assert response.json() == {"ok": True}
        assert _Proxy.seen == ["GET http://provider.invalid/bot/getMe HTTP/1.1"]
    finally:
        server.shutdown()
        server.server_close()


def test_a_host_the_environment_exempts_is_reached_directly(monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.invalid:3128")
    monkeypatch.setenv("NO_PROXY", "provider.invalid")

    client = BaseClient(base_url="http://provider.invalid")

    assert not client.session.trust_env  # read once, above, not at every request
    assert "http" not in client.session.proxies
