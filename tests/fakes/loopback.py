"""Plumbing shared by the fake provider servers (standard library only).

- ``LoopbackServer``: a threaded HTTP/1.1 server on 127.0.0.1 that hands every request to
  ``handle(method, raw_path, headers, body) -> Reply``; start/stop, context manager, ``base_url``.
  A ``Reply`` may carry an ``after`` callable, run once the answer has left, so a fake can post a
  webhook *after* the client got its answer, never before.
- ``SlidingWindow``: "at most N events in any window", counted on an injectable clock (a test moves
  the clock; nothing sleeps).
- ``SignedWebhooks``: posts a JSON webhook signed like Meta (``X-Hub-Signature-256`` = ``sha256=`` +
  hex HMAC-SHA256 of the raw body keyed by the app secret) to a URL or to a callable, and records it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SIGNATURE_HEADER = "X-Hub-Signature-256"
# Webhook target: a URL, or a callable given the raw body and the headers that answers an HTTP status
# (an int, or a response object with ``status_code`` such as Django's test client returns).
WebhookTarget = str | Callable[[bytes, dict[str, str]], Any]


@dataclass
class Reply:
    """What a fake answers: a status, a JSON body, extra headers, and an optional after-answer action."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    after: Callable[[], None] | None = None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 512
    app: LoopbackServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: every answer carries Content-Length
    timeout = 10  # an idle keep-alive connection is closed after this many seconds
    # Headers and body leave in one segment: written separately, Nagle plus delayed ACK cost ~40 ms
    # per request on loopback, which would dominate a benchmark.
    wbufsize = -1
    disable_nagle_algorithm = True
    server: _Server

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        app = self.server.app
        reply = app.handle(method, self.path, self.headers, body)
        if reply.after is not None:
            # Counted before the answer leaves, so once the client has its answer, drain() waits for
            # this action too: no window in which the test could look too early.
            app._after_started()
        payload = json.dumps(reply.body).encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        try:
            self.wfile.write(payload)
            self.wfile.flush()
        finally:
            if reply.after is not None:
                try:
                    reply.after()
                finally:
                    app._after_done()

    def do_GET(self) -> None:  # noqa: N802 - the name http.server dispatches to
        self._serve("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._serve("POST")

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet: tests read counters
        pass


class LoopbackServer:
    """Base of a fake provider: subclasses implement ``handle``; use as a context manager."""

    thread_name = "fake-server"

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0):
        self._host = host
        self._port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._after_pending = 0
        self._after_cond = threading.Condition()

    def drain(self, timeout: float = 10.0) -> None:
        """Wait until every after-answer action (auto webhooks) of the answers already sent has finished.

        Call it after the client got its answers; raises ``TimeoutError`` if they are still running
        after ``timeout`` seconds (a receiver that hangs), so a test never passes by luck.
        """
        with self._after_cond:
            if not self._after_cond.wait_for(lambda: self._after_pending == 0, timeout=timeout):
                raise TimeoutError(f"{type(self).__name__}: after-answer actions still running")

    def _after_started(self) -> None:
        with self._after_cond:
            self._after_pending += 1

    def _after_done(self) -> None:
        with self._after_cond:
            self._after_pending -= 1
            self._after_cond.notify_all()

    def handle(self, method: str, raw_path: str, headers: Mapping[str, str], body: bytes) -> Reply:
        """Answer one request (called from a handler thread)."""
        raise NotImplementedError

    def start(self) -> LoopbackServer:
        """Bind to a free loopback port and serve in a daemon thread."""
        return self._serve()

    def _serve(self) -> LoopbackServer:
        # Separate from start(): a subclass may use the name ``start`` for its own data (FakeGraph's
        # first day of ad data), and the context manager must still work.
        server = _Server((self._host, self._port), _Handler)
        server.app = self
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=self.thread_name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Finish pending after-answer actions, stop serving and close the listening socket."""
        if self._server is not None:
            self.drain()
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Any:
        return self._serve()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``, to pass as a client's ``base_url``."""
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"


class SlidingWindow:
    """At most ``count`` events in any ``window`` seconds, derived from a rate in events per second.

    80/s allows 80 in any second; 0.5/s one every two seconds. Time comes from the caller (the fake's
    injectable clock), so a test decides when a slot frees. Not thread-safe: call it under a lock.
    """

    def __init__(self, rate: float):
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.count = max(1, int(rate))
        self.window = self.count / rate
        self.events: deque[float] = deque()

    def wait(self, now: float) -> float:
        """Seconds until one more event fits (0 when it fits now)."""
        while self.events and now - self.events[0] >= self.window:
            self.events.popleft()
        if len(self.events) < self.count:
            return 0.0
        return self.window - (now - self.events[0])

    def add(self, now: float) -> None:
        """Count one event at ``now``."""
        self.events.append(now)


def meta_signature(raw_body: bytes, app_secret: str) -> str:
    """The ``X-Hub-Signature-256`` value Meta sends: ``sha256=`` + hex HMAC-SHA256(app secret, raw body)."""
    return "sha256=" + hmac.new(app_secret.encode(), raw_body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class PostedWebhook:
    """One webhook a fake posted: the exact bytes, the headers, and how the receiver answered.

    ``status`` is None when it could not be delivered at all (``error`` says why). ``event_id`` is
    the id of the event inside (an inbound wamid or mid, or ``"<wamid>:<status>"``), when single.
    """

    payload: dict[str, Any]
    body: bytes
    headers: dict[str, str]
    status: int | None
    error: str | None = None
    event_id: str | None = None

    @property
    def ok(self) -> bool:
        """True when the receiver answered 2xx."""
        return self.status is not None and 200 <= self.status < 300


# Loopback only: a proxy from the environment must never see the fake's webhooks.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class SignedWebhooks:
    """Posts signed JSON webhooks to ``target`` and keeps every one in ``posted`` (thread-safe)."""

    def __init__(self, app_secret: str | None, target: WebhookTarget | None = None, *, timeout: float = 10.0):
        self.app_secret = app_secret
        self.target = target
        self.timeout = timeout
        self._lock = threading.Lock()
        self._posted: list[PostedWebhook] = []

    @property
    def posted(self) -> list[PostedWebhook]:
        """Every webhook posted so far, oldest first (a copy)."""
        with self._lock:
            return list(self._posted)

    def post(self, payload: dict[str, Any], *, event_id: str | None = None) -> PostedWebhook:
        """Serialise ``payload`` as Meta does (compact, non-ASCII escaped), sign it, post it, record it."""
        if self.target is None:
            raise RuntimeError("no webhook target: set the fake's webhook_target to a URL or a callable")
        if not self.app_secret:
            raise RuntimeError("no app secret to sign webhooks with")
        body = json.dumps(payload, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: meta_signature(body, self.app_secret)}
        status, error = self._deliver(self.target, body, headers)
        posted = PostedWebhook(payload=payload, body=body, headers=headers, status=status, error=error,
                               event_id=event_id)
        with self._lock:
            self._posted.append(posted)
        return posted

    def _deliver(self, target: WebhookTarget, body: bytes, headers: dict[str, str]) -> tuple[int | None, str | None]:
        if callable(target):
            answer = target(body, dict(headers))
            if answer is None:
                return 200, None
            return int(getattr(answer, "status_code", answer)), None
        request = urllib.request.Request(target, data=body, headers=headers, method="POST")
        try:
            with _OPENER.open(request, timeout=self.timeout) as response:
                return int(response.status), None
        except urllib.error.HTTPError as exc:
            return int(exc.code), None
        except OSError as exc:
            return None, str(exc)


class PostsSignedWebhooks:
    """A fake provider that posts signed webhooks back to the app through ``self._hooks``."""

    _hooks: SignedWebhooks

    @property
    def webhook_target(self) -> WebhookTarget | None:
        """Where webhooks go: a URL or a callable ``(raw_body, headers) -> status``."""
        return self._hooks.target

    @webhook_target.setter
    def webhook_target(self, value: WebhookTarget | None) -> None:
        self._hooks.target = value

    @property
    def webhooks(self) -> list[PostedWebhook]:
        """Every webhook posted so far, oldest first."""
        return self._hooks.posted
