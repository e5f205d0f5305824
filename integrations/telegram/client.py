"""Telegram Bot API client (no Django).

The bot token sits in the URL path (``/bot<token>/<method>``), so it is a secret of the
base client: scrubbed from every error message, never in ``repr()``, never logged (log lines
name the method only). Error payloads ``{"ok": false, "error_code": N, "description": ...,
"parameters": {"retry_after": N}}`` become ``integrations.errors`` types, see ``_raise_for``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NoReturn
from urllib.parse import quote

import requests

from integrations.errors import NotConfigured, RateLimited, TransientError
from integrations.http import DEFAULT_TIMEOUT, BaseClient
from integrations.telegram.errors import TelegramPermanentError, TelegramUnreachable
from integrations.telegram.types import BotUser, SentMessage, Update
from integrations.telegram.updates import parse_update

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.telegram.org"
# Telegram answers a 429 with parameters.retry_after; without one (never seen, but the field is
# optional) one second is the per-chat pace Telegram documents, the smallest wait that is not hammering.
DEFAULT_RETRY_AFTER = 1.0

# Descriptions that mean "this chat cannot be messaged any more", lower-cased, with a short reason.
# From the Bot API's answers to sendMessage: 403 for the person's choices, 400 for unknown chats.
_UNREACHABLE = (
    ("bot was blocked by the user", "blocked"),
    ("user is deactivated", "deactivated"),
    ("bot was kicked", "kicked"),
    ("bot can't initiate conversation", "never_started"),
    ("bot is not a member", "not_member"),
    ("chat not found", "chat_not_found"),
    ("peer_id_invalid", "chat_not_found"),
    ("user not found", "user_not_found"),
)


def inline_keyboard(rows: Iterable[Iterable[tuple[str, str]]]) -> dict[str, Any]:
    """Build an ``InlineKeyboardMarkup`` reply_markup from rows of ``(label, callback_data)``.

    ``callback_data`` must be 1-64 bytes (a Bot API limit): a longer one raises ``ValueError``
    here rather than a 400 at send time.
    """
    keyboard: list[list[dict[str, str]]] = []
    for row in rows:
        buttons = []
        for label, data in row:
            if not 1 <= len(data.encode()) <= 64:
                raise ValueError(f"callback_data must be 1-64 bytes, got {len(data.encode())}: {data!r}")
            buttons.append({"text": label, "callback_data": data})
        keyboard.append(buttons)
    return {"inline_keyboard": keyboard}


def _read_timeout(timeout: Any) -> float | None:
    if isinstance(timeout, tuple):
        return timeout[1]
    return timeout


class TelegramClient(BaseClient):
    """One bot's Bot API client. Thread-safe as far as ``requests.Session`` is (one per worker is best).

    Methods raise ``RateLimited`` (429), ``Unreachable`` (blocked, unknown chat),
    ``TransientError`` (timeouts, 5xx, unreadable answers) or ``PermanentError`` (other 4xx).
    """

    provider = "telegram"

    def __init__(self, token: str, *, base_url: str = DEFAULT_BASE_URL, timeout: Any = DEFAULT_TIMEOUT,
                 session: requests.Session | None = None):
        if not token:
            raise NotConfigured("telegram: no bot token configured")
        # The token may show up raw or percent-encoded in a URL quoted by an exception; the part
        # after ":" is the actual secret (the part before is the bot's public user id).
        # (Very short secret parts, as in test tokens, are left to the full-token match.)
        secret_part = token.split(":", 1)[1] if ":" in token else ""
        secrets = [token, quote(token, safe=""), secret_part if len(secret_part) >= 8 else ""]
        super().__init__(base_url=base_url, secrets=secrets,
                         timeout=timeout, session=session)
        self._token = token
        self.bot_id = token.split(":", 1)[0] if ":" in token else "?"

    def __repr__(self) -> str:
        return f"TelegramClient(bot_id={self.bot_id!r}, base_url={self.base_url!r})"

    # -- HTTP -------------------------------------------------------------------------------------

    def _call(self, method: str, *, json_body: Mapping[str, Any] | None = None,
              data: Mapping[str, Any] | None = None, files: Mapping[str, Any] | None = None,
              timeout: Any = None) -> Any:
        """POST one Bot API method and return its ``result``, or raise a typed error."""
        url = f"{self.base_url}/bot{self._token}/{method}"
        kwargs: dict[str, Any] = {}
        if files is not None:
            kwargs.update(data=data or {}, files=files)
        else:
            kwargs["json"] = dict(json_body or {})
        if timeout is not None:
            kwargs["timeout"] = timeout
        logger.debug("telegram %s", method)
        response = self._request("POST", url, **kwargs)
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            if response.status_code == 429:
                self._raise_for(method, response, {})
            raise TransientError(f"telegram {method}: unreadable answer (HTTP {response.status_code})",
                                 status=response.status_code)
        if payload.get("ok") is True and response.status_code < 400:
            return payload.get("result")
        self._raise_for(method, response, payload)

    def _raise_for(self, method: str, response: requests.Response, payload: Mapping[str, Any]) -> NoReturn:
        """Map a failed Bot API answer onto the shared error types (the message never holds the token)."""
        code = payload.get("error_code")
        status = code if isinstance(code, int) and code >= 400 else response.status_code
        description = self._scrub(str(payload.get("description") or response.reason or "error"))
        message = f"telegram {method}: {status} {description}"
        lowered = description.lower()
        if status == 429:
            raise RateLimited(message, retry_after=self._retry_after(response, payload), status=429,
                              provider_code=status)
        if status == 401:
            raise TelegramPermanentError(f"telegram {method}: token rejected (401 Unauthorized)",
                                         reason="token_rejected", status=401, provider_code=status)
        if status >= 500:
            raise TransientError(message, status=status, provider_code=status)
        if status in (400, 403):
            for needle, reason in _UNREACHABLE:
                if needle in lowered:
                    raise TelegramUnreachable(message, reason=reason, status=status, provider_code=status)
        reason = {400: "bad_request", 403: "forbidden", 404: "not_found", 409: "conflict"}.get(status, "client_error")
        raise TelegramPermanentError(message, reason=reason, status=status, provider_code=status)

    @staticmethod
    def _retry_after(response: requests.Response, payload: Mapping[str, Any]) -> float:
        parameters = payload.get("parameters")
        candidates = [parameters.get("retry_after") if isinstance(parameters, dict) else None,
                      response.headers.get("Retry-After")]
        for value in candidates:
            try:
                seconds = float(value)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                continue
            if seconds > 0:
                return seconds
        return DEFAULT_RETRY_AFTER

    @staticmethod
    def _sent(result: Any) -> SentMessage:
        if not isinstance(result, dict):
            raise TransientError("telegram: send answered without a message")
        chat = result.get("chat") or {}
        return SentMessage(message_id=int(result["message_id"]), chat_id=int(chat.get("id", 0)),
                           date=int(result.get("date") or 0))

    # -- methods ----------------------------------------------------------------------------------

    def send_message(self, chat_id: int | str, text: str, *, reply_markup: Mapping[str, Any] | None = None,
                     parse_mode: str | None = None, disable_web_page_preview: bool = True) -> SentMessage:
        """Send a text message (``sendMessage``) and return Telegram's acknowledgement.

        ``chat_id`` is the numeric chat id (or ``@channelusername``); ``text`` is 1-4096 characters
        after entity parsing; ``reply_markup`` is e.g. ``inline_keyboard(...)``. Link previews are off
        by default (``link_preview_options.is_disabled``, which replaced ``disable_web_page_preview``
        in Bot API 7.0). Not idempotent: a retry after a timeout may deliver twice.
        """
        body: dict[str, Any] = {"chat_id": chat_id, "text": text}
        if reply_markup is not None:
            body["reply_markup"] = dict(reply_markup)
        if parse_mode:
            body["parse_mode"] = parse_mode
        if disable_web_page_preview:
            body["link_preview_options"] = {"is_disabled": True}
        return self._sent(self._call("sendMessage", json_body=body))

    def send_photo(self, chat_id: int | str, photo: str | bytes, caption: str | None = None,
                   reply_markup: Mapping[str, Any] | None = None) -> SentMessage:
        """Send a photo (``sendPhoto``): ``photo`` is an HTTP URL or a ``file_id`` string, or raw bytes.

        Bytes are uploaded as ``multipart/form-data`` (up to 10 MB for photos); the caption is up to
        1024 characters. Reusing the ``file_id`` of a first upload avoids uploading again.
        """
        fields: dict[str, Any] = {"chat_id": chat_id}
        if caption is not None:
            fields["caption"] = caption
        if isinstance(photo, bytes | bytearray):
            # In multipart bodies every field is a string; objects travel JSON-serialized.
            if reply_markup is not None:
                fields["reply_markup"] = json.dumps(dict(reply_markup))
            form = {key: str(value) for key, value in fields.items()}
            result = self._call("sendPhoto", data=form, files={"photo": ("photo.jpg", bytes(photo), "image/jpeg")})
        else:
            fields["photo"] = photo
            if reply_markup is not None:
                fields["reply_markup"] = dict(reply_markup)
            result = self._call("sendPhoto", json_body=fields)
        return self._sent(result)

    def answer_callback_query(self, callback_query_id: str, text: str | None = None) -> bool:
        """Acknowledge a button press (``answerCallbackQuery``), optionally with a toast ``text``.

        Telegram clients show a spinner until this is called; call it within a few seconds.
        """
        body: dict[str, Any] = {"callback_query_id": callback_query_id}
        if text is not None:
            body["text"] = text
        return bool(self._call("answerCallbackQuery", json_body=body))

    def set_webhook(self, url: str, secret_token: str, allowed_updates: Sequence[str] | None = None,
                    drop_pending_updates: bool = False) -> bool:
        """Register the HTTPS webhook (``setWebhook``).

        Telegram then sends ``secret_token`` in the ``X-Telegram-Bot-Api-Secret-Token`` header of
        every delivery (1-256 characters of ``A-Za-z0-9_-``); check it with ``secret_token_matches``.
        ``allowed_updates`` None keeps the previous setting. Idempotent.
        """
        body: dict[str, Any] = {"url": url, "secret_token": secret_token,
                                "drop_pending_updates": drop_pending_updates}
        if allowed_updates is not None:
            body["allowed_updates"] = list(allowed_updates)
        return bool(self._call("setWebhook", json_body=body))

    def delete_webhook(self, drop_pending_updates: bool = False) -> bool:
        """Remove the webhook (``deleteWebhook``) so ``get_updates`` can be used. Idempotent."""
        return bool(self._call("deleteWebhook", json_body={"drop_pending_updates": drop_pending_updates}))

    def get_updates(self, offset: int | None = None, timeout: int = 0, limit: int = 100,
                    allowed_updates: Sequence[str] | None = None) -> list[Update]:
        """Fetch pending updates (``getUpdates``, long polling for ``timeout`` seconds).

        Passing ``offset`` = last ``update_id`` + 1 confirms every earlier update: Telegram drops
        them. Fails with 409 (``PermanentError``) while a webhook is set. The HTTP read timeout is
        stretched by ``timeout`` so a long poll is not cut short.
        """
        body: dict[str, Any] = {"timeout": timeout, "limit": limit}
        if offset is not None:
            body["offset"] = offset
        if allowed_updates is not None:
            body["allowed_updates"] = list(allowed_updates)
        http_timeout: Any = None
        if timeout:
            connect = self.timeout[0] if isinstance(self.timeout, tuple) else self.timeout
            read = _read_timeout(self.timeout)
            http_timeout = (connect, None if read is None else read + timeout)
        result = self._call("getUpdates", json_body=body, timeout=http_timeout)
        return [parse_update(item) for item in result or [] if isinstance(item, dict)]

    def get_me(self) -> BotUser:
        """Return the bot's own user (``getMe``): a cheap check that the token works."""
        result = self._call("getMe")
        if not isinstance(result, dict):
            raise TransientError("telegram getMe: answered without a user")
        return BotUser(id=int(result["id"]), is_bot=bool(result.get("is_bot", True)),
                       first_name=str(result.get("first_name") or ""), username=result.get("username"))
