"""A fake partner (reseller) webhook receiver on 127.0.0.1 (standard library only).

    with FakePartner(secret="whsec", fail_first=2) as partner:
        ...  # point Partner.webhook_url at partner.url and run the webhook worker
        assert partner.received[0].verified

- Verifies ``X-Confiotes-Signature: sha256=HMAC(secret, f"{timestamp}.{body}")`` against the
  raw body, as a real partner should; a bad signature is answered 401 (``verified`` False).
- Refuses a timestamp older than ``max_skew`` seconds (replay protection), answered 401.
- ``fail_first=N`` answers the first N well-signed requests with ``fail_status`` (503), so
  retries can be tested; ``latency`` seconds before answering.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool
    status: int
    at: float

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class FakePartner:
    def __init__(self, *, secret: str, fail_first: int = 0, fail_status: int = 503, latency: float = 0.0,
                 max_skew: int = 300, path: str = "/hooks/confiotes"):
        self.secret = secret
        self.fail_first = fail_first
        self.fail_status = fail_status
        self.latency = latency
        self.max_skew = max_skew
        self.path = path
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}{self.path}"

    @property
    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    @property
    def accepted(self) -> list[Received]:
        return [r for r in self.received if r.status == 200]

    def _check(self, headers: dict[str, str], body: bytes) -> bool:
        timestamp = headers.get("x-confiotes-timestamp", "")
        signature = headers.get("x-confiotes-signature", "")
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > self.max_skew:
            return False
        expected = "sha256=" + hmac.new(self.secret.encode(), timestamp.encode() + b"." + body,
                                        hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, signature)

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length)
        headers = {k.lower(): v for k, v in handler.headers.items()}
        if self.latency:
            time.sleep(self.latency)
        verified = self._check(headers, body)
        with self._lock:
            if handler.path != self.path:
                status = 404
            elif not verified:
                status = 401
            elif self.fail_first > 0:
                self.fail_first -= 1
                status = self.fail_status
            else:
                status = 200
            self._received.append(Received(handler.path, headers, body, verified, status, time.time()))
        payload = b'{"ok":true}' if status == 200 else b'{"ok":false}'
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    def __enter__(self) -> FakePartner:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                fake._handle(self)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
