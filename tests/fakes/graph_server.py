"""A fake Graph API server on 127.0.0.1 for end-to-end tests and the benchmark (standard library only).

    with FakeGraph(access_token="tok", campaigns=5, days=40, currency="XAF") as fake:
        client = GraphClient("tok", base_url=fake.base_url)
        rows = client.ad_insights_daily("act_1", fake.start, fake.end)
        assert rows == fake.expected_rows()

What it serves, under the pinned version path (``/v26.0``), shaped like Graph:

- ``GET act_<id>/campaigns`` (cursor paging), ``GET act_<id>/insights`` (sync: ``level=campaign``,
  ``time_increment=1``, ``time_range`` JSON, ``fields``, ``limit`` capped at ``page_size_max``),
  ``POST act_<id>/insights`` -> ``{"report_run_id"}``, ``GET <report_run_id>`` ("Job Running" for
  ``async_polls - 1`` polls, then "Job Completed"), ``GET <report_run_id>/insights`` (paged).
- ``GET <page_id>/insights?metric=..&since&until&period=day`` with Meta's time-window ``paging``
  (``previous``/``next`` move the window; they are not "more rows").
- ``POST me/messages`` (Messenger: text, attachment, ``quick_replies`` <= 13 with titles <= 20) and
  ``POST <phone_number_id>/messages`` (WhatsApp; ``tests.fakes.whatsapp_server`` is the full Cloud API
  fake); sends are recorded in ``fake.sent``.

Messenger webhooks, signed ``X-Hub-Signature-256`` with ``webhook_secret`` (default ``app_secret``)
and posted to ``webhook_target`` (a URL, or a callable taking the raw body and headers), on the
test's schedule: ``post_receipts(upto="delivery" | "read")`` posts the delivery (``mids`` +
``watermark``) and read (``watermark``) events of the messages sent through ``me/messages``, one
webhook per person and step; ``auto_receipts`` posts them right after each send's answer (for
live-server runs). ``post_inbound_message`` (text, or a tapped quick reply with its payload) and
``post_postback`` are the person writing to the Page, with their own ``timestamp`` (``at``).

Rate limits: every response carries ``X-App-Usage`` and ``X-Business-Use-Case-Usage`` (and
``X-Ad-Account-Usage`` on ad-account paths) whose percentages are the share of ``budget`` used in
the last ``window_seconds``. A call over budget is answered with error 80004 (ad account paths) or
4 (others) and an ``estimated_time_to_regain_access``; throttled calls do not count toward the
window. ``throttle_next()`` / ``fail_next()`` inject one error. A wrong token gets code 190.
``messenger_rate`` (sends per second through ``me/messages``; Meta documents 300 a second per Page
for text) is a sliding window on ``clock``: a send over it is answered with error 613 and not kept
(``messenger_throttled_count``), as the Send API does.

Data are deterministic (campaign index x day offset), so ``expected_rows()`` and
``expected_page_metrics()`` say exactly what a correct client must return.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from integrations.meta.base import GRAPH_API_VERSION
from integrations.meta.types import AdCampaign, AdInsightRow, PageMetricDay
from tests.fakes.loopback import (
    LoopbackServer,
    PostedWebhook,
    PostsSignedWebhooks,
    Reply,
    SignedWebhooks,
    SlidingWindow,
    WebhookTarget,
)

ZERO_DECIMAL_CURRENCIES = frozenset({"XAF", "XOF", "JPY", "KRW", "CLP", "VND"})
SUPPORTED_PAGE_METRICS = ("page_follows", "page_media_view", "page_post_engagements",
                          "page_daily_follows_unique", "page_total_media_view_unique", "page_views_total")
THROTTLE_MESSAGES = {
    4: "(#4) Application request limit reached",
    17: "(#17) User request limit reached",
    32: "(#32) Page request limit reached",
    613: "(#613) Calls to this api have exceeded the rate limit.",
    80000: "(#80000) There have been too many calls from this ad-account. Wait a bit and try again.",
    80004: "(#80004) There have been too many calls to this ad-account. Wait a bit and try again.",
}
BUSINESS_ID = "1029384756"
PAGE_ID = "682498302938465"
RECEIPT_STEPS = ("delivery", "read")
# Send API quick-reply limits: at most 13, title up to 20 characters, payload up to 1000.
MAX_QUICK_REPLIES, MAX_QUICK_REPLY_TITLE, MAX_QUICK_REPLY_PAYLOAD = 13, 20, 1000


@dataclass
class _Injected:
    status: int
    error: dict[str, Any]
    estimated_minutes: int | None = None
    path_contains: str | None = None


@dataclass
class _Report:
    id: str
    rows: list[dict[str, Any]]
    polls: int = 0
    final_status: str = "Job Completed"


_Reply = Reply  # the shared reply type of tests.fakes.loopback


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode().rstrip("=")


def _offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        return max(0, int(text.split(":", 1)[1]))
    except (ValueError, IndexError):
        return -1


def _graph_error(message: str, code: int, *, subcode: int | None = None, kind: str = "OAuthException",
                 transient: bool = False) -> dict[str, Any]:
    error: dict[str, Any] = {"message": message, "type": kind, "code": code, "is_transient": transient,
                             "fbtrace_id": "AbCdEfGhIjKlMnOp"}
    if subcode is not None:
        error["error_subcode"] = subcode
    return {"error": error}


def _parse_day(value: str | None) -> date | None:
    if not value:
        return None
    try:
        if value.isdigit():
            return datetime.fromtimestamp(int(value), tz=UTC).date()
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


class FakeGraph(PostsSignedWebhooks, LoopbackServer):
    """The fake server; use as a context manager, then read ``base_url``."""

    thread_name = "fake-graph"

    def __init__(self, *, access_token: str = "tok", app_secret: str | None = None,
                 campaigns: int | Sequence[Mapping[str, str]] = 3, days: int = 14,
                 start: date = date(2026, 1, 1), currency: str = "XAF", page_size_max: int = 100,
                 async_polls: int = 2, budget: int = 600, window_seconds: float = 60.0,
                 enforce_budget: bool = True, clock: Callable[[], float] = time.monotonic,
                 page_id: str = PAGE_ID, webhook_secret: str | None = None,
                 webhook_target: WebhookTarget | None = None, auto_receipts: str | None = None,
                 wall_clock: Callable[[], float] = time.time, messenger_rate: float | None = None):
        super().__init__()
        self.access_token = access_token
        self.app_secret = app_secret
        if isinstance(campaigns, int):
            self.campaigns = [
                {"id": str(120210000000000001 + i), "name": f"Campagne {i + 1}",
                 "status": "PAUSED" if i % 4 == 3 else "ACTIVE"}
                for i in range(campaigns)
            ]
        else:
            self.campaigns = [dict(c) for c in campaigns]
        self.start = start
        self.days = days
        self.currency = currency
        self.page_size_max = page_size_max
        self.async_polls = max(1, async_polls)
        self.budget = budget
        self.window_seconds = window_seconds
        self.enforce_budget = enforce_budget
        self.clock = clock

        self.request_count = 0
        self.throttled_count = 0
        self.requests: list[tuple[str, str, dict[str, str]]] = []  # (method, path, params)
        self.sent: list[dict[str, Any]] = []
        self.reports: dict[str, _Report] = {}
        self._calls: deque[float] = deque()
        self._injected: list[_Injected] = []
        self._next_report_status: str | None = None
        self._lock = threading.Lock()
        # Messenger webhooks: Meta signs them with the app secret.
        self.page_id = page_id
        self.auto_receipts = auto_receipts
        self.wall_clock = wall_clock
        self._hooks = SignedWebhooks(webhook_secret or app_secret, webhook_target)
        self._receipts: dict[str, list[str]] = {}  # mid -> receipt steps already posted
        self._inbound_count = 0
        self.auto_errors: list[str] = []
        self.messenger_rate = messenger_rate
        self.messenger_throttled_count = 0

    def __enter__(self) -> FakeGraph:
        self._serve()
        return self

    # -- test controls ----------------------------------------------------------------------------

    @property
    def messenger_rate(self) -> float | None:
        """Sends per second accepted through ``me/messages`` (None: no limit)."""
        return self._messenger_rate

    @messenger_rate.setter
    def messenger_rate(self, value: float | None) -> None:
        self._messenger_rate = value
        self._messenger_window = SlidingWindow(value) if value else None

    @property
    def end(self) -> date:
        """Last day with ad data."""
        return self.start + timedelta(days=self.days - 1)

    def fail_next(self, code: int, *, subcode: int | None = None, status: int = 400, message: str | None = None,
                  transient: bool = False, path_contains: str | None = None) -> None:
        """Answer the next request (whose path contains ``path_contains``, if given) with this Graph error."""
        with self._lock:
            self._injected.append(_Injected(status, _graph_error(message or f"(#{code}) Injected error", code,
                                                                 subcode=subcode, transient=transient),
                                            path_contains=path_contains))

    def throttle_next(self, code: int = 80004, *, estimated_time_to_regain_access: int = 0,
                      status: int | None = None, path_contains: str | None = None) -> None:
        """Answer the next request with a throttling error and a matching ``X-Business-Use-Case-Usage``."""
        http_status = status or (403 if code in (4, 17, 32, 613) else 400)
        subcode = 2446079 if code in (17, 80004) else None
        with self._lock:
            self._injected.append(_Injected(http_status, _graph_error(
                THROTTLE_MESSAGES.get(code, f"(#{code}) Rate limited"), code, subcode=subcode, transient=True),
                estimated_minutes=estimated_time_to_regain_access, path_contains=path_contains))

    # -- Messenger webhooks -------------------------------------------------------------------------



    def post_receipts(self, upto: str = "read", *, mids: Sequence[str] | None = None, psid: str | None = None,
                      at: datetime | float | None = None) -> list[PostedWebhook]:
        """Post Messenger receipts for messages sent through ``me/messages`` that have not had them yet.

        ``upto="delivery"`` posts a delivery event per person (the ``mids`` delivered and a
        ``watermark``); ``"read"`` also posts a read event per person (``watermark`` only, as Meta
        does: everything sent before it was read). ``at`` is the event time (default: wall clock).
        Only the messages in ``mids`` / to ``psid`` when given.
        """
        if upto not in RECEIPT_STEPS:
            raise ValueError(f"upto must be one of {RECEIPT_STEPS}")
        millis = _epoch_ms(at, self.wall_clock)
        wanted = set(mids) if mids is not None else None
        batches: dict[tuple[str, str], list[str]] = {}
        with self._lock:
            for sent in self.sent:
                if sent["channel"] != "messenger":
                    continue
                mid, to = sent["message_id"], sent["to"]
                if (wanted is not None and mid not in wanted) or (psid is not None and to != psid):
                    continue
                done = self._receipts.setdefault(mid, [])
                for step in RECEIPT_STEPS[:RECEIPT_STEPS.index(upto) + 1]:
                    if step not in done:
                        done.append(step)
                        batches.setdefault((to, step), []).append(mid)
        posted = []
        for (to, step), step_mids in sorted(batches.items(), key=lambda kv: RECEIPT_STEPS.index(kv[0][1])):
            event: dict[str, Any] = {"sender": {"id": to}, "recipient": {"id": self.page_id}}
            if step == "delivery":  # Meta's delivery events carry no top-level timestamp
                event["delivery"] = {"mids": step_mids, "watermark": millis}
            else:
                event["timestamp"] = millis
                event["read"] = {"watermark": millis}
            posted.append(self._hooks.post(self._page_envelope(event, millis), event_id=f"{step}:{to}:{millis}"))
        return posted

    def post_inbound_message(self, psid: str, text: str, *, quick_reply_payload: str | None = None,
                             at: datetime | float | None = None,
                             referral: Mapping[str, Any] | None = None) -> PostedWebhook:
        """The person ``psid`` writes ``text`` to the Page, or taps a quick reply (its title as ``text``)."""
        millis = _epoch_ms(at, self.wall_clock)
        with self._lock:
            self._inbound_count += 1
            mid = f"m_in_{self._inbound_count:018d}"
        message: dict[str, Any] = {"mid": mid, "text": text}
        if quick_reply_payload is not None:
            message["quick_reply"] = {"payload": quick_reply_payload}
        if referral is not None:
            message["referral"] = dict(referral)
        event = {"sender": {"id": psid}, "recipient": {"id": self.page_id}, "timestamp": millis, "message": message}
        return self._hooks.post(self._page_envelope(event, millis), event_id=mid)

    def post_postback(self, psid: str, payload: str, title: str, *,
                      at: datetime | float | None = None) -> PostedWebhook:
        """The person ``psid`` taps a postback button (e.g. "Get Started")."""
        millis = _epoch_ms(at, self.wall_clock)
        with self._lock:
            self._inbound_count += 1
            mid = f"m_pb_{self._inbound_count:018d}"
        event = {"sender": {"id": psid}, "recipient": {"id": self.page_id}, "timestamp": millis,
                 "postback": {"mid": mid, "title": title, "payload": payload}}
        return self._hooks.post(self._page_envelope(event, millis), event_id=mid)

    def _page_envelope(self, event: dict[str, Any], millis: int) -> dict[str, Any]:
        return {"object": "page", "entry": [{"id": self.page_id, "time": millis, "messaging": [event]}]}

    def _auto_receipts(self, upto: str, mid: str) -> None:
        try:
            self.post_receipts(upto, mids=[mid])
        except Exception as exc:  # noqa: BLE001 - a receiver failure must not kill the handler thread
            with self._lock:
                self.auto_errors.append(repr(exc))  # a test asserts this stays empty

    def fail_next_report(self, status: str = "Job Failed") -> None:
        """Make the next async report run end in ``status`` ("Job Failed" or "Job Skipped")."""
        with self._lock:
            self._next_report_status = status

    # -- deterministic data -----------------------------------------------------------------------

    def _spend(self, ci: int, d: int) -> str:
        if self.currency.upper() in ZERO_DECIMAL_CURRENCIES:
            return str(500 + (ci * 7919 + d * 3571 + ci * d * 13) % 20000)
        cents = 100 + (ci * 7919 + d * 104729 + ci * d * 31) % 250000
        return f"{cents // 100}.{cents % 100:02d}"

    def _row(self, ci: int, day: date) -> dict[str, Any]:
        d = (day - self.start).days
        impressions = 1000 + (ci * 37 + d * 101) % 9000
        clicks = impressions // 50
        conversations = clicks // 7
        actions = [{"action_type": "link_click", "value": str(clicks)}]
        if conversations:  # Meta leaves out actions that did not happen
            actions.append({"action_type": "onsite_conversion.messaging_conversation_started_7d",
                            "value": str(conversations)})
        campaign = self.campaigns[ci]
        return {
            "campaign_id": campaign["id"], "campaign_name": campaign["name"], "spend": self._spend(ci, d),
            "impressions": str(impressions), "reach": str(impressions * 2 // 3), "clicks": str(clicks),
            "actions": actions, "account_currency": self.currency,
            "date_start": day.isoformat(), "date_stop": day.isoformat(),
        }

    def _rows(self, since: date, until: date) -> list[dict[str, Any]]:
        first, last = max(since, self.start), min(until, self.end)
        rows = []
        day = first
        while day <= last:
            rows += [self._row(ci, day) for ci in range(len(self.campaigns))]
            day += timedelta(days=1)
        return rows

    def expected_rows(self, since: date | None = None, until: date | None = None) -> list[AdInsightRow]:
        """The rows a correct client returns for ``since..until`` (default: every day with data)."""
        return [
            AdInsightRow(
                campaign_id=r["campaign_id"], campaign_name=r["campaign_name"], day=date.fromisoformat(r["date_start"]),
                spend=Decimal(r["spend"]), currency=r["account_currency"], impressions=int(r["impressions"]),
                reach=int(r["reach"]), clicks=int(r["clicks"]),
                actions={a["action_type"]: int(a["value"]) for a in r["actions"]},
            )
            for r in self._rows(since or self.start, until or self.end)
        ]

    def expected_campaigns(self) -> list[AdCampaign]:
        """The campaigns a correct ``list_campaigns`` returns."""
        return [AdCampaign(id=c["id"], name=c["name"], status=c["status"]) for c in self.campaigns]

    @staticmethod
    def page_metric_value(metric: str, day: date) -> int:
        """The deterministic value of a Page metric on a day."""
        salt = sum(map(ord, metric))
        if metric == "page_follows":
            return 1000 + (day.toordinal() % 1000) * 3
        return 100 + (day.toordinal() * 37 + salt) % 400

    def expected_page_metrics(self, metrics: Sequence[str], since: date, until: date) -> list[PageMetricDay]:
        """Every (metric, day) a correct ``page_insights`` returns, both ends included."""
        out = []
        for metric in metrics:
            day = since
            while day <= until:
                out.append(PageMetricDay(metric=metric, day=day, value=self.page_metric_value(metric, day)))
                day += timedelta(days=1)
        return out

    # -- request handling -------------------------------------------------------------------------

    def _usage_headers(self, path: str, pct: int, minutes: int, reset_seconds: int) -> dict[str, str]:
        owner = path.split("/", 1)[0]
        if owner.startswith("act_") or owner in self.reports:
            use_case = "ads_insights" if path.endswith("insights") else "ads_management"
        else:
            use_case = "pages"
        headers = {
            "X-App-Usage": json.dumps({"call_count": pct, "total_cputime": pct * 3 // 5, "total_time": pct * 4 // 5}),
            "X-Business-Use-Case-Usage": json.dumps({BUSINESS_ID: [{
                "type": use_case, "call_count": pct, "total_cputime": pct * 3 // 5, "total_time": pct * 4 // 5,
                "estimated_time_to_regain_access": minutes, "ads_api_access_tier": "standard_access",
            }]}),
        }
        if path.startswith("act_"):
            headers["X-Ad-Account-Usage"] = json.dumps({"acc_id_util_pct": pct, "reset_time_duration": reset_seconds,
                                                        "ads_api_access_tier": "standard_access"})
        return headers

    def handle(self, method: str, raw_path: str, headers: Mapping[str, str], body: bytes) -> _Reply:
        """Answer one request (called by the HTTP handler thread; serialised by a lock)."""
        with self._lock:
            return self._handle(method, raw_path, headers, body)

    def _handle(self, method: str, raw_path: str, headers: Mapping[str, str], body: bytes) -> _Reply:
        self.request_count += 1
        parts = urlsplit(raw_path)
        params = dict(parse_qsl(parts.query, keep_blank_values=True))
        json_body: Any = None
        content_type = headers.get("Content-Type", "")
        if body and "json" in content_type:
            try:
                json_body = json.loads(body)
            except ValueError:
                return _Reply(400, _graph_error("(#100) Invalid JSON body", 100))
        elif body:
            params.update(parse_qsl(body.decode(), keep_blank_values=True))
        segments = [s for s in parts.path.split("/") if s]
        self.requests.append((method, parts.path, {k: v for k, v in params.items() if k != "access_token"}))

        if not segments or segments[0] != GRAPH_API_VERSION:
            return _Reply(400, _graph_error("(#2635) Unknown or unsupported API version", 2635))
        path = "/".join(segments[1:])

        token = params.get("access_token")
        auth = headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            token = auth[len("Bearer "):]
        if not token:
            return _Reply(400, _graph_error("An active access token must be used to query information.", 2500))
        if token != self.access_token:
            return _Reply(400, _graph_error("Invalid OAuth access token - Cannot parse access token", 190),
                          {"WWW-Authenticate": 'OAuth "Facebook Platform" "invalid_token"'})
        if self.app_secret is not None:
            proof = hmac.new(self.app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()
            if not hmac.compare_digest(params.get("appsecret_proof", ""), proof):
                return _Reply(400, _graph_error("Invalid appsecret_proof provided in the API argument", 100))

        # Sliding window of accepted calls: percentages grow with use, and an over-budget call is refused.
        now = self.clock()
        while self._calls and self._calls[0] <= now - self.window_seconds:
            self._calls.popleft()
        free_in = (self._calls[0] + self.window_seconds - now) if self._calls else 0.0
        # Meta reports whole minutes, rounded down; the ad-account header gives seconds.
        minutes, reset_seconds = int(free_in // 60), math.ceil(free_in)

        for i, injected in enumerate(self._injected):
            if injected.path_contains is None or injected.path_contains in path:
                del self._injected[i]
                pct = min(100, round(len(self._calls) * 100 / self.budget))
                if injected.estimated_minutes is not None:
                    self.throttled_count += 1
                    pct, minutes = 100, injected.estimated_minutes
                return _Reply(injected.status, injected.error, self._usage_headers(path, pct, minutes, reset_seconds))

        if self.enforce_budget and len(self._calls) >= self.budget:
            self.throttled_count += 1
            code = 80004 if path.startswith("act_") else 4
            error = _graph_error(THROTTLE_MESSAGES[code], code, subcode=2446079 if code == 80004 else None,
                                 transient=True)
            return _Reply(400 if code == 80004 else 403, error,
                          self._usage_headers(path, 100, max(minutes, 0), reset_seconds))
        self._calls.append(now)
        pct = min(100, round(len(self._calls) * 100 / self.budget))
        usage = self._usage_headers(path, pct, 0, reset_seconds)
        reply = self._route(method, path, params, json_body, parts.path)
        reply.headers = {**usage, **reply.headers}
        return reply

    def _route(self, method: str, path: str, params: dict[str, str], json_body: Any, full_path: str) -> _Reply:
        segments = path.split("/")
        if method == "GET" and len(segments) == 2 and segments[0].startswith("act_") and segments[1] == "campaigns":
            items = [{k: c[k] for k in ("id", "name", "status") if k in c} for c in self.campaigns]
            return self._page(items, params, full_path)
        if len(segments) == 2 and segments[0].startswith("act_") and segments[1] == "insights":
            return self._ad_insights(method, params, full_path)
        if method == "POST" and path == "me/messages":
            return self._messenger_send(json_body)
        if method == "POST" and len(segments) == 2 and segments[1] == "messages":
            return self._whatsapp_send(segments[0], json_body)
        if method == "GET" and len(segments) == 1 and segments[0] in self.reports:
            return self._report_status(self.reports[segments[0]])
        if method == "GET" and len(segments) == 2 and segments[1] == "insights":
            if segments[0] in self.reports:
                report = self.reports[segments[0]]
                if report.polls < self.async_polls or report.final_status != "Job Completed":
                    return _Reply(400, _graph_error("(#100) The report is not ready", 100))
                return self._page(report.rows, params, full_path)
            return self._page_insights(segments[0], params, full_path)
        return _Reply(400, _graph_error(f"(#100) Unsupported {method.lower()} request: {path}", 100,
                                        kind="GraphMethodException"))

    def _page(self, items: list[dict[str, Any]], params: dict[str, str], full_path: str) -> _Reply:
        limit = min(max(1, int(params.get("limit") or 25)), self.page_size_max)
        offset = _offset(params.get("after"))
        if offset < 0:
            return _Reply(400, _graph_error("(#100) Invalid cursor", 100))
        chunk = items[offset:offset + limit]
        paging: dict[str, Any] = {"cursors": {"before": _cursor(offset), "after": _cursor(offset + len(chunk))}}
        if offset + len(chunk) < len(items):
            nxt = {**params, "after": _cursor(offset + len(chunk))}
            paging["next"] = f"{self.base_url}{full_path}?{urlencode(nxt)}"
        return _Reply(200, {"data": chunk, "paging": paging})

    def _ad_insights(self, method: str, params: dict[str, str], full_path: str) -> _Reply:
        if params.get("level") != "campaign" or params.get("time_increment") != "1":
            return _Reply(400, _graph_error("(#100) This fake serves level=campaign&time_increment=1 only", 100))
        try:
            time_range = json.loads(params.get("time_range") or "")
            since, until = date.fromisoformat(time_range["since"]), date.fromisoformat(time_range["until"])
        except (ValueError, KeyError, TypeError):
            return _Reply(400, _graph_error("(#100) time_range must be {'since':..,'until':..}", 100))
        wanted = set((params.get("fields") or "").split(",")) | {"date_start", "date_stop"}
        rows = [{k: v for k, v in row.items() if k in wanted} for row in self._rows(since, until)]
        if method == "POST":
            report_id = str(6000000000000001 + len(self.reports))
            status, self._next_report_status = self._next_report_status or "Job Completed", None
            self.reports[report_id] = _Report(report_id, rows, final_status=status)
            return _Reply(200, {"report_run_id": report_id})
        return self._page(rows, params, full_path)

    def _report_status(self, report: _Report) -> _Reply:
        report.polls += 1
        done = report.polls >= self.async_polls
        status = report.final_status if done else "Job Running"
        percent = 100 if done else report.polls * 100 // self.async_polls
        return _Reply(200, {"id": report.id, "async_status": status, "async_percent_completion": percent})

    def _page_insights(self, page_id: str, params: dict[str, str], full_path: str) -> _Reply:
        metrics = [m for m in (params.get("metric") or "").split(",") if m]
        if not metrics:
            return _Reply(400, _graph_error("No metric was specified to be fetched.", 3001, subcode=1504028))
        bad = [m for m in metrics if m not in SUPPORTED_PAGE_METRICS]
        if bad:
            return _Reply(400, _graph_error(f"(#100) The value must be a valid insights metric: {bad[0]}", 100))
        if params.get("period", "day") != "day":
            return _Reply(400, _graph_error("(#100) This fake serves period=day only", 100))
        since, until = _parse_day(params.get("since")), _parse_day(params.get("until"))
        if since is None or until is None or until <= since:
            return _Reply(400, _graph_error("(#100) since and until must be dates, since before until", 100))
        span = (until - since).days
        if span > 90:
            return _Reply(400, _graph_error("(#100) There cannot be more than 90 days between since and until", 100))
        data = []
        for metric in metrics:
            values = []
            day = since
            while day < until:  # `until` is exclusive for daily values, as on Graph
                end = f"{(day + timedelta(days=1)).isoformat()}T08:00:00+0000"
                values.append({"value": self.page_metric_value(metric, day), "end_time": end})
                day += timedelta(days=1)
            data.append({"name": metric, "period": "day", "values": values, "title": metric,
                         "description": metric, "id": f"{page_id}/insights/{metric}/day"})

        def window(shift: int) -> str:
            moved = {**params, "since": (since + timedelta(days=shift)).isoformat(),
                     "until": (until + timedelta(days=shift)).isoformat()}
            return f"{self.base_url}{full_path}?{urlencode(moved)}"

        return _Reply(200, {"data": data, "paging": {"previous": window(-span), "next": window(span)}})

    def _messenger_send(self, body: Any) -> _Reply:
        if not isinstance(body, dict) or not (body.get("recipient") or {}).get("id") or "message" not in body:
            return _Reply(400, _graph_error("(#100) The parameter recipient is required", 100))
        if body.get("messaging_type") not in ("RESPONSE", "UPDATE", "MESSAGE_TAG"):
            return _Reply(400, _graph_error("(#100) Invalid messaging_type", 100))
        refused = _check_quick_replies((body.get("message") or {}).get("quick_replies"))
        if refused:
            return _Reply(400, _graph_error(f"(#100) {refused}", 100))
        psid = str(body["recipient"]["id"])
        if self._messenger_window is not None:
            now = self.clock()
            if self._messenger_window.wait(now) > 0:
                self.messenger_throttled_count += 1
                return _Reply(400, _graph_error(THROTTLE_MESSAGES[613], 613, transient=True))
            self._messenger_window.add(now)
        message_id = f"m_{len(self.sent) + 1:020d}"
        self.sent.append({"channel": "messenger", "to": psid, "body": body, "message_id": message_id,
                          "time": self.wall_clock()})
        reply = _Reply(200, {"recipient_id": psid, "message_id": message_id})
        if self.auto_receipts:
            upto = self.auto_receipts
            reply.after = lambda: self._auto_receipts(upto, message_id)
        return reply

    def _whatsapp_send(self, phone_number_id: str, body: Any) -> _Reply:
        if not isinstance(body, dict) or body.get("messaging_product") != "whatsapp":
            return _Reply(400, _graph_error("(#100) The parameter messaging_product is required.", 100))
        to = str(body.get("to") or "")
        if not to.isdigit():
            return _Reply(400, _graph_error("(#100) Invalid parameter: to", 100))
        wamid = f"wamid.HBgM{len(self.sent) + 1:020d}"
        self.sent.append({"channel": "whatsapp", "phone_number_id": phone_number_id, "to": to, "body": body,
                          "message_id": wamid})
        return _Reply(200, {"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": to}],
                            "messages": [{"id": wamid}]})


def _epoch_ms(at: datetime | float | None, default: Callable[[], float]) -> int:
    """Messenger times are epoch milliseconds."""
    if at is None:
        return int(default() * 1000)
    if isinstance(at, datetime):
        if at.tzinfo is None:
            raise ValueError("at must be an aware datetime")
        return int(at.timestamp() * 1000)
    return int(at * 1000)


def _check_quick_replies(replies: Any) -> str | None:
    """What Meta would refuse in ``message.quick_replies``, or None when they are fine."""
    if replies is None:
        return None
    if not isinstance(replies, list) or not 1 <= len(replies) <= MAX_QUICK_REPLIES:
        return f"param message[quick_replies] must have 1 to {MAX_QUICK_REPLIES} elements"
    for reply in replies:
        if not isinstance(reply, dict) or reply.get("content_type") != "text":
            return "param message[quick_replies][content_type] must be text"
        title, payload = str(reply.get("title") or ""), str(reply.get("payload") or "")
        if not title or len(title) > MAX_QUICK_REPLY_TITLE:
            return f"param message[quick_replies][title] must have 1 to {MAX_QUICK_REPLY_TITLE} characters"
        if not payload or len(payload) > MAX_QUICK_REPLY_PAYLOAD:
            return f"param message[quick_replies][payload] must have 1 to {MAX_QUICK_REPLY_PAYLOAD} characters"
    return None
