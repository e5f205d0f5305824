"""Messenger Send API client (a Page sends to a person by PSID).

Messenger rules that hold in 2026 and shape this client:

- Standard messaging (``messaging_type`` ``RESPONSE`` or ``UPDATE``), promotional content included,
  is allowed only within 24 hours of the person's last message to the Page; after a person starts
  the conversation from a click-to-Messenger ad the window is 7 days. Outside it Meta answers
  code 10 / subcode 2018278, mapped to ``PermanentError`` with reason ``"outside_window"``.
- Message tags may not carry promotional content. ``ACCOUNT_UPDATE``, ``CONFIRMED_EVENT_UPDATE``
  and ``POST_PURCHASE_UPDATE`` were retired (deprecation from February 2026, gone by April 2026):
  this client refuses them locally, before any HTTP call, with reason ``"tag_retired"``.
  ``HUMAN_AGENT`` (a person replying within 7 days) remains.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import requests

from integrations.errors import IntegrationError
from integrations.http import DEFAULT_TIMEOUT
from integrations.meta.base import DEFAULT_BASE_URL, DEFAULT_MAX_PAUSE, GraphBaseClient
from integrations.meta.errors import (
    MetaInvalidArgument,
    MetaPermanentError,
    MetaRateLimited,
    MetaTransientError,
    MetaUnreachable,
)
from integrations.meta.labels import fit_title
from integrations.meta.types import SentMessage

MESSAGING_TYPES = frozenset({"RESPONSE", "UPDATE", "MESSAGE_TAG"})
RETIRED_TAGS = frozenset({"ACCOUNT_UPDATE", "CONFIRMED_EVENT_UPDATE", "POST_PURCHASE_UPDATE"})
MAX_TEXT_LENGTH = 2000  # Send API limit for message.text (UTF-8 characters)
# Quick replies (Send API reference, "Quick Replies"): at most 13, a title of 20 characters, a
# payload of 1000.
MAX_QUICK_REPLIES = 13
MAX_QUICK_REPLY_TITLE = 20
MAX_QUICK_REPLY_PAYLOAD = 1000
# 613 from the Send API: the Page's calls per second (300 for text) were exceeded. The window is one
# second, so the wait is that, not the minute Graph's other throttles ask for (unless the usage headers
# of the answer give a longer estimate).
SEND_RATE_CODE = 613
SEND_RATE_RETRY_AFTER = 1.0

# (code, subcode) -> (error type, reason). Codes from the Send API error reference.
_SEND_ERRORS: dict[tuple[int, int | None], tuple[str, str]] = {
    # "This person isn't available right now": blocked the Page, restricted messages, or deactivated
    # for now. Meta does not say which, so this message is dropped but the identity is kept.
    (551, 1545041): ("permanent", "person_unavailable"),
    (551, None): ("permanent", "person_unavailable"),
    (10, 2018278): ("permanent", "outside_window"),
    (10, 2018065): ("permanent", "outside_window"),
    # "No matching user found": the PSID does not belong to this Page (or the person is gone).
    (100, 2018001): ("unreachable", "no_matching_user"),
    # Page temporarily restricted from sending (added June 2026): it lifts on its own.
    (10, 1893063): ("transient", "page_restricted"),
}


class MessengerClient(GraphBaseClient):
    """Send text and images from a Page to a person (PSID) through ``POST /{version}/me/messages``.

    Sends are not idempotent on Meta's side: a retried send after a timeout can deliver twice, so
    the caller records the attempt before calling (DESIGN rule 2).
    """

    provider = "messenger"

    def __init__(self, page_access_token: str, *, app_secret: str | None = None,
                 base_url: str = DEFAULT_BASE_URL, timeout: Any = DEFAULT_TIMEOUT,
                 session: requests.Session | None = None, sleep: Callable[[float], None] = time.sleep,
                 max_pause: float = DEFAULT_MAX_PAUSE):
        super().__init__(page_access_token, app_secret=app_secret, base_url=base_url, timeout=timeout,
                         session=session, sleep=sleep, max_pause=max_pause)

    def send_text(self, psid: str, text: str, *, messaging_type: str = "RESPONSE",
                  tag: str | None = None) -> SentMessage:
        """Send a text message to ``psid``.

        ``messaging_type`` is ``RESPONSE`` (a reply inside the 24 h window), ``UPDATE`` (a message the
        Page initiates, also inside the window) or ``MESSAGE_TAG`` with a non-promotional ``tag``.
        Retired tags and texts over 2000 characters are refused before any HTTP call.
        """
        if not text:
            raise MetaPermanentError("messenger: empty text", reason="invalid_argument")
        if len(text) > MAX_TEXT_LENGTH:
            raise MetaPermanentError(f"messenger: text longer than {MAX_TEXT_LENGTH} characters",
                                     reason="text_too_long")
        return self._send(psid, {"text": text}, messaging_type=messaging_type, tag=tag)

    def send_image(self, psid: str, image_url: str, *, messaging_type: str = "RESPONSE",
                   tag: str | None = None) -> SentMessage:
        """Send an image (fetched by Meta from ``image_url``, which must be public HTTPS) to ``psid``."""
        if not image_url.startswith("https://"):
            raise MetaPermanentError("messenger: image_url must be an https URL", reason="invalid_argument")
        message = {"attachment": {"type": "image", "payload": {"url": image_url, "is_reusable": True}}}
        return self._send(psid, message, messaging_type=messaging_type, tag=tag)

    def send_quick_replies(self, psid: str, text: str, replies: list[tuple[str, str]], *,
                           messaging_type: str = "RESPONSE") -> SentMessage:
        """Send ``text`` with quick-reply chips, given as ``(payload, title)``; at most 13.

        A tap comes back as a message whose ``quick_reply.payload`` is the chip's payload
        (``MessengerEvent.payload``) and whose text is its title. Titles over 20 characters are
        shortened with "…"; more than 13 replies, an empty or duplicate payload or title, or a payload
        over 1000 characters raise ``MetaInvalidArgument`` (a ``ValueError``) before any HTTP call.
        """
        if not text:
            raise MetaPermanentError("messenger: empty text", reason="invalid_argument")
        if len(text) > MAX_TEXT_LENGTH:
            raise MetaPermanentError(f"messenger: text longer than {MAX_TEXT_LENGTH} characters",
                                     reason="text_too_long")
        if not replies:
            raise MetaInvalidArgument("messenger: at least one quick reply is required")
        if len(replies) > MAX_QUICK_REPLIES:
            raise MetaInvalidArgument(f"messenger: at most {MAX_QUICK_REPLIES} quick replies, got {len(replies)}")
        chips = []
        for payload, title in replies:
            payload = str(payload or "").strip()
            shown = fit_title(str(title or ""), MAX_QUICK_REPLY_TITLE)
            if not payload or len(payload) > MAX_QUICK_REPLY_PAYLOAD:
                raise MetaInvalidArgument(f"messenger: a quick-reply payload must have 1 to "
                                          f"{MAX_QUICK_REPLY_PAYLOAD} characters")
            if not shown:
                raise MetaInvalidArgument(f"messenger: quick reply {payload!r} has an empty title")
            chips.append({"content_type": "text", "title": shown, "payload": payload})
        if len({c["payload"] for c in chips}) != len(chips) or len({c["title"] for c in chips}) != len(chips):
            raise MetaInvalidArgument("messenger: quick-reply payloads and titles must be unique")
        return self._send(psid, {"text": text, "quick_replies": chips}, messaging_type=messaging_type, tag=None)

    def _send(self, psid: str, message: Mapping[str, Any], *, messaging_type: str,
              tag: str | None) -> SentMessage:
        kind = messaging_type.upper()
        if kind not in MESSAGING_TYPES:
            raise MetaPermanentError(f"messenger: unknown messaging_type {messaging_type!r}",
                                     reason="invalid_argument")
        if tag is not None:
            tag = tag.upper()
            if tag in RETIRED_TAGS:
                raise MetaPermanentError(f"messenger: message tag {tag} was retired by Meta in 2026",
                                         reason="tag_retired")
            kind = "MESSAGE_TAG"  # Meta requires this messaging_type whenever a tag is given
        elif kind == "MESSAGE_TAG":
            raise MetaPermanentError("messenger: MESSAGE_TAG needs a tag", reason="invalid_argument")
        if not psid or not str(psid).isdigit():
            raise MetaPermanentError("messenger: a PSID is digits only", reason="invalid_argument")
        body: dict[str, Any] = {"recipient": {"id": str(psid)}, "messaging_type": kind, "message": dict(message)}
        if tag:
            body["tag"] = tag
        answer = self._call("POST", "me/messages", json_body=body)
        message_id = answer.get("message_id")
        if not message_id:
            raise MetaTransientError("messenger: send answered without message_id", reason="bad_response")
        return SentMessage(message_id=str(message_id), recipient_id=str(answer.get("recipient_id") or psid))

    def _map_channel_error(self, code: int | None, subcode: int | None, message: str, status: int,
                           err: Mapping[str, Any]) -> IntegrationError | None:
        if code is None:
            return None
        if code == SEND_RATE_CODE:
            estimates = [b.estimated_time_to_regain_access for b in (self.last_usage.business_use_cases
                                                                     if self.last_usage else [])]
            wait = max([SEND_RATE_RETRY_AFTER, *(e * 60.0 for e in estimates if e and e > 0)])
            return MetaRateLimited(f"messenger: send rate exceeded (code {code}): {message}; retry in {wait:.0f}s",
                                   retry_after=wait, reason="send_rate", status=status, provider_code=code,
                                   error_subcode=subcode)
        found = _SEND_ERRORS.get((code, subcode)) or _SEND_ERRORS.get((code, None))
        if not found:
            return None
        kind, reason = found
        text = f"messenger: {reason} (code {code}, subcode {subcode}): {message}"
        if kind == "unreachable":
            return MetaUnreachable(text, reason=reason, status=status, provider_code=code, error_subcode=subcode)
        if kind == "transient":
            return MetaTransientError(text, reason=reason, status=status, provider_code=code,
                                      error_subcode=subcode)
        return MetaPermanentError(text, reason=reason, status=status, provider_code=code, error_subcode=subcode)
