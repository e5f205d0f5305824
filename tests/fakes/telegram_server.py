"""A fake Telegram Bot API server on 127.0.0.1 for end-to-end tests and benchmarks (stdlib only).

    with FakeTelegram(token="123:ABC", global_rate=30, per_chat_rate=1.0) as fake:
        client = TelegramClient("123:ABC", base_url=fake.base_url)
        client.send_message(42, "hello")
        assert fake.sent_messages[0].text == "hello"

What it does, as the real API does:

- ``/bot<token>/<method>`` with a JSON, form-urlencoded or multipart body (or a query string);
  a wrong token gets ``401 Unauthorized``, an unknown method ``404 Not Found``.
- ``sendMessage``, ``sendPhoto``, ``answerCallbackQuery``, ``setWebhook``, ``deleteWebhook``,
  ``getUpdates`` (updates queued with ``push_update``, offset confirms earlier ones; ``409`` while a
  webhook is set), ``getMe``.
- Sends (``sendMessage``, ``sendPhoto``) are rate limited with real ``429`` answers: at most
  ``global_rate`` per second over the whole bot and ``per_chat_rate`` per second per chat, each a
  sliding window. ``retry_after`` is the whole seconds until a slot frees (at least 1), or
  ``fake.retry_after`` when set (fractional allowed, for fast tests). A send that comes back before
  the announced ``retry_after`` has elapsed is counted in ``count_retry_after_ignored``.
- ``block(chat_id)`` -> 403 "Forbidden: bot was blocked by the user"; ``missing(chat_id)`` -> 400
  "Bad Request: chat not found"; ``fail_next(n, status=500)``; ``latency`` seconds before answering.

Every call is recorded (``calls``, ``sent_messages``) under one lock; the properties return copies.
The handler is light and keeps connections alive (HTTP/1.1) so a ``requests.Session`` reuses them.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import math
import threading
import time
import zlib
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

SEND_METHODS = frozenset({"sendMessage", "sendPhoto"})
MAX_TEXT = 4096
MAX_CAPTION = 1024
_ERROR_DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


@dataclass(frozen=True, slots=True)
class Call:
    """One request the fake answered (after the token check). ``time`` is ``time.time()``."""

    method: str
    params: dict[str, Any]
    time: float
    monotonic: float
    status: int = 200


@dataclass(frozen=True, slots=True)
class SentRecord:
    """One message the fake accepted (sendMessage, or sendPhoto with ``text`` = caption)."""

    chat_id: int | str
    text: str | None
    message_id: int
    time: float
    monotonic: float
    method: str = "sendMessage"
    reply_markup: Any = None
    photo: Any = None


class ApiError(Exception):
    """An error answer of the fake: ``{"ok": false, "error_code": status, "description": ...}``."""

    def __init__(self, status: int, description: str, parameters: dict[str, Any] | None = None):
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters


class SlidingWindow:
    """At most ``count`` events in any ``window`` seconds, derived from a rate in events per second.

    A rate of 30/s allows 30 per second; 1/s one per second; 0.33/s one per three seconds.
    Not thread-safe: the server calls it under its lock.
    """

    def __init__(self, rate: float):
        self.count = max(1, int(rate))
        self.window = self.count / rate
        self.events: deque[float] = deque()

    def wait(self, now: float) -> float:
        """Seconds until one more event fits (0 when it fits now)."""
        events = self.events
        while events and now - events[0] >= self.window:
            events.popleft()
        if len(events) < self.count:
            return 0.0
        return self.window - (now - events[0])

    def add(self, now: float) -> None:
        self.events.append(now)


def _coerce_chat_id(value: Any) -> int | str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        value = value.strip()
        if value.lstrip("-").isdigit():
            return int(value)
        return value or None
    return None


def _maybe_json(value: Any) -> Any:
    """Form and multipart fields carry objects JSON-serialized; decode those, keep other strings."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)


def _parse_multipart(content_type: str, body: bytes) -> dict[str, Any]:
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body)
    params: dict[str, Any] = {}
    if not message.is_multipart():
        return params
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        payload = part.get_payload(decode=True) or b""
        if part.get_filename() is not None:
            params[str(name)] = payload  # an uploaded file: keep the bytes
        else:
            params[str(name)] = _maybe_json(payload.decode("utf-8", "replace"))
    return params


def message_update(chat_id: int, text: str, *, update_id: int | None = None, first_name: str = "Awa",
                   username: str | None = None, language_code: str = "fr", date: int | None = None
                   ) -> dict[str, Any]:
    """Build a Bot API ``Update`` with a private-chat text ``message`` from user ``chat_id``."""
    user: dict[str, Any] = {"id": chat_id, "is_bot": False, "first_name": first_name,
                            "language_code": language_code}
    if username:
        user["username"] = username
    update: dict[str, Any] = {"message": {
        "message_id": zlib.crc32(f"{chat_id}:{text}".encode()) % 100000 + 1, "from": user,
        "chat": {"id": chat_id, "first_name": first_name, "type": "private"},
        "date": date if date is not None else int(time.time()), "text": text}}
    if text.startswith("/"):
        length = len(text.split(maxsplit=1)[0])
        update["message"]["entities"] = [{"offset": 0, "length": length, "type": "bot_command"}]
    if update_id is not None:
        update["update_id"] = update_id
    return update


def callback_update(chat_id: int, data: str, *, callback_id: str = "cb-1", update_id: int | None = None,
                    message_id: int = 1) -> dict[str, Any]:
    """Build a Bot API ``Update`` with a ``callback_query`` (inline button press) in a private chat."""
    user = {"id": chat_id, "is_bot": False, "first_name": "Awa"}
    update: dict[str, Any] = {"callback_query": {
        "id": callback_id, "from": user, "chat_instance": str(chat_id * 7),
        "message": {"message_id": message_id, "from": {"id": 1, "is_bot": True, "first_name": "Bot"},
                    "chat": {"id": chat_id, "type": "private"}, "date": int(time.time()), "text": "?"},
        "data": data}}
    if update_id is not None:
        update["update_id"] = update_id
    return update


def my_chat_member_update(chat_id: int, new_status: str, *, update_id: int | None = None,
                          bot_id: int = 123) -> dict[str, Any]:
    """Build a ``my_chat_member`` update: ``"kicked"`` when the person blocked the bot, ``"member"`` back."""
    old_status = "member" if new_status == "kicked" else "kicked"
    bot = {"id": bot_id, "is_bot": True, "first_name": "Fake Bot", "username": "fake_bot"}
    new_member: dict[str, Any] = {"user": bot, "status": new_status}
    if new_status == "kicked":
        new_member["until_date"] = 0
    update: dict[str, Any] = {"my_chat_member": {
        "chat": {"id": chat_id, "first_name": "Awa", "type": "private"},
        "from": {"id": chat_id, "is_bot": False, "first_name": "Awa"},
        "date": int(time.time()),
        "old_chat_member": {"user": bot, "status": old_status},
        "new_chat_member": new_member}}
    if update_id is not None:
        update["update_id"] = update_id
    return update


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 512
    fake: FakeTelegram


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: every answer carries Content-Length
    wbufsize = -1  # buffer headers and body into one send (flushed after each request)
    disable_nagle_algorithm = True
    timeout = 60  # an idle keep-alive connection frees its thread after a minute
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
        pass  # silence the default per-request line on stderr

    def do_POST(self) -> None:
        self._handle()

    def do_GET(self) -> None:
        self._handle()

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, payload = self.server.fake._dispatch(self.path, self.headers.get("Content-Type") or "", body)
        data = json.dumps(payload, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@dataclass
class _State:
    calls: list[Call] = field(default_factory=list)
    sent: list[SentRecord] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    next_update_id: int = 1
    next_message_id: int = 1
    count_429: int = 0
    count_retry_after_ignored: int = 0


class FakeTelegram:
    """A loopback Bot API server for one bot token; use as a context manager.

    ``global_rate`` / ``per_chat_rate`` are sends per second (None or 0 turns a limit off).
    """

    def __init__(self, token: str = "123:ABC", *, global_rate: float | None = 30,
                 per_chat_rate: float | None = 1.0, retry_after: float | None = None, latency: float = 0.0,
                 host: str = "127.0.0.1", port: int = 0):
        self.token = token
        self.global_rate = global_rate
        self.per_chat_rate = per_chat_rate
        self.retry_after = retry_after
        self.latency = latency
        self._host = host
        self._port = port
        self._lock = threading.Lock()
        self._updates_ready = threading.Condition(self._lock)
        self._state = _State()
        self._global_window = SlidingWindow(global_rate) if global_rate else None
        self._chat_windows: dict[int | str, SlidingWindow] = {}
        self._banned_until: dict[Any, float] = {}  # scope ("global" or chat id) -> monotonic time
        self._blocked: set[int | str] = set()
        self._missing: set[int | str] = set()
        self._fail_remaining = 0
        self._fail_status = 500
        self.webhook_url: str | None = None
        self.webhook_secret: str | None = None
        self.webhook_allowed_updates: list[str] | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        bot_id = token.split(":", 1)[0]
        self.bot = {"id": int(bot_id) if bot_id.isdigit() else 1, "is_bot": True, "first_name": "Fake Bot",
                    "username": "fake_bot", "can_join_groups": True, "can_read_all_group_messages": False,
                    "supports_inline_queries": False}

    # -- life cycle -------------------------------------------------------------------------------

    def start(self) -> FakeTelegram:
        """Bind to a free loopback port and serve in a daemon thread."""
        server = _Server((self._host, self._port), _Handler)
        server.fake = self
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-telegram", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._updates_ready:
            self._updates_ready.notify_all()

    def __enter__(self) -> FakeTelegram:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``, to pass as the client's ``base_url``."""
        if self._server is None:
            raise RuntimeError("FakeTelegram is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # -- controls ---------------------------------------------------------------------------------

    def block(self, chat_id: int | str) -> None:
        """From now on, sends to ``chat_id`` get 403 "Forbidden: bot was blocked by the user"."""
        with self._lock:
            self._blocked.add(chat_id)

    def unblock(self, chat_id: int | str) -> None:
        """Undo ``block``."""
        with self._lock:
            self._blocked.discard(chat_id)

    def missing(self, chat_id: int | str) -> None:
        """From now on, sends to ``chat_id`` get 400 "Bad Request: chat not found"."""
        with self._lock:
            self._missing.add(chat_id)

    def fail_next(self, n: int = 1, status: int = 500) -> None:
        """The next ``n`` requests (any method, after the token check) fail with ``status``."""
        with self._lock:
            self._fail_remaining = n
            self._fail_status = status

    def push_update(self, update: dict[str, Any]) -> int:
        """Queue an update for ``getUpdates``; an ``update_id`` is assigned when absent. Returns it."""
        with self._updates_ready:
            update = dict(update)
            if "update_id" not in update:
                update["update_id"] = self._state.next_update_id
            self._state.next_update_id = max(self._state.next_update_id, int(update["update_id"]) + 1)
            self._state.updates.append(update)
            self._state.updates.sort(key=lambda u: u["update_id"])
            self._updates_ready.notify_all()
            return int(update["update_id"])

    def reset(self) -> None:
        """Forget recorded calls, messages, counters, rate windows, blocks and pending failures."""
        with self._lock:
            self._state = _State(next_update_id=self._state.next_update_id)
            self._global_window = SlidingWindow(self.global_rate) if self.global_rate else None
            self._chat_windows.clear()
            self._banned_until.clear()
            self._blocked.clear()
            self._missing.clear()
            self._fail_remaining = 0

    # -- records ----------------------------------------------------------------------------------

    @property
    def calls(self) -> list[Call]:
        """Every answered call, in order (a copy)."""
        with self._lock:
            return list(self._state.calls)

    @property
    def sent_messages(self) -> list[SentRecord]:
        """Every accepted send, in order (a copy)."""
        with self._lock:
            return list(self._state.sent)

    @property
    def count_429(self) -> int:
        """How many 429 answers the fake gave."""
        with self._lock:
            return self._state.count_429

    @property
    def count_retry_after_ignored(self) -> int:
        """How many sends came back to a throttled scope before its announced retry_after elapsed."""
        with self._lock:
            return self._state.count_retry_after_ignored

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates not yet confirmed by a getUpdates offset (a copy)."""
        with self._lock:
            return list(self._state.updates)

    def calls_to(self, method: str) -> list[Call]:
        """Recorded calls of one Bot API method."""
        return [c for c in self.calls if c.method == method]

    def messages_to(self, chat_id: int | str) -> list[SentRecord]:
        """Accepted sends to one chat."""
        return [m for m in self.sent_messages if m.chat_id == chat_id]

    # -- request handling (handler threads) -------------------------------------------------------

    def _dispatch(self, path: str, content_type: str, body: bytes) -> tuple[int, dict[str, Any]]:
        if self.latency:
            time.sleep(self.latency)
        parts = urlsplit(path)
        segments = parts.path.strip("/").split("/")
        if len(segments) != 2 or not segments[0].startswith("bot"):
            return self._error(ApiError(404, "Not Found"))
        if segments[0][3:] != self.token:
            return self._error(ApiError(401, "Unauthorized"))
        method = segments[1]
        try:
            params = self._params(parts.query, content_type, body)
        except ValueError:
            return self._error(ApiError(400, "Bad Request: can't parse request body"))
        handler = getattr(self, f"_api_{method}", None)
        status = 200
        try:
            with self._lock:
                if self._fail_remaining > 0:
                    self._fail_remaining -= 1
                    status = self._fail_status
                    raise ApiError(status, _ERROR_DESCRIPTIONS.get(status, "Error"))
                if handler is None:
                    status = 404
                    raise ApiError(404, "Not Found")
            result = handler(params)
            return 200, {"ok": True, "result": result}
        except ApiError as exc:
            status = exc.status
            return self._error(exc)
        finally:
            now = time.time()
            with self._lock:
                self._state.calls.append(Call(method, params, now, time.monotonic(), status))

    @staticmethod
    def _error(exc: ApiError) -> tuple[int, dict[str, Any]]:
        payload: dict[str, Any] = {"ok": False, "error_code": exc.status, "description": exc.description}
        if exc.parameters:
            payload["parameters"] = exc.parameters
        return exc.status, payload

    @staticmethod
    def _params(query: str, content_type: str, body: bytes) -> dict[str, Any]:
        params: dict[str, Any] = {k: _maybe_json(v) for k, v in parse_qsl(query)}
        if not body:
            return params
        kind = content_type.split(";", 1)[0].strip().lower()
        if kind == "application/json":
            data = json.loads(body)
            if not isinstance(data, dict):
                raise ValueError("JSON body is not an object")
            params.update(data)
        elif kind == "application/x-www-form-urlencoded":
            params.update({k: _maybe_json(v) for k, v in parse_qsl(body.decode("utf-8"))})
        elif kind == "multipart/form-data":
            params.update(_parse_multipart(content_type, body))
        return params

    def _admit_send(self, chat_id: int | str) -> None:
        """Check blocks and rate limits for one send; call with the lock held."""
        if chat_id in self._missing:
            raise ApiError(400, "Bad Request: chat not found")
        if chat_id in self._blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        now = time.monotonic()
        if now < self._banned_until.get("global", 0.0) or now < self._banned_until.get(chat_id, 0.0):
            self._state.count_retry_after_ignored += 1
        chat_window = None
        if self.per_chat_rate:
            chat_window = self._chat_windows.get(chat_id)
            if chat_window is None:
                chat_window = self._chat_windows[chat_id] = SlidingWindow(self.per_chat_rate)
        for scope, window in (("global", self._global_window), (chat_id, chat_window)):
            if window is None:
                continue
            wait = window.wait(now)
            if wait > 0:
                retry_after: float = self.retry_after if self.retry_after is not None else max(1, math.ceil(wait))
                if float(retry_after).is_integer():
                    retry_after = int(retry_after)
                self._banned_until[scope] = now + retry_after
                self._state.count_429 += 1
                raise ApiError(429, f"Too Many Requests: retry after {retry_after}",
                               {"retry_after": retry_after})
        for window in (self._global_window, chat_window):
            if window is not None:
                window.add(now)

    def _record_send(self, method: str, chat_id: int | str, text: str | None, extra: dict[str, Any],
                     reply_markup: Any, photo: Any = None) -> dict[str, Any]:
        """Admit, number and record one send; return the Bot API ``Message``. Takes the lock."""
        with self._lock:
            self._admit_send(chat_id)
            message_id = self._state.next_message_id
            self._state.next_message_id += 1
            now = time.time()
            self._state.sent.append(SentRecord(chat_id, text, message_id, now, time.monotonic(), method,
                                               reply_markup, photo))
        numeric_id = chat_id if isinstance(chat_id, int) else -1000000000000 - zlib.crc32(chat_id.encode())
        chat: dict[str, Any] = {"id": numeric_id, "type": "private" if numeric_id > 0 else "channel"}
        message: dict[str, Any] = {"message_id": message_id, "from": self.bot, "chat": chat, "date": int(now)}
        message.update(extra)
        if reply_markup is not None:
            message["reply_markup"] = reply_markup
        return message

    # -- Bot API methods ----------------------------------------------------------------------------

    @staticmethod
    def _chat_id(params: dict[str, Any]) -> int | str:
        chat_id = _coerce_chat_id(params.get("chat_id"))
        if chat_id is None:
            raise ApiError(400, "Bad Request: chat_id is empty")
        return chat_id

    def _api_getMe(self, params: dict[str, Any]) -> dict[str, Any]:  # noqa: N802 (Bot API name)
        return dict(self.bot)

    def _api_sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        chat_id = self._chat_id(params)
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if len(text) > MAX_TEXT:
            raise ApiError(400, "Bad Request: message is too long")
        return self._record_send("sendMessage", chat_id, text, {"text": text}, params.get("reply_markup"))

    def _api_sendPhoto(self, params: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        chat_id = self._chat_id(params)
        photo = params.get("photo")
        if not photo:
            raise ApiError(400, "Bad Request: there is no photo in the request")
        caption = params.get("caption")
        if caption is not None and len(str(caption)) > MAX_CAPTION:
            raise ApiError(400, "Bad Request: message caption is too long")
        size = len(photo) if isinstance(photo, bytes | bytearray) else 1024
        file_id = f"AgAC-fake-{zlib.crc32(photo if isinstance(photo, bytes) else str(photo).encode()):08x}"
        extra: dict[str, Any] = {"photo": [{"file_id": file_id, "file_unique_id": file_id[-8:], "width": 90,
                                            "height": 90, "file_size": size}]}
        if caption is not None:
            extra["caption"] = str(caption)
        return self._record_send("sendPhoto", chat_id, None if caption is None else str(caption), extra,
                                 params.get("reply_markup"), photo)

    def _api_answerCallbackQuery(self, params: dict[str, Any]) -> bool:  # noqa: N802
        if not params.get("callback_query_id"):
            raise ApiError(400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
        return True

    def _api_setWebhook(self, params: dict[str, Any]) -> bool:  # noqa: N802
        url = params.get("url") or ""
        if url and not str(url).startswith("https://"):
            raise ApiError(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        with self._lock:
            self.webhook_url = str(url) or None
            self.webhook_secret = params.get("secret_token") or None
            if params.get("allowed_updates") is not None:
                self.webhook_allowed_updates = list(params["allowed_updates"])
            if _truthy(params.get("drop_pending_updates")):
                self._state.updates.clear()
        return True

    def _api_deleteWebhook(self, params: dict[str, Any]) -> bool:  # noqa: N802
        with self._lock:
            self.webhook_url = None
            self.webhook_secret = None
            if _truthy(params.get("drop_pending_updates")):
                self._state.updates.clear()
        return True

    def _api_getUpdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:  # noqa: N802
        offset = int(params.get("offset") or 0)
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        timeout = max(float(params.get("timeout") or 0), 0.0)
        deadline = time.monotonic() + timeout
        with self._updates_ready:
            if self.webhook_url:
                raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                                    "use deleteWebhook to delete the webhook first")
            updates = self._state.updates
            if offset > 0:
                # Confirming: every update below the offset is forgotten for good.
                updates[:] = [u for u in updates if u["update_id"] >= offset]
            elif offset < 0:
                # A negative offset keeps only the last -offset updates; earlier ones are forgotten.
                updates[:] = updates[offset:]
            while True:
                batch = updates
                if batch or self._server is None:
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._updates_ready.wait(remaining)
            return [dict(u) for u in batch[:limit]]


def main() -> None:
    """Chat with the bot locally, with no Telegram account and no internet.

    Run ``.venv/bin/python -m tests.fakes.telegram_server`` in one terminal, then start
    Confiotes with ``TELEGRAM_API_BASE_URL=http://127.0.0.1:8081 TELEGRAM_BOT_TOKEN=123:ABC``
    and ``manage.py telegram_poll --dispatch`` in another. Type ``/start CODE``, a reply,
    ``STOP`` or ``tap <data>`` (an inline button) here; what the bot sends is printed.
    """
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__.splitlines()[0] if main.__doc__ else None)
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--token", default="123:ABC")
    parser.add_argument("--chat-id", type=int, default=700100200)
    parser.add_argument("--name", default="Awa")
    args = parser.parse_args()
    fake = FakeTelegram(token=args.token, port=args.port).start()
    print(f"Fake Bot API on {fake.base_url} (token {args.token}); you are chat {args.chat_id}.")
    printed = 0

    def show_replies() -> None:
        nonlocal printed
        while True:
            sent = fake.messages_to(args.chat_id)
            for record in sent[printed:]:
                markup = record.reply_markup if isinstance(record.reply_markup, dict) else {}
                buttons = [b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row]
                print(f"\nbot> {record.text}" + (f"\n     buttons: {', '.join(buttons)}" if buttons else ""))
            printed = len(sent)
            time.sleep(0.3)

    threading.Thread(target=show_replies, daemon=True).start()
    try:
        for line in iter(input, None):  # type: ignore[call-overload]
            text = line.strip()
            if not text:
                continue
            if text.startswith("tap "):
                fake.push_update(callback_update(args.chat_id, text[4:].strip(), callback_id=str(time.time())))
            else:
                fake.push_update(message_update(args.chat_id, text, first_name=args.name))
    except (EOFError, KeyboardInterrupt):
        pass
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
