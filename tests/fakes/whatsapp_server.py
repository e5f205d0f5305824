"""A fake WhatsApp Cloud API on 127.0.0.1 for end-to-end tests and benchmarks (standard library only).

    with FakeWhatsApp(templates=[template("relance", "Bonjour {{1}}, ...")], webhook_target=url) as fake:
        client = WhatsAppClient(fake.access_token, fake.phone_number_id, base_url=fake.base_url)
        client.send_template("+237677123456", "relance", "fr", body_parameters=["Awa"])
        fake.post_statuses(upto="read")         # sent, delivered, read webhooks, signed like Meta
        fake.post_inbound_text("+237677123456", "STOP")   # the person writes to the business

What it serves, under the pinned Graph version (``/v26.0``), shaped like the Cloud API:

- ``POST /{phone_number_id}/messages``: ``text``, ``image``, ``template`` (checked against the
  configured templates: unknown -> 132001, paused -> 132015, disabled -> 132016, wrong number of
  body parameters -> 132000) and ``interactive`` ``button`` (<= 3, title <= 20) / ``list`` (<= 10
  rows, title <= 24). Every accepted message is kept in ``fake.messages`` with its wamid.
- ``GET /{waba_id}/message_templates`` with ``fields``, ``limit``, ``after`` cursor paging and the
  ``status`` / ``name`` filters.
- ``Authorization: Bearer`` must carry ``access_token`` (else 401, code 190); an ``appsecret_proof``,
  when sent, must match ``app_secret``.

Limits and scripted failures, all decided by the server and the test, never by timing:

- Throughput: at most ``rate`` accepted messages per second (sliding window on the injectable
  ``clock``); over it the send is answered 130429 and not kept. A test freezes the clock, sends
  ``rate + 1`` messages, then moves the clock on.
- ``fail_next_send(number, code)``: the next send to that number is answered with 131049, 131047,
  131056, 131026 ... (synchronously, as Meta does for some of them).
- ``fail_next_delivery(number, code)``: the next *accepted* message to that number ends in a
  ``failed`` status webhook carrying that error (how Meta usually reports 131049).
- ``enforce_window=True``: free-form messages (anything but a template) to a number that has not
  written in the last 24 hours (``post_inbound_*`` / ``open_window``) are answered 131047.

Webhooks go to ``webhook_target`` (a URL, or a callable taking the raw body and headers: a Django
test client view call), signed ``X-Hub-Signature-256`` with ``app_secret``, in the Cloud API payload
shape, and are kept in ``fake.webhooks``:

- ``post_statuses(upto="delivered" | "read" | "sent", ...)`` posts the steps each accepted message
  has not had yet, one status per webhook, with ``pricing`` (billable, pricing_model ``PMP``,
  category, type) and ``conversation``; a message scripted to fail gets one ``failed`` status.
  With ``auto_statuses="read"`` (for live-server runs) they are posted right after each accepted
  send's answer has left.
- ``post_inbound_text`` / ``post_inbound_reply`` (interactive button or list reply) /
  ``post_inbound_button`` (template quick reply) post a message from a person, with the person's own
  ``timestamp`` (``at``), and open that number's 24-hour window.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from integrations.meta.base import GRAPH_API_VERSION
from integrations.meta.types import WhatsAppTemplate
from integrations.meta.whatsapp import body_placeholders, template_from_graph
from tests.fakes.loopback import (
    LoopbackServer,
    PostedWebhook,
    PostsSignedWebhooks,
    Reply,
    SignedWebhooks,
    SlidingWindow,
    WebhookTarget,
)

STATUS_STEPS = ("sent", "delivered", "read")
CUSTOMER_SERVICE_WINDOW = 24 * 3600  # seconds after the person's last message
DEFAULT_RATE = 80.0  # Cloud API default throughput per business phone number, messages per second
ERROR_HREF = "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"

# code -> (title, details), as the Cloud API error-code reference words them.
ERRORS: dict[int, tuple[str, str]] = {
    130429: ("Rate limit hit", "Cloud API message throughput has been reached."),
    131056: ("(Business Account, Consumer Account) pair rate limit hit",
             "Too many messages sent from the sender phone number to the same recipient phone number "
             "in a short period of time."),
    131049: ("This message was not delivered to maintain healthy ecosystem engagement.",
             "In order to maintain a healthy ecosystem engagement, the message failed to be delivered."),
    131047: ("Re-engagement message",
             "Message failed to send because more than 24 hours have passed since the customer last "
             "replied to this number."),
    131026: ("Message undeliverable", "Message Undeliverable."),
    131050: ("Unable to deliver the message. This recipient has chosen to stop receiving marketing "
             "messages on WhatsApp from your business.", "Marketing messages opted out."),
    131000: ("Something went wrong", "Message failed to send due to an unknown error."),
    131008: ("Required parameter is missing", "The request is missing a required parameter."),
    131009: ("Parameter value is not valid", "One or more parameter values are invalid."),
    131051: ("Unsupported message type", "Message type is not currently supported."),
    132000: ("Number of parameters does not match the expected number of params",
             "The number of variable parameter values does not match the number defined in the template."),
    132001: ("Template name does not exist in the translation",
             "The template does not exist in the specified language or has not been approved."),
    132015: ("Template is Paused", "Template is paused due to low quality so it cannot be sent."),
    132016: ("Template is Disabled", "Template has been paused too many times due to low quality and is "
             "now permanently disabled."),
}


def template(name: str, body: str, *, language: str = "fr", category: str = "MARKETING",
             status: str = "APPROVED", template_id: str | None = None,
             extra_components: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """A message template as ``message_templates`` lists it, with one BODY component ``body``."""
    placeholders = body_placeholders(body)
    component: dict[str, Any] = {"type": "BODY", "text": body}
    if placeholders:
        component["example"] = {"body_text": [[f"exemple {p}" for p in placeholders]]}
    digest = int(hashlib.sha256(f"{name}:{language}".encode()).hexdigest()[:12], 16)
    return {"name": name, "parameter_format": "POSITIONAL", "components": [component, *map(dict, extra_components)],
            "language": language, "status": status, "category": category,
            "id": template_id or str(1_000_000_000_000_000 + digest % 10**15)}


def _digits(number: str) -> str:
    return str(number or "").strip().lstrip("+")


def _epoch(at: datetime | float | int | None, default: Callable[[], float]) -> int:
    if at is None:
        return int(default())
    if isinstance(at, datetime):
        if at.tzinfo is None:
            raise ValueError("at must be an aware datetime")
        return int(at.timestamp())
    return int(at)


def _error(code: int, *, message: str | None = None, details: str | None = None, status: int = 400) -> Reply:
    title, default_details = ERRORS.get(code, ("Error", ""))
    error = {"message": message or f"(#{code}) {title}", "type": "OAuthException", "code": code,
             "error_data": {"messaging_product": "whatsapp", "details": details or default_details},
             "fbtrace_id": "AkWhAtSaPpFaKe01"}
    return Reply(status, {"error": error})


class _Refused(Exception):
    def __init__(self, code: int, details: str | None = None):
        super().__init__(code)
        self.code = code
        self.details = details


@dataclass
class WhatsAppMessage:
    """One message the fake accepted. ``body`` is the request JSON as the client sent it."""

    wamid: str
    to: str  # digits, as in the request
    type: str  # text | image | template | interactive
    body: dict[str, Any]
    accepted_at: int  # epoch seconds (the fake's wall clock)
    pricing_category: str  # marketing | utility | authentication | service
    billable: bool
    pricing_type: str  # regular | free_customer_service
    conversation_id: str
    statuses: list[str] = field(default_factory=list)  # steps already posted, in order
    fail_with: int | None = None  # error code of a scripted failed status

    @property
    def text(self) -> str | None:
        """The text the person sees first: text body, caption, interactive body (None for a template)."""
        if self.type == "text":
            return self.body.get("text", {}).get("body")
        if self.type == "image":
            return self.body.get("image", {}).get("caption")
        if self.type == "interactive":
            return self.body.get("interactive", {}).get("body", {}).get("text")
        return None

    @property
    def template_name(self) -> str | None:
        """The template's name for a template message."""
        return self.body.get("template", {}).get("name") if self.type == "template" else None

    @property
    def body_parameters(self) -> list[str]:
        """The BODY parameter texts of a template message, in order."""
        for component in self.body.get("template", {}).get("components") or []:
            if str(component.get("type", "")).lower() == "body":
                return [str(p.get("text")) for p in component.get("parameters") or []]
        return []

    @property
    def choices(self) -> list[tuple[str, str]]:
        """``(id, title)`` of the reply buttons or list rows of an interactive message."""
        interactive = self.body.get("interactive") or {}
        action = interactive.get("action") or {}
        if interactive.get("type") == "button":
            return [(b["reply"]["id"], b["reply"]["title"]) for b in action.get("buttons") or []]
        if interactive.get("type") == "list":
            return [(r["id"], r["title"]) for s in action.get("sections") or [] for r in s.get("rows") or []]
        return []

    @property
    def last_status(self) -> str | None:
        """The last status step posted for this message (None before any)."""
        return self.statuses[-1] if self.statuses else None


class FakeWhatsApp(PostsSignedWebhooks, LoopbackServer):
    """The fake Cloud API for one business phone number and its WhatsApp Business Account."""

    thread_name = "fake-whatsapp"

    def __init__(self, *, access_token: str = "wa-token", app_secret: str = "wa-app-secret",
                 phone_number_id: str = "106540352242922", waba_id: str = "102290129340398",
                 display_phone_number: str = "237699000001", templates: Iterable[Mapping[str, Any]] = (),
                 rate: float | None = DEFAULT_RATE, enforce_window: bool = False,
                 webhook_target: WebhookTarget | None = None, auto_statuses: str | None = None,
                 page_size_max: int = 100, clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time, host: str = "127.0.0.1", port: int = 0):
        super().__init__(host=host, port=port)
        self.access_token = access_token
        self.app_secret = app_secret
        self.phone_number_id = phone_number_id
        self.waba_id = waba_id
        self.display_phone_number = display_phone_number
        self.templates: list[dict[str, Any]] = [dict(t) for t in templates]
        self.enforce_window = enforce_window
        self.auto_statuses = auto_statuses
        self.page_size_max = page_size_max
        self.clock = clock
        self.wall_clock = wall_clock
        self._hooks = SignedWebhooks(app_secret, webhook_target)
        self._lock = threading.Lock()
        self._rate: SlidingWindow | None = None
        self.rate = rate
        self._messages: list[WhatsAppMessage] = []
        self._fail_send: list[tuple[str, int]] = []
        self._fail_delivery: list[tuple[str, int]] = []
        self._last_inbound: dict[str, int] = {}
        self._ids = itertools.count(1)
        self.request_count = 0
        self.throttled_count = 0
        self.requests: list[tuple[str, str, dict[str, str]]] = []  # (method, path, query params)
        self.auto_errors: list[str] = []  # failures of auto_statuses posts (no target, receiver raised)

    # -- settings ---------------------------------------------------------------------------------

    @property
    def rate(self) -> float | None:
        """Accepted messages per second (None: no throughput limit)."""
        return self._rate_value

    @rate.setter
    def rate(self, value: float | None) -> None:
        self._rate_value = value
        self._rate = SlidingWindow(value) if value else None


    # -- what the test reads ------------------------------------------------------------------------

    @property
    def messages(self) -> list[WhatsAppMessage]:
        """Every accepted message, in order (a copy of the list)."""
        with self._lock:
            return list(self._messages)

    def messages_to(self, number: str) -> list[WhatsAppMessage]:
        """Accepted messages to one number (``+237...`` or digits)."""
        wanted = _digits(number)
        return [m for m in self.messages if m.to == wanted]

    def message(self, wamid: str) -> WhatsAppMessage:
        """The accepted message with this wamid (KeyError if none)."""
        for found in self.messages:
            if found.wamid == wamid:
                return found
        raise KeyError(wamid)


    # -- scripting ----------------------------------------------------------------------------------

    def fail_next_send(self, number: str, code: int) -> None:
        """Answer the next send to ``number`` with Cloud API error ``code`` (131049, 131047, 131056 ...)."""
        with self._lock:
            self._fail_send.append((_digits(number), code))

    def fail_next_delivery(self, number: str, code: int = 131049) -> None:
        """Accept the next send to ``number``, then report it ``failed`` with ``code`` in its status webhook."""
        with self._lock:
            self._fail_delivery.append((_digits(number), code))

    def open_window(self, number: str, *, at: datetime | float | None = None) -> None:
        """Record that ``number`` wrote at ``at`` (default now), opening its 24-hour service window."""
        with self._lock:
            self._last_inbound[_digits(number)] = _epoch(at, self.wall_clock)

    def set_template_status(self, name: str, status: str, *, language: str | None = None) -> None:
        """Change the status of a configured template (e.g. ``PAUSED`` after it was approved)."""
        with self._lock:
            for item in self.templates:
                if item["name"] == name and (language is None or item["language"] == language):
                    item["status"] = status

    def expected_templates(self) -> list[WhatsAppTemplate]:
        """The templates a correct ``list_templates`` returns, in the fake's order."""
        return [template_from_graph(t) for t in self.templates]

    # -- webhooks -----------------------------------------------------------------------------------

    def post_statuses(self, upto: str = "read", *, wamids: Iterable[str] | None = None, to: str | None = None,
                      at: datetime | float | None = None) -> list[PostedWebhook]:
        """Post, for each accepted message (or only ``wamids`` / those ``to`` a number), the status steps
        it has not had yet up to ``upto`` (``sent`` < ``delivered`` < ``read``), one webhook per status.

        A message scripted with ``fail_next_delivery`` gets a single ``failed`` status instead. ``at``
        is the statuses' Meta timestamp (default: the fake's wall clock now).
        """
        if upto not in STATUS_STEPS:
            raise ValueError(f"upto must be one of {STATUS_STEPS}")
        wanted = set(wamids) if wamids is not None else None
        number = _digits(to) if to else None
        stamp = _epoch(at, self.wall_clock)
        pending: list[tuple[WhatsAppMessage, str]] = []
        with self._lock:
            for message in self._messages:
                if (wanted is not None and message.wamid not in wanted) or (number and message.to != number):
                    continue
                if message.fail_with is not None:
                    steps = [] if "failed" in message.statuses else ["failed"]
                else:
                    steps = [s for s in STATUS_STEPS[:STATUS_STEPS.index(upto) + 1] if s not in message.statuses]
                for step in steps:
                    message.statuses.append(step)
                    pending.append((message, step))
        return [self._hooks.post(self._status_payload(message, step, stamp), event_id=f"{message.wamid}:{step}")
                for message, step in pending]

    def post_failed(self, wamid: str, code: int, *, at: datetime | float | None = None) -> PostedWebhook:
        """Post a ``failed`` status with error ``code`` for an accepted message, now."""
        with self._lock:
            message = next(m for m in self._messages if m.wamid == wamid)
            message.fail_with = code
            message.statuses.append("failed")
        return self._hooks.post(self._status_payload(message, "failed", _epoch(at, self.wall_clock)),
                                event_id=f"{wamid}:failed")

    def post_inbound_text(self, number: str, text: str, *, name: str = "Awa", at: datetime | float | None = None,
                          referral: Mapping[str, Any] | None = None) -> PostedWebhook:
        """The person at ``number`` writes ``text`` to the business (optionally from a click-to-WhatsApp ad)."""
        message: dict[str, Any] = {"type": "text", "text": {"body": text}}
        if referral is not None:
            message["referral"] = dict(referral)
        return self._post_inbound(number, message, name=name, at=at)

    def post_inbound_reply(self, number: str, reply_id: str, title: str, *, list_reply: bool = False,
                           context_wamid: str | None = None, name: str = "Awa",
                           at: datetime | float | None = None) -> PostedWebhook:
        """The person taps a reply button (or a list row when ``list_reply``) of a business message.

        ``context_wamid`` is the business message answered (default: the last one sent to ``number``).
        """
        kind = "list_reply" if list_reply else "button_reply"
        message = {"type": "interactive", "interactive": {"type": kind, kind: {"id": reply_id, "title": title}}}
        return self._post_inbound(number, message, name=name, at=at, context_wamid=context_wamid, context=True)

    def post_inbound_button(self, number: str, payload: str, text: str, *, context_wamid: str | None = None,
                            name: str = "Awa", at: datetime | float | None = None) -> PostedWebhook:
        """The person taps a quick-reply button of a template message (``type: button``)."""
        message = {"type": "button", "button": {"payload": payload, "text": text}}
        return self._post_inbound(number, message, name=name, at=at, context_wamid=context_wamid, context=True)

    def _post_inbound(self, number: str, message: dict[str, Any], *, name: str, at: datetime | float | None,
                      context_wamid: str | None = None, context: bool = False) -> PostedWebhook:
        wa_id = _digits(number)
        stamp = _epoch(at, self.wall_clock)
        with self._lock:
            wamid = self._wamid(f"in:{wa_id}")
            self._last_inbound[wa_id] = max(stamp, self._last_inbound.get(wa_id, 0))
            if context and context_wamid is None:
                sent = [m for m in self._messages if m.to == wa_id]
                context_wamid = sent[-1].wamid if sent else None
        item: dict[str, Any] = {"from": wa_id, "id": wamid, "timestamp": str(stamp), **message}
        if context_wamid:
            item["context"] = {"from": self.display_phone_number, "id": context_wamid}
        value = {"messaging_product": "whatsapp", "metadata": self._metadata(),
                 "contacts": [{"profile": {"name": name}, "wa_id": wa_id}], "messages": [item]}
        return self._hooks.post(self._envelope(value), event_id=wamid)

    def _metadata(self) -> dict[str, str]:
        return {"display_phone_number": self.display_phone_number, "phone_number_id": self.phone_number_id}

    def _envelope(self, value: dict[str, Any]) -> dict[str, Any]:
        return {"object": "whatsapp_business_account",
                "entry": [{"id": self.waba_id, "changes": [{"value": value, "field": "messages"}]}]}

    def _status_payload(self, message: WhatsAppMessage, step: str, stamp: int) -> dict[str, Any]:
        status: dict[str, Any] = {"id": message.wamid, "status": step, "timestamp": str(stamp),
                                  "recipient_id": message.to}
        if step == "failed":
            code = message.fail_with or 131000
            title, details = ERRORS.get(code, ("Error", ""))
            status["errors"] = [{"code": code, "title": title, "message": title,
                                 "error_data": {"details": details}, "href": ERROR_HREF}]
        else:
            conversation: dict[str, Any] = {"id": message.conversation_id,
                                            "origin": {"type": message.pricing_category}}
            if step == "sent":
                conversation["expiration_timestamp"] = str(message.accepted_at + CUSTOMER_SERVICE_WINDOW)
            status["conversation"] = conversation
            status["pricing"] = {"billable": message.billable, "pricing_model": "PMP",
                                 "category": message.pricing_category, "type": message.pricing_type}
        return self._envelope({"messaging_product": "whatsapp", "metadata": self._metadata(), "statuses": [status]})

    # -- request handling ---------------------------------------------------------------------------

    def _wamid(self, salt: str) -> str:
        raw = f"{salt}:{next(self._ids):012d}".encode()
        return "wamid.HBgM" + base64.b64encode(hashlib.sha256(raw).digest()[:18]).decode()

    def handle(self, method: str, raw_path: str, headers: Mapping[str, str], body: bytes) -> Reply:
        """Answer one request (handler threads; state changes under one lock)."""
        parts = urlsplit(raw_path)
        params = dict(parse_qsl(parts.query, keep_blank_values=True))
        segments = [s for s in parts.path.split("/") if s]
        with self._lock:
            self.request_count += 1
            self.requests.append((method, parts.path, {k: v for k, v in params.items() if k != "access_token"}))
        if not segments or segments[0] != GRAPH_API_VERSION:
            return _error(2635, message="(#2635) Unknown or unsupported API version")
        refused = self._check_auth(headers, params)
        if refused is not None:
            return refused
        path = segments[1:]
        if method == "POST" and path == [self.phone_number_id, "messages"]:
            try:
                payload = json.loads(body or b"null")
            except ValueError:
                return _error(100, message="(#100) Invalid JSON body")
            return self._send(payload)
        if method == "GET" and path == [self.waba_id, "message_templates"]:
            return self._list_templates(params, parts.path)
        return _error(100, message=f"(#100) Unsupported {method.lower()} request. Object with ID "
                                   f"'{path[0] if path else ''}' does not exist", details="subcode 33")

    def _check_auth(self, headers: Mapping[str, str], params: Mapping[str, str]) -> Reply | None:
        auth = headers.get("Authorization") or ""
        token = auth[len("Bearer "):] if auth.startswith("Bearer ") else params.get("access_token")
        if not token:
            return _error(2500, message="An active access token must be used to query information.", status=401)
        if not hmac.compare_digest(token.encode(), self.access_token.encode()):
            return _error(190, message="Invalid OAuth access token - Cannot parse access token", status=401)
        proof = params.get("appsecret_proof")
        if proof is not None:
            expected = hmac.new(self.app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()
            if not hmac.compare_digest(proof, expected):
                return _error(100, message="Invalid appsecret_proof provided in the API argument")
        return None

    def _send(self, payload: Any) -> Reply:
        if not isinstance(payload, dict) or payload.get("messaging_product") != "whatsapp":
            return _error(100, message="(#100) The parameter messaging_product is required.")
        to = str(payload.get("to") or "")
        if not to.isdigit():
            return _error(100, message="(#100) Invalid parameter: to")
        auto = self.auto_statuses
        with self._lock:
            now = self.clock()
            if self._rate is not None and self._rate.wait(now) > 0:
                self.throttled_count += 1
                return _error(130429, message="(#130429) Rate limit hit")
            scripted = next((i for i, (number, _) in enumerate(self._fail_send) if number == to), None)
            if scripted is not None:
                return _error(self._fail_send.pop(scripted)[1])
            try:
                category = self._validate(payload)
                if (self.enforce_window and payload.get("type") != "template" and not self._in_window(to)):
                    raise _Refused(131047)
            except _Refused as refused:
                return _error(refused.code, details=refused.details)
            if self._rate is not None:
                self._rate.add(now)
            message = self._accept(to, payload, category)
        reply = Reply(200, {"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": to}],
                            "messages": [{"id": message.wamid, "message_status": "accepted"}]})
        if auto:
            wamid = message.wamid
            reply.after = lambda: self._auto_post(auto, wamid)
        return reply

    def _auto_post(self, upto: str, wamid: str) -> None:
        try:
            self.post_statuses(upto, wamids=[wamid])
        except Exception as exc:  # noqa: BLE001 - a receiver failure must not kill the handler thread
            with self._lock:
                self.auto_errors.append(repr(exc))  # a test asserts this stays empty

    def _in_window(self, to: str) -> bool:
        last = self._last_inbound.get(to)
        return last is not None and self.wall_clock() - last < CUSTOMER_SERVICE_WINDOW

    def _accept(self, to: str, payload: dict[str, Any], category: str) -> WhatsAppMessage:
        in_window = self._in_window(to)
        if category == "service":
            billable = False
        elif category == "utility":
            billable = not in_window  # utility templates inside an open service window are free
        else:
            billable = True
        accepted_at = int(self.wall_clock())
        day = accepted_at // 86400
        conversation_id = hashlib.sha256(f"{to}:{category}:{day}".encode()).hexdigest()[:32]
        scripted = next((i for i, (number, _) in enumerate(self._fail_delivery) if number == to), None)
        fail_with = self._fail_delivery.pop(scripted)[1] if scripted is not None else None
        message = WhatsAppMessage(
            wamid=self._wamid(f"out:{to}"), to=to, type=str(payload.get("type")), body=payload,
            accepted_at=accepted_at, pricing_category=category, billable=billable,
            pricing_type="regular" if billable else "free_customer_service", conversation_id=conversation_id,
            fail_with=fail_with)
        self._messages.append(message)
        return message

    def _validate(self, payload: dict[str, Any]) -> str:
        """Check one message as the Cloud API does; return its pricing category or raise ``_Refused``."""
        kind = payload.get("type", "text")
        content = payload.get(kind)
        if not isinstance(content, dict):
            raise _Refused(131008, f"Parameter '{kind}' is required.")
        if kind == "text":
            text = content.get("body")
            if not isinstance(text, str) or not text.strip() or len(text) > 4096:
                raise _Refused(131009, "text.body must have 1 to 4096 characters.")
            return "service"
        if kind == "image":
            if not content.get("link") and not content.get("id"):
                raise _Refused(131008, "image.link or image.id is required.")
            return "service"
        if kind == "interactive":
            self._validate_interactive(content)
            return "service"
        if kind == "template":
            return self._validate_template(content)
        raise _Refused(131051)

    @staticmethod
    def _validate_interactive(content: Mapping[str, Any]) -> None:
        body_text = (content.get("body") or {}).get("text")
        action = content.get("action") or {}
        if not isinstance(body_text, str) or not body_text.strip():
            raise _Refused(131008, "interactive.body.text is required.")
        if content.get("type") == "button":
            buttons = action.get("buttons") or []
            replies = [b.get("reply") or {} for b in buttons if isinstance(b, dict) and b.get("type") == "reply"]
            if not 1 <= len(buttons) <= 3 or len(replies) != len(buttons) or len(body_text) > 1024:
                raise _Refused(131009, "interactive.action.buttons: 1 to 3 reply buttons.")
            _check_choices(replies, id_limit=256, title_limit=20)
            return
        if content.get("type") == "list":
            label = action.get("button")
            sections = action.get("sections") or []
            rows = [r for s in sections if isinstance(s, dict) for r in s.get("rows") or []]
            if not isinstance(label, str) or not label.strip() or len(label) > 20 or len(body_text) > 4096:
                raise _Refused(131009, "interactive.action.button: 1 to 20 characters.")
            if not sections or not 1 <= len(rows) <= 10 or (len(sections) > 1 and not all(s.get("title")
                                                                                       for s in sections)):
                raise _Refused(131009, "interactive.action.sections: 1 to 10 rows in all.")
            _check_choices(rows, id_limit=200, title_limit=24)
            return
        raise _Refused(131009, f"interactive.type {content.get('type')!r} is not served by this fake.")

    def _validate_template(self, content: Mapping[str, Any]) -> str:
        name = content.get("name")
        language = (content.get("language") or {}).get("code")
        if not name or not language:
            raise _Refused(131008, "template.name and template.language.code are required.")
        found = next((t for t in self.templates if t["name"] == name and t["language"] == language), None)
        status = str((found or {}).get("status", "")).upper()
        if found is None or status in ("PENDING", "REJECTED", "IN_APPEAL", "PENDING_DELETION", "DELETED"):
            raise _Refused(132001, f"template name ({name}) does not exist in {language}")
        if status == "PAUSED":
            raise _Refused(132015)
        if status == "DISABLED":
            raise _Refused(132016)
        body_text = next((c.get("text", "") for c in found["components"] if c.get("type", "").upper() == "BODY"), "")
        expected = len(body_placeholders(body_text))
        given: list[Any] = []
        for component in content.get("components") or []:
            if isinstance(component, dict) and str(component.get("type", "")).lower() == "body":
                given = component.get("parameters") or []
        if len(given) != expected:
            raise _Refused(132000, f"body: number of localizable_params ({len(given)}) does not match the "
                                   f"expected number of params ({expected})")
        if any(not isinstance(p, dict) or p.get("type") != "text" or not str(p.get("text") or "").strip()
               for p in given):
            raise _Refused(131008, "body parameters must be non-empty text.")
        return str(found.get("category", "MARKETING")).lower()

    def _list_templates(self, params: Mapping[str, str], full_path: str) -> Reply:
        with self._lock:
            items = [dict(t) for t in self.templates]
        if params.get("status"):
            wanted = {s.strip().upper() for s in params["status"].split(",")}
            items = [t for t in items if str(t.get("status", "")).upper() in wanted]
        if params.get("name"):
            items = [t for t in items if params["name"].lower() in t["name"].lower()]
        fields = [f for f in (params.get("fields") or "").split(",") if f]
        if fields:  # Graph returns the requested fields, and always the id
            items = [{k: v for k, v in t.items() if k in fields or k == "id"} for t in items]
        else:
            items = [{k: t[k] for k in ("name", "status", "language", "category", "id") if k in t} for t in items]
        try:
            limit = min(max(1, int(params.get("limit") or 25)), self.page_size_max)
            offset = int(base64.urlsafe_b64decode(params["after"] + "==").decode()) if params.get("after") else 0
        except (ValueError, KeyError):
            return _error(100, message="(#100) Invalid cursor or limit")
        chunk = items[offset:offset + limit]
        paging: dict[str, Any] = {"cursors": {"before": _cursor(offset), "after": _cursor(offset + len(chunk))}}
        if offset + len(chunk) < len(items):
            query = {k: v for k, v in params.items() if k not in ("access_token", "appsecret_proof")}
            paging["next"] = f"{self.base_url}{full_path}?{urlencode({**query, 'after': _cursor(offset + len(chunk))})}"
        return Reply(200, {"data": chunk, "paging": paging})


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(str(offset).encode()).decode().rstrip("=")


def _check_choices(choices: Sequence[Mapping[str, Any]], *, id_limit: int, title_limit: int) -> None:
    ids = [str(c.get("id") or "") for c in choices]
    titles = [str(c.get("title") or "") for c in choices]
    if any(not i or len(i) > id_limit for i in ids) or len(set(ids)) != len(ids):
        raise _Refused(131009, f"ids must be unique, 1 to {id_limit} characters.")
    if any(not t.strip() or len(t) > title_limit for t in titles) or len(set(titles)) != len(titles):
        raise _Refused(131009, f"titles must be unique, 1 to {title_limit} characters.")


def main() -> None:
    """Serve the fake Cloud API in a process of its own (benchmarks, manual runs).

    ``.venv/bin/python -m tests.fakes.whatsapp_server --port 8082 --rate 80 --webhook-url URL
    --auto-statuses read`` then point ``WhatsAppClient(base_url=...)`` at it. Prints one line per
    second: accepted messages, 130429 answers. Templates: ``--template name:CATEGORY:body`` (repeatable).
    """
    import argparse

    parser = argparse.ArgumentParser(description=(main.__doc__ or "").splitlines()[0])
    parser.add_argument("--port", type=int, default=8082)
    parser.add_argument("--rate", type=float, default=DEFAULT_RATE, help="messages per second (0: no limit)")
    parser.add_argument("--token", default="wa-token")
    parser.add_argument("--app-secret", default="wa-app-secret")
    parser.add_argument("--webhook-url", default=None)
    parser.add_argument("--auto-statuses", choices=STATUS_STEPS, default=None)
    parser.add_argument("--template", action="append", default=[], metavar="NAME:CATEGORY:BODY")
    args = parser.parse_args()
    templates = [template(name, body, category=category)
                 for name, category, body in (spec.split(":", 2) for spec in args.template)]
    fake = FakeWhatsApp(access_token=args.token, app_secret=args.app_secret, rate=args.rate or None,
                        templates=templates, webhook_target=args.webhook_url, auto_statuses=args.auto_statuses,
                        port=args.port)
    fake.start()
    print(f"Fake WhatsApp Cloud API on {fake.base_url} (phone_number_id {fake.phone_number_id}, "
          f"waba {fake.waba_id})", flush=True)
    try:
        while True:
            time.sleep(1)
            print(f"accepted={len(fake.messages)} throttled={fake.throttled_count}", flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
