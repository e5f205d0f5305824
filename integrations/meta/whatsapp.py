"""WhatsApp Cloud API client: send text and template messages from one business phone number.

Free-form text is allowed only within 24 hours of the customer's last message (the customer
service window); outside it only an approved template goes through. Meta reports a late text
with error 131047 ("Re-engagement message"), mapped to ``PermanentError`` with reason
``"outside_window"``: the caller switches to ``send_template``.

``whatsapp_error()`` is public so that the failures Meta reports later, in ``statuses[].errors``
of a webhook, are classified exactly like the synchronous ones.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import requests

from integrations.errors import IntegrationError
from integrations.http import DEFAULT_TIMEOUT
from integrations.meta.base import DEFAULT_BASE_URL, DEFAULT_MAX_PAUSE, GraphBaseClient
from integrations.meta.errors import MetaPermanentError, MetaRateLimited, MetaTransientError, MetaUnreachable
from integrations.meta.types import SentMessage

MAX_TEXT_LENGTH = 4096  # Cloud API limit for text.body
_E164_RE = re.compile(r"^\+[1-9]\d{6,14}$")
_PHONE_NUMBER_ID_RE = re.compile(r"^\d+$")

# Waits for WhatsApp's own limits, used when the response carries no usage estimate.
# 130429: the number's throughput (80 messages/s by default) was exceeded; it refills within
# seconds. 131056: too many messages to the same recipient; Meta's guidance is about one message
# every 6 seconds per pair.
THROUGHPUT_RETRY_AFTER = 2.0
PAIR_RATE_RETRY_AFTER = 6.0

# code -> (kind, reason). Choices made here:
# - 131026 "Message undeliverable" (not on WhatsApp, old app, terms not accepted): Unreachable,
#   since retrying the identity will keep failing until the person changes something.
# - 131049 "not delivered to maintain healthy ecosystem engagement" (per-user marketing cap):
#   PermanentError, *not* Unreachable. The person is reachable (service messages, later
#   marketing); only this message is dropped, and retrying it soon is what Meta asks us not to do.
_WHATSAPP_ERRORS: dict[int, tuple[str, str]] = {
    130429: ("rate_limited", "throughput"),
    131056: ("rate_limited", "pair_rate_limit"),
    131047: ("permanent", "outside_window"),
    131026: ("unreachable", "undeliverable"),
    131049: ("permanent", "ecosystem_limit"),
    131050: ("permanent", "marketing_opt_out"),
    131021: ("permanent", "recipient_is_sender"),
    131030: ("permanent", "recipient_not_allowed"),
    133010: ("permanent", "phone_not_registered"),
    131000: ("transient", "whatsapp_unknown"),
    131016: ("transient", "service_unavailable"),
}
_RATE_WAITS = {"throughput": THROUGHPUT_RETRY_AFTER, "pair_rate_limit": PAIR_RATE_RETRY_AFTER}


def whatsapp_error(code: int | None, message: str = "", *, status: int | None = None,
                   retry_after: float | None = None) -> IntegrationError | None:
    """Classify a WhatsApp Cloud API error code, or return None when it is not WhatsApp-specific.

    ``retry_after`` overrides the built-in wait of rate-limit codes (e.g. from usage headers).
    """
    if code is None or code not in _WHATSAPP_ERRORS:
        return None
    kind, reason = _WHATSAPP_ERRORS[code]
    text = f"whatsapp: {reason} (code {code}): {message}".rstrip(": ")
    if kind == "rate_limited":
        wait = retry_after if retry_after and retry_after > 0 else _RATE_WAITS[reason]
        return MetaRateLimited(text, retry_after=wait, reason=reason, status=status, provider_code=code)
    if kind == "unreachable":
        return MetaUnreachable(text, reason=reason, status=status, provider_code=code)
    if kind == "transient":
        return MetaTransientError(text, reason=reason, status=status, provider_code=code)
    return MetaPermanentError(text, reason=reason, status=status, provider_code=code)


def _recipient(to_e164: str) -> str:
    # The Cloud API wants the number without "+"; requiring E.164 here catches a local number
    # ("699...") that would otherwise go to the wrong country.
    number = (to_e164 or "").strip()
    if not _E164_RE.match(number):
        raise MetaPermanentError("whatsapp: recipient must be an E.164 number like +237699000000",
                                 reason="invalid_phone")
    return number[1:]


class WhatsAppClient(GraphBaseClient):
    """Send messages through ``POST /{version}/{phone_number_id}/messages``.

    Like every send, a retry after a timeout may deliver twice; the caller records the attempt first.
    """

    provider = "whatsapp"

    def __init__(self, access_token: str, phone_number_id: str, *, app_secret: str | None = None,
                 base_url: str = DEFAULT_BASE_URL, timeout: Any = DEFAULT_TIMEOUT,
                 session: requests.Session | None = None, sleep: Callable[[float], None] = time.sleep,
                 max_pause: float = DEFAULT_MAX_PAUSE):
        super().__init__(access_token, app_secret=app_secret, base_url=base_url, timeout=timeout,
                         session=session, sleep=sleep, max_pause=max_pause)
        if not _PHONE_NUMBER_ID_RE.match(str(phone_number_id or "")):
            raise MetaPermanentError("whatsapp: phone_number_id must be digits", reason="invalid_argument")
        self.phone_number_id = str(phone_number_id)

    def send_text(self, to_e164: str, text: str, *, preview_url: bool = False) -> SentMessage:
        """Send free-form text; only valid within 24 h of the customer's last message (else 131047)."""
        if not text:
            raise MetaPermanentError("whatsapp: empty text", reason="invalid_argument")
        if len(text) > MAX_TEXT_LENGTH:
            raise MetaPermanentError(f"whatsapp: text longer than {MAX_TEXT_LENGTH} characters",
                                     reason="text_too_long")
        return self._send(to_e164, {"type": "text", "text": {"preview_url": preview_url, "body": text}})

    def send_template(self, to_e164: str, template_name: str, language_code: str,
                      components: Sequence[Mapping[str, Any]] | None = None) -> SentMessage:
        """Send an approved template (the only message allowed outside the 24 h window).

        ``components`` are passed through as Meta documents them (header/body/button parameters).
        """
        if not template_name or not language_code:
            raise MetaPermanentError("whatsapp: template name and language are required",
                                     reason="invalid_argument")
        template: dict[str, Any] = {"name": template_name, "language": {"code": language_code}}
        if components:
            template["components"] = [dict(c) for c in components]
        return self._send(to_e164, {"type": "template", "template": template})

    def _send(self, to_e164: str, content: Mapping[str, Any]) -> SentMessage:
        body = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": _recipient(to_e164),
                **content}
        answer = self._call("POST", f"{self.phone_number_id}/messages", json_body=body)
        messages = answer.get("messages") or []
        contacts = answer.get("contacts") or []
        if not messages or not messages[0].get("id"):
            raise MetaTransientError("whatsapp: send answered without a message id", reason="bad_response")
        wa_id = contacts[0].get("wa_id") if contacts else None
        return SentMessage(message_id=str(messages[0]["id"]), recipient_id=str(wa_id or body["to"]))

    def _map_channel_error(self, code: int | None, subcode: int | None, message: str, status: int,
                           err: Mapping[str, Any]) -> IntegrationError | None:
        details = (err.get("error_data") or {}).get("details") if isinstance(err.get("error_data"), dict) else None
        text = self._scrub(f"{message} {details}" if details else message)
        usage_wait = self.last_usage.regain_access_seconds if self.last_usage else None
        return whatsapp_error(code, text, status=status, retry_after=usage_wait)
