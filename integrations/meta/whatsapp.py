"""WhatsApp Cloud API client: send text and template messages from one business phone number.

Free-form text is allowed only within 24 hours of the customer's last message (the customer
service window); outside it only an approved template goes through. Meta reports a late text
with error 131047 ("Re-engagement message"), mapped to ``PermanentError`` with reason
``"outside_window"``: the caller switches to ``send_template``.

``whatsapp_error()`` is public so that the failures Meta reports later, in ``statuses[].errors``
of a webhook, are classified exactly like the synchronous ones.

Every error keeps Meta's code in ``exc.code`` (and ``provider_code``), so a caller records 131049
or 131047 as such. 131049 (per-person marketing limit, "healthy ecosystem") is a
``PermanentError``: Meta asks that the same marketing message is *not* retried soon, and
``NO_RETRY_CODES`` lists it for callers that keep their own retry rules.
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
from integrations.meta.errors import (
    MetaInvalidArgument,
    MetaPermanentError,
    MetaRateLimited,
    MetaTransientError,
    MetaUnreachable,
)
from integrations.meta.labels import fit_title
from integrations.meta.types import SentMessage, WhatsAppTemplate

MAX_TEXT_LENGTH = 4096  # Cloud API limit for text.body
# Interactive message limits from the Cloud API reference ("Interactive reply buttons messages",
# "Interactive list messages"): at most 3 reply buttons, a button title of 20 characters and an id of
# 256; at most 10 list rows, a row title of 24 characters and an id of 200; the list's button label
# 20 characters; the body 1024 characters for buttons and 4096 for lists.
MAX_BUTTONS = 3
MAX_BUTTON_TITLE = 20
MAX_BUTTON_ID = 256
MAX_BUTTONS_BODY = 1024
MAX_LIST_ROWS = 10
MAX_ROW_TITLE = 24
MAX_ROW_ID = 200
MAX_LIST_BUTTON_LABEL = 20
MAX_LIST_BODY = 4096
MAX_CAPTION_LENGTH = 1024
TEMPLATE_FIELDS = "name,language,category,status,components,id,parameter_format"
# Graph caps a message_templates page well above this; 100 keeps a page small and a WABA's
# templates (tens) in one or two calls.
MAX_TEMPLATES_PAGE = 100
_PLACEHOLDER_RE = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
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
    # Template errors (Cloud API error-code reference): the message is refused as built; the caller
    # records why (a paused template skips, it is not retried until the template is active again).
    132000: ("permanent", "template_param_count_mismatch"),
    132001: ("permanent", "template_missing"),
    132012: ("permanent", "template_param_format_mismatch"),
    132015: ("permanent", "template_paused"),
    132016: ("permanent", "template_disabled"),
    131008: ("permanent", "required_parameter_missing"),
    131009: ("permanent", "parameter_value_invalid"),
}
_RATE_WAITS = {"throughput": THROUGHPUT_RETRY_AFTER, "pair_rate_limit": PAIR_RATE_RETRY_AFTER}
# Codes a caller must never retry for the same message: 131049 is Meta's per-person marketing limit
# (retrying is what makes it worse), 131047 needs a template instead of the same text, 131050 is the
# person's own "stop marketing".
NO_RETRY_CODES = frozenset({131049, 131047, 131050})


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


def body_placeholders(text: str) -> list[str]:
    """The distinct placeholders of a template text in order of first use: ``["1", "2"]`` or names."""
    seen: list[str] = []
    for name in _PLACEHOLDER_RE.findall(text or ""):
        if name not in seen:
            seen.append(name)
    return seen


def template_from_graph(item: Mapping[str, Any]) -> WhatsAppTemplate:
    """Build a ``WhatsAppTemplate`` from one item of ``message_templates``."""
    components = tuple(dict(c) for c in item.get("components") or [] if isinstance(c, dict))
    body = next((str(c.get("text") or "") for c in components if str(c.get("type", "")).upper() == "BODY"), "")
    names = body_placeholders(body)
    declared = str(item.get("parameter_format") or "").upper()
    parameter_format = declared or ("NAMED" if any(not n.isdigit() for n in names) else "POSITIONAL")
    return WhatsAppTemplate(
        id=str(item.get("id") or ""), name=str(item.get("name") or ""), language=str(item.get("language") or ""),
        category=str(item.get("category") or ""), status=str(item.get("status") or ""), components=components,
        body_parameter_count=len(names), parameter_format=parameter_format,
    )


def _recipient(to_e164: str) -> str:
    # The Cloud API wants the number without "+"; requiring E.164 here catches a local number
    # ("699...") that would otherwise go to the wrong country.
    number = (to_e164 or "").strip()
    if not _E164_RE.match(number):
        raise MetaPermanentError("whatsapp: recipient must be an E.164 number like +237699000000",
                                 reason="invalid_phone")
    return number[1:]


def _choices(items: Sequence[tuple[str, str]], *, id_limit: int, title_limit: int, what: str) -> list[tuple[str, str]]:
    """Check ids and shorten titles of buttons or rows; Meta refuses empty or repeated ones."""
    out: list[tuple[str, str]] = []
    for choice_id, title in items:
        choice_id = str(choice_id or "").strip()
        shown = fit_title(str(title or ""), title_limit)
        if not choice_id or len(choice_id) > id_limit:
            raise MetaInvalidArgument(f"whatsapp: a {what} id must have 1 to {id_limit} characters")
        if not shown:
            raise MetaInvalidArgument(f"whatsapp: {what} {choice_id!r} has an empty title")
        out.append((choice_id, shown))
    if len({i for i, _ in out}) != len(out):
        raise MetaInvalidArgument(f"whatsapp: {what} ids must be unique")
    if len({t for _, t in out}) != len(out):
        raise MetaInvalidArgument(f"whatsapp: {what} titles must be unique (after shortening to {title_limit})")
    return out


class WhatsAppClient(GraphBaseClient):
    """Send messages through ``POST /{version}/{phone_number_id}/messages``; list a WABA's templates.

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
                      components: Sequence[Mapping[str, Any]] | None = None, *,
                      body_parameters: Sequence[str] | None = None) -> SentMessage:
        """Send an approved template (the only message allowed outside the 24 h window).

        ``components`` are passed through as Meta documents them (header/body/button parameters).
        ``body_parameters`` fills the BODY placeholders ``{{1}}``, ``{{2}}`` ... in order; it becomes
        ``{"type": "body", "parameters": [{"type": "text", "text": ...}, ...]}``. Giving both it and a
        body component in ``components`` is refused (which one would Meta use?). Meta answers 132000
        when the count differs from the template's, 132015 when the template is paused.
        """
        if not template_name or not language_code:
            raise MetaPermanentError("whatsapp: template name and language are required",
                                     reason="invalid_argument")
        parts = [dict(c) for c in components or []]
        if body_parameters is not None:
            if any(str(c.get("type", "")).lower() == "body" for c in parts):
                raise MetaInvalidArgument("whatsapp: body parameters given twice (components and body_parameters)")
            values = [str(v) for v in body_parameters]
            if any(not v.strip() for v in values):
                # Meta refuses an empty parameter (131008); say which template before any HTTP call.
                raise MetaInvalidArgument(f"whatsapp: empty body parameter for template {template_name!r}")
            if values:
                parts.append({"type": "body", "parameters": [{"type": "text", "text": v} for v in values]})
        template: dict[str, Any] = {"name": template_name, "language": {"code": language_code}}
        if parts:
            template["components"] = parts
        return self._send(to_e164, {"type": "template", "template": template})

    def send_image(self, to_e164: str, image_url: str, *, caption: str | None = None) -> SentMessage:
        """Send an image Meta fetches from ``image_url`` (public HTTPS); inside the 24 h window only."""
        if not image_url.startswith("https://"):
            raise MetaInvalidArgument("whatsapp: image_url must be an https URL")
        image: dict[str, Any] = {"link": image_url}
        if caption:
            if len(caption) > MAX_CAPTION_LENGTH:
                raise MetaInvalidArgument(f"whatsapp: caption longer than {MAX_CAPTION_LENGTH} characters")
            image["caption"] = caption
        return self._send(to_e164, {"type": "image", "image": image})

    def send_buttons(self, to_e164: str, body: str, buttons: list[tuple[str, str]]) -> SentMessage:
        """Send a message with up to 3 reply buttons, given as ``(id, title)``; inside the 24 h window only.

        A tap comes back as an inbound ``interactive`` ``button_reply`` whose id is the button's
        (``WhatsAppEvent.reply_id``). Titles longer than 20 characters are shortened with "…"; more
        than 3 buttons, an empty or duplicate id or title, an id over 256 characters or a body over
        1024 raise ``MetaInvalidArgument`` (a ``ValueError``) before any HTTP call.
        """
        text = self._interactive_body(body, MAX_BUTTONS_BODY)
        if not buttons:
            raise MetaInvalidArgument("whatsapp: at least one button is required")
        if len(buttons) > MAX_BUTTONS:
            raise MetaInvalidArgument(f"whatsapp: at most {MAX_BUTTONS} reply buttons, got {len(buttons)}")
        choices = _choices(buttons, id_limit=MAX_BUTTON_ID, title_limit=MAX_BUTTON_TITLE, what="button")
        interactive = {"type": "button", "body": {"text": text}, "action": {"buttons": [
            {"type": "reply", "reply": {"id": choice_id, "title": title}} for choice_id, title in choices]}}
        return self._send(to_e164, {"type": "interactive", "interactive": interactive})

    def send_list(self, to_e164: str, body: str, button_label: str, rows: list[tuple[str, str]]) -> SentMessage:
        """Send a list message: a button labelled ``button_label`` opening one section of up to 10 rows.

        ``rows`` are ``(id, title)``; a picked row comes back as an inbound ``interactive`` ``list_reply``
        (``WhatsAppEvent.reply_id``). Row titles over 24 characters and a label over 20 are shortened
        with "…"; more than 10 rows, an empty or duplicate id or title, or an id over 200 characters
        raise ``MetaInvalidArgument`` (a ``ValueError``) before any HTTP call.
        """
        text = self._interactive_body(body, MAX_LIST_BODY)
        label = fit_title(button_label, MAX_LIST_BUTTON_LABEL)
        if not label:
            raise MetaInvalidArgument("whatsapp: the list needs a button label")
        if not rows:
            raise MetaInvalidArgument("whatsapp: at least one list row is required")
        if len(rows) > MAX_LIST_ROWS:
            raise MetaInvalidArgument(f"whatsapp: at most {MAX_LIST_ROWS} list rows, got {len(rows)}")
        choices = _choices(rows, id_limit=MAX_ROW_ID, title_limit=MAX_ROW_TITLE, what="row")
        interactive = {"type": "list", "body": {"text": text}, "action": {
            "button": label, "sections": [{"rows": [{"id": row_id, "title": title} for row_id, title in choices]}]}}
        return self._send(to_e164, {"type": "interactive", "interactive": interactive})

    def list_templates(self, waba_id: str, *, limit: int = 100) -> list[WhatsAppTemplate]:
        """Every message template of the WhatsApp Business Account ``waba_id``, whatever its status.

        ``GET /{waba_id}/message_templates`` with ``fields=name,language,category,status,components,id``
        (plus ``parameter_format``), following the paging cursors until Meta says there is no next
        page. ``limit`` is the page size (capped at 100). The caller decides what to do with paused or
        rejected templates; ``WhatsAppTemplate.is_approved`` says which can be sent.
        """
        if not _PHONE_NUMBER_ID_RE.match(str(waba_id or "")):
            raise MetaInvalidArgument("whatsapp: waba_id must be digits")
        page_size = min(max(int(limit), 1), MAX_TEMPLATES_PAGE)
        items = self._paginate(f"{waba_id}/message_templates", {"fields": TEMPLATE_FIELDS, "limit": page_size})
        return [template_from_graph(item) for item in items]

    @staticmethod
    def _interactive_body(body: str, limit: int) -> str:
        text = (body or "").strip()
        if not text:
            raise MetaInvalidArgument("whatsapp: an interactive message needs a body text")
        if len(text) > limit:
            raise MetaInvalidArgument(f"whatsapp: interactive body longer than {limit} characters")
        return text

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
