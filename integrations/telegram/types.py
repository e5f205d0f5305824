"""Small typed results of the Telegram client and update parser (no Django, no HTTP)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

UpdateKind = Literal["message", "callback_query", "my_chat_member", "other"]


@dataclass(frozen=True, slots=True)
class SentMessage:
    """A message the bot sent, as Telegram acknowledged it. ``date`` is Unix time (UTC)."""

    message_id: int
    chat_id: int
    date: int


@dataclass(frozen=True, slots=True)
class BotUser:
    """The bot itself, from ``getMe``."""

    id: int
    is_bot: bool
    first_name: str
    username: str | None = None


@dataclass(frozen=True, slots=True)
class TelegramUser:
    """A Telegram user as it appears in ``from`` of a message, callback query or member update."""

    id: int
    first_name: str = ""
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None
    is_bot: bool = False


@dataclass(frozen=True, slots=True)
class Update:
    """One incoming Telegram update, flattened to what the back office needs.

    - ``kind``: ``"message"``, ``"callback_query"``, ``"my_chat_member"`` or ``"other"``.
    - ``chat_id``: the chat to answer in (for a private chat, the user's id); None when unknown.
    - ``is_start`` / ``start_payload``: the text is ``/start`` (or ``/start@BotName``);
      the payload is the deep-link code after it, None when there is none.
    - ``is_stop``: the person asked to stop (``/stop`` or the word ``stop``, any case).
    - ``blocked`` / ``unblocked``: the bot's own membership changed (``my_chat_member``):
      the person blocked the bot (or removed it from a group), or came back.
    - ``contact_phone``: the phone number of a contact the person shared in the chat.
    - ``date``: Unix time of the event; 0 when Telegram gives none (callback queries).
    - ``raw``: the payload as received, for storage and debugging.
    """

    update_id: int
    kind: UpdateKind
    chat_id: int | None = None
    chat_type: str | None = None
    user: TelegramUser | None = None
    text: str | None = None
    is_start: bool = False
    start_payload: str | None = None
    is_stop: bool = False
    callback_query_id: str | None = None
    callback_data: str | None = None
    blocked: bool = False
    unblocked: bool = False
    contact_phone: str | None = None
    date: int = 0
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
