"""Parsing of Telegram updates (webhook bodies and ``getUpdates`` results) and webhook checks.

Shapes follow the Bot API ``Update`` object: exactly one optional field besides ``update_id``
is present (``message``, ``callback_query``, ``my_chat_member``, ...). Unknown or partial
payloads never raise beyond a missing ``update_id``: they come back as ``kind="other"``.
"""

from __future__ import annotations

import hmac
from typing import Any

from integrations.telegram.types import TelegramUser, Update

# The header Telegram sets on every webhook request when setWebhook was given a secret_token.
SECRET_TOKEN_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name, not a secret)

# A person blocking the bot shows as "kicked" in a private chat; a group removing it as
# "kicked" or "left". Either way the chat cannot be messaged any more.
_GONE_STATUSES = frozenset({"kicked", "left"})
_STOP_WORDS = frozenset({"/stop", "stop"})
# Update fields, besides the three parsed in detail, whose object carries "chat" and/or "from".
_OTHER_FIELDS = ("edited_message", "channel_post", "edited_channel_post", "chat_member",
                 "chat_join_request", "business_message", "inline_query", "pre_checkout_query",
                 "shipping_query", "poll_answer", "message_reaction")


def secret_token_matches(header_value: str | None, expected: str | None) -> bool:
    """True when the webhook's secret-token header equals the configured secret (constant time).

    False when either side is empty or None: an unconfigured secret never accepts a request.
    """
    if not header_value or not expected:
        return False
    return hmac.compare_digest(header_value.encode(), expected.encode())


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def parse_user(payload: Any) -> TelegramUser | None:
    """Turn a Bot API ``User`` object into a ``TelegramUser`` (None when absent or without id)."""
    data = _as_dict(payload)
    user_id = _as_int(data.get("id"))
    if user_id is None:
        return None
    return TelegramUser(id=user_id, first_name=data.get("first_name") or "", last_name=data.get("last_name"),
                        username=data.get("username"), language_code=data.get("language_code"),
                        is_bot=bool(data.get("is_bot", False)))


def parse_start(text: str | None) -> tuple[bool, str | None]:
    """Return ``(is_start, payload)`` for ``/start``, ``/start CODE``, ``/start@BotName CODE``.

    Deep links (``t.me/<bot>?start=CODE``) arrive as ``/start CODE``; the payload is the first
    word after the command, None when there is none.
    """
    if not text:
        return False, None
    parts = text.strip().split(maxsplit=1)
    if not parts:
        return False, None
    command = parts[0].split("@", 1)[0].lower()
    if command != "/start":
        return False, None
    if len(parts) == 1:
        return True, None
    payload = parts[1].split(maxsplit=1)[0]
    return True, payload or None


def is_stop_request(text: str | None) -> bool:
    """True when the text asks to stop: ``/stop`` (also ``/stop@BotName``) or ``stop``, any case, trimmed."""
    if not text:
        return False
    word = text.strip().lower()
    if word.startswith("/stop@"):
        word = "/stop"
    return word in _STOP_WORDS


def parse_update(payload: dict[str, Any]) -> Update:
    """Flatten one Bot API ``Update`` into an ``Update`` dataclass.

    Raises ``ValueError`` only when ``update_id`` is missing or not an integer (the id is the
    deduplication key, an update without it cannot be processed safely).
    """
    update_id = _as_int(payload.get("update_id")) if isinstance(payload, dict) else None
    if update_id is None:
        raise ValueError("telegram update without an integer update_id")

    message = payload.get("message")
    if isinstance(message, dict):
        chat = _as_dict(message.get("chat"))
        text = message.get("text") if isinstance(message.get("text"), str) else None
        is_start, start_payload = parse_start(text)
        user = parse_user(message.get("from"))
        contact = _as_dict(message.get("contact"))
        # Only a contact card of the sender is their own phone number; a forwarded card is someone else.
        own_contact = contact and user is not None and _as_int(contact.get("user_id")) == user.id
        return Update(update_id=update_id, kind="message", chat_id=_as_int(chat.get("id")),
                      chat_type=chat.get("type"), user=user, text=text, is_start=is_start,
                      start_payload=start_payload, is_stop=is_stop_request(text),
                      contact_phone=contact.get("phone_number") if own_contact else None,
                      date=_as_int(message.get("date")) or 0, raw=payload)

    callback = payload.get("callback_query")
    if isinstance(callback, dict):
        user = parse_user(callback.get("from"))
        chat = _as_dict(_as_dict(callback.get("message")).get("chat"))
        chat_id = _as_int(chat.get("id"))
        if chat_id is None and user is not None:
            chat_id = user.id  # inline-mode buttons carry no message; the private chat id is the user id
        data = callback.get("data")
        return Update(update_id=update_id, kind="callback_query", chat_id=chat_id,
                      chat_type=chat.get("type"), user=user,
                      callback_query_id=str(callback["id"]) if callback.get("id") is not None else None,
                      callback_data=data if isinstance(data, str) else None, raw=payload)

    member = payload.get("my_chat_member")
    if isinstance(member, dict):
        chat = _as_dict(member.get("chat"))
        status = _as_dict(member.get("new_chat_member")).get("status")
        return Update(update_id=update_id, kind="my_chat_member", chat_id=_as_int(chat.get("id")),
                      chat_type=chat.get("type"), user=parse_user(member.get("from")),
                      blocked=status in _GONE_STATUSES, unblocked=status == "member",
                      date=_as_int(member.get("date")) or 0, raw=payload)

    for name in _OTHER_FIELDS:
        obj = payload.get(name)
        if isinstance(obj, dict):
            chat = _as_dict(obj.get("chat"))
            return Update(update_id=update_id, kind="other", chat_id=_as_int(chat.get("id")),
                          chat_type=chat.get("type"), user=parse_user(obj.get("from") or obj.get("user")),
                          date=_as_int(obj.get("date")) or 0, raw=payload)
    return Update(update_id=update_id, kind="other", raw=payload)
