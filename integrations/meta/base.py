"""The base of every Meta client: pinned Graph version, auth, usage headers, error mapping, paging.

What every Meta client shares:

- The Graph API version is pinned (``GRAPH_API_VERSION``) so a Meta release never changes our
  payloads under us; upgrading is a deliberate change of one constant plus the tests.
- The access token travels in the ``Authorization: Bearer`` header, never in the URL, so it cannot
  leak through a logged URL or an exception that quotes one. With an app secret, every call also
  carries ``appsecret_proof`` = HMAC-SHA256(app_secret, token) as Meta recommends for server calls.
  Token, app secret and proof are scrubbed from every error message.
- After every response the usage headers are parsed into ``client.last_usage``;
  ``client.suggested_pause()`` turns them into a number of seconds to wait before the next call.
- Graph error payloads become ``integrations.errors`` types (see ``_map_common_error``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests

from integrations.errors import IntegrationError, NotConfigured
from integrations.http import DEFAULT_TIMEOUT, BaseClient
from integrations.meta.errors import MetaPermanentError, MetaRateLimited, MetaTransientError
from integrations.meta.types import BusinessUseCaseUsage, Usage

# v26.0 was released on 2026-07-29 and is the newest version listed in Meta's Graph API changelog
# (developers.facebook.com/docs/graph-api/changelog). Marketing API versions follow the same numbers.
GRAPH_API_VERSION = "v26.0"
DEFAULT_BASE_URL = "https://graph.facebook.com"

# Throttling codes from Meta's rate-limiting and error-handling docs:
# 4 app limit, 17 user limit, 32 Page limit, 613 custom per-endpoint limit (Messenger, Ads),
# 80000-80014 Business Use Case limits (ads insights, ads management, custom audiences, Pages, ...).
PLATFORM_THROTTLING_CODES = frozenset({4, 17, 32, 613})
BUC_THROTTLING_CODES = frozenset(range(80000, 80015))
THROTTLING_CODES = PLATFORM_THROTTLING_CODES | BUC_THROTTLING_CODES
# 190: invalid or expired OAuth token; 102: API session (the login behind the token is gone).
TOKEN_INVALID_CODES = frozenset({190, 102})
# 1 "API Unknown" and 2 "API Service" are the codes Meta documents as "retry later".
TRANSIENT_CODES = frozenset({1, 2})
ADS_USER_LIMIT_SUBCODE = 2446079  # code 17 with this subcode is the ads-management BUC limit

# When Meta throttles without telling how long: its windows are rolling one-hour windows and its
# estimates come in whole minutes, so one minute is the smallest honest wait that does not hammer.
DEFAULT_RETRY_AFTER = 60.0
# Meta reports estimated_time_to_regain_access in whole minutes, rounded down: 0 means "within the
# minute". Wait a second rather than a full minute; the caller's capped backoff covers a repeat.
ZERO_ESTIMATE_RETRY_AFTER = 1.0

# Usage thresholds for suggested_pause(). Meta starts throttling at 100 %; below 75 % there is room
# for a burst (an ads sync is ~10-50 calls), so no pause. From 75 % the pause grows linearly so the
# rolling window drains while we keep working; from 95 % one more burst could hit 100 %, so wait a
# full max_pause (or Meta's own estimate when it gives a longer one).
PAUSE_FROM_PCT = 75.0
PAUSE_HARD_PCT = 95.0
SOFT_PAUSE_SHARE = 0.25  # at 95 % the linear pause reaches a quarter of max_pause
DEFAULT_MAX_PAUSE = 60.0


def appsecret_proof(app_secret: str, access_token: str) -> str:
    """Return Meta's ``appsecret_proof``: hex HMAC-SHA256 of the access token keyed by the app secret."""
    return hmac.new(app_secret.encode(), access_token.encode(), hashlib.sha256).hexdigest()


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def _json_header(headers: Mapping[str, str], name: str) -> Any:
    raw = headers.get(name)
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None  # a malformed header must never break a call that otherwise succeeded


def parse_usage(headers: Mapping[str, str]) -> Usage:
    """Read ``X-App-Usage`` (and ``X-Page-Usage``), ``X-Business-Use-Case-Usage`` and ``X-Ad-Account-Usage``.

    Missing or malformed headers read as zero usage.
    """
    call_count = total_cputime = total_time = 0.0
    for name in ("X-App-Usage", "X-Page-Usage"):
        app = _json_header(headers, name)
        if isinstance(app, dict):
            call_count = max(call_count, _number(app.get("call_count")))
            total_cputime = max(total_cputime, _number(app.get("total_cputime")))
            total_time = max(total_time, _number(app.get("total_time")))

    bucs: list[BusinessUseCaseUsage] = []
    buc = _json_header(headers, "X-Business-Use-Case-Usage")
    if isinstance(buc, dict):
        for business_id, entries in buc.items():
            for entry in entries if isinstance(entries, list) else []:
                if not isinstance(entry, dict):
                    continue
                bucs.append(BusinessUseCaseUsage(
                    business_id=str(business_id),
                    type=str(entry.get("type", "")),
                    call_count=_number(entry.get("call_count")),
                    total_cputime=_number(entry.get("total_cputime")),
                    total_time=_number(entry.get("total_time")),
                    estimated_time_to_regain_access=int(_number(entry.get("estimated_time_to_regain_access"))),
                ))

    util_pct: float | None = None
    reset: int | None = None
    tier: str | None = None
    acc = _json_header(headers, "X-Ad-Account-Usage")
    if isinstance(acc, dict):
        util_pct = _number(acc.get("acc_id_util_pct"))
        reset = int(_number(acc.get("reset_time_duration")))
        tier = acc.get("ads_api_access_tier")
    return Usage(call_count=call_count, total_cputime=total_cputime, total_time=total_time,
                 business_use_cases=tuple(bucs), ad_account_util_pct=util_pct,
                 ad_account_reset_time_duration=reset, ads_api_access_tier=tier)


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class GraphBaseClient(BaseClient):
    """Shared plumbing of the Graph, Messenger and WhatsApp clients.

    ``request_count`` counts HTTP requests sent; ``last_usage`` is the usage of the last response.
    When ``auto_pause`` is true (the Graph reporting client) every call first sleeps
    ``suggested_pause()`` seconds through the injectable ``sleep``.
    """

    provider = "meta"
    api_version = GRAPH_API_VERSION
    # Senders leave pacing to their caller's rate limiter instead of blocking a worker; the
    # reporting client (GraphClient) turns this on.
    auto_pause = False

    def __init__(self, access_token: str, *, app_secret: str | None = None, base_url: str = DEFAULT_BASE_URL,
                 timeout: Any = DEFAULT_TIMEOUT, session: requests.Session | None = None,
                 sleep: Callable[[float], None] = time.sleep, max_pause: float = DEFAULT_MAX_PAUSE):
        if not access_token:
            raise NotConfigured(f"{self.provider}: no access token configured")
        self._access_token = access_token
        self._app_secret = app_secret or None
        self._proof = appsecret_proof(app_secret, access_token) if app_secret else None
        super().__init__(base_url=base_url, secrets=[access_token, app_secret or "", self._proof or ""],
                         timeout=timeout, session=session)
        self.sleep = sleep
        self.max_pause = float(max_pause)
        self.request_count = 0
        self.last_usage: Usage | None = None

    # -- usage ------------------------------------------------------------------------------------

    def suggested_pause(self) -> float:
        """Seconds to wait before the next call, from the usage headers of the last response.

        Below ``PAUSE_FROM_PCT`` (75 %) of every budget: 0. Between 75 % and ``PAUSE_HARD_PCT`` (95 %):
        grows linearly up to a quarter of ``max_pause``. From 95 %: ``max_pause``, or Meta's own
        estimate (``estimated_time_to_regain_access`` / ``reset_time_duration``) if that is longer.
        """
        usage = self.last_usage
        if usage is None:
            return 0.0
        peak = usage.peak_pct
        if peak < PAUSE_FROM_PCT:
            return 0.0
        if peak < PAUSE_HARD_PCT:
            share = (peak - PAUSE_FROM_PCT) / (PAUSE_HARD_PCT - PAUSE_FROM_PCT)
            return self.max_pause * SOFT_PAUSE_SHARE * share
        return max(self.max_pause, usage.regain_access_seconds or 0.0)

    # -- HTTP -------------------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.base_url}/{self.api_version}/{path.lstrip('/')}"

    def _call(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
              data: Mapping[str, Any] | None = None, json_body: Any = None) -> dict[str, Any]:
        """Send one Graph request and return its JSON object, or raise a typed error.

        ``path`` is relative to the pinned version (``"act_1/insights"``) or an absolute URL taken from
        ``paging.next`` (already checked to be on our host).
        """
        if self.auto_pause:
            pause = self.suggested_pause()
            if pause > 0:
                self.sleep(pause)
        query = {k: v for k, v in (params or {}).items() if v is not None}
        if self._proof:
            query["appsecret_proof"] = self._proof
        headers = {"Authorization": f"Bearer {self._access_token}"}
        # No params at all rather than an empty dict: requests merges every given mapping with the
        # session's through a runtime Protocol check, a measurable share of a Send API call's CPU.
        resp = self._request(method, self._url(path), params=query or None, data=data, json=json_body,
                             headers=headers)
        self.request_count += 1
        self.last_usage = parse_usage(resp.headers)
        try:
            # Amounts (spend) must never pass through float: JSON decimals become Decimal.
            body = resp.json(parse_float=Decimal)
        except ValueError:
            body = None
        if resp.status_code >= 400 or (isinstance(body, dict) and "error" in body):
            raise self._error_from(resp.status_code, body)
        if not isinstance(body, dict):
            raise MetaTransientError(f"meta: unexpected non-JSON answer (HTTP {resp.status_code})",
                                     reason="bad_response", status=resp.status_code)
        return body

    def _paginate(self, path: str, params: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Yield every item of ``data`` across pages.

        Follows ``paging.cursors.after`` on our own request (same path, same params, ``after=``) while
        Meta says there is a ``next`` page; falls back to the ``paging.next`` URL for offset-paged
        edges that have no cursors, only when it points to our own host.
        """
        query: dict[str, Any] = dict(params or {})
        seen: set[str] = set()
        while True:
            body = self._call("GET", path, params=query)
            data = body.get("data") or []
            yield from (item for item in data if isinstance(item, dict))
            paging = body.get("paging") or {}
            next_url = paging.get("next")
            if not next_url or not data:
                return
            after = (paging.get("cursors") or {}).get("after")
            marker = after or next_url
            if marker in seen:  # a server that repeats a cursor would otherwise loop for ever
                raise MetaTransientError("meta: pagination cursor repeated", reason="paging_loop")
            seen.add(marker)
            if after:
                query["after"] = after
            else:
                path, query = self._own_next_url(next_url), {}

    def _own_next_url(self, url: str) -> str:
        parts = urlsplit(url)
        ours = urlsplit(self.base_url)
        if (parts.scheme, parts.netloc) != (ours.scheme, ours.netloc):
            raise MetaPermanentError("meta: paging.next points to another host", reason="bad_paging")
        # Our own auth goes in the header and params; never resend a token Meta echoed in the URL.
        kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                if k not in ("access_token", "appsecret_proof")]
        return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(kept), ""))

    # -- errors -----------------------------------------------------------------------------------

    def _error_from(self, status: int, body: Any) -> IntegrationError:
        err = body.get("error") if isinstance(body, dict) else None
        if not isinstance(err, dict):
            return self._map_http_status(status)
        code = _as_int(err.get("code"))
        subcode = _as_int(err.get("error_subcode"))
        message = self._scrub(str(err.get("message") or "")).strip()
        mapped = self._map_channel_error(code, subcode, message, status, err)
        return mapped or self._map_common_error(code, subcode, message, status, err)

    def _map_channel_error(self, code: int | None, subcode: int | None, message: str, status: int,
                           err: Mapping[str, Any]) -> IntegrationError | None:
        """Hook for Messenger/WhatsApp specific codes; return None to fall back to the common mapping."""
        return None

    def _map_http_status(self, status: int) -> IntegrationError:
        if status == 429:
            return MetaRateLimited(f"meta: HTTP 429 without details, waiting {DEFAULT_RETRY_AFTER:.0f}s",
                                   retry_after=DEFAULT_RETRY_AFTER, status=status)
        if status >= 500:
            return MetaTransientError(f"meta: HTTP {status}", reason="server_error", status=status)
        return MetaPermanentError(f"meta: HTTP {status} without an error body", reason="http_error",
                                  status=status)

    def _map_common_error(self, code: int | None, subcode: int | None, message: str, status: int,
                          err: Mapping[str, Any]) -> IntegrationError:
        detail = f"code {code}" + (f", subcode {subcode}" if subcode else "")
        if code in TOKEN_INVALID_CODES:
            # Meta quotes malformed tokens in this message; scrubbing only catches an exact copy,
            # so the message is dropped altogether.
            return MetaPermanentError(f"meta: access token invalid or expired ({detail})", reason="token_invalid",
                                      status=status, provider_code=code, error_subcode=subcode)
        if code in THROTTLING_CODES or status == 429:
            wait = self._throttle_wait(code, subcode)
            return MetaRateLimited(f"meta: throttled ({detail}): {message}; retry in {wait:.0f}s",
                                   retry_after=wait, status=status, provider_code=code, error_subcode=subcode)
        if code in TRANSIENT_CODES or err.get("is_transient") is True or status >= 500:
            return MetaTransientError(f"meta: temporary failure ({detail}): {message}", reason="transient",
                                      status=status, provider_code=code, error_subcode=subcode)
        if code == 10 or (code is not None and 200 <= code <= 299):
            reason = "permission_denied"
        elif code == 100:
            reason = "invalid_parameter"
        else:
            reason = "graph_error"
        return MetaPermanentError(f"meta: {reason} ({detail}): {message}", reason=reason, status=status,
                                  provider_code=code, error_subcode=subcode)

    def _throttle_wait(self, code: int | None, subcode: int | None) -> float:
        """Seconds to wait after a throttling error, from the usage headers of that same response."""
        usage = self.last_usage or Usage()
        estimates = [b.estimated_time_to_regain_access for b in usage.business_use_cases]
        if estimates and max(estimates) > 0:
            return max(estimates) * 60.0
        if usage.ad_account_reset_time_duration:
            return float(usage.ad_account_reset_time_duration)
        buc_limit = code in BUC_THROTTLING_CODES or (code == 17 and subcode == ADS_USER_LIMIT_SUBCODE)
        if buc_limit and estimates:
            return ZERO_ESTIMATE_RETRY_AFTER
        return DEFAULT_RETRY_AFTER
