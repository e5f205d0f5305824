"""Telegram Bot API: client, typed results and update parsing (no Django)."""

from integrations.telegram.client import TelegramClient, inline_keyboard
from integrations.telegram.errors import TelegramPermanentError, TelegramUnreachable
from integrations.telegram.types import BotUser, SentMessage, TelegramUser, Update
from integrations.telegram.updates import SECRET_TOKEN_HEADER, parse_update, secret_token_matches

__all__ = [
    "SECRET_TOKEN_HEADER",
    "BotUser",
    "SentMessage",
    "TelegramClient",
    "TelegramPermanentError",
    "TelegramUnreachable",
    "TelegramUser",
    "Update",
    "inline_keyboard",
    "parse_update",
    "secret_token_matches",
]
