"""Telegram flavours of the shared integration errors, carrying a short machine-readable ``reason``.

They subclass ``integrations.errors`` types, so callers catching ``Unreachable`` or
``PermanentError`` keep working; a caller that records why reads ``exc.reason``
(``"blocked"``, ``"chat_not_found"``, ``"token_rejected"`` ...).
"""

from __future__ import annotations

from integrations.errors import PermanentError, Unreachable


class TelegramUnreachable(Unreachable):
    """The chat can no longer be messaged (blocked, deactivated, kicked, unknown chat)."""

    def __init__(self, message: str, *, reason: str, status: int | None = None,
                 provider_code: int | str | None = None):
        super().__init__(message, status=status, provider_code=provider_code)
        self.reason = reason


class TelegramPermanentError(PermanentError):
    """A 4xx that retrying will not fix (bad request, token rejected)."""

    def __init__(self, message: str, *, reason: str, status: int | None = None,
                 provider_code: int | str | None = None):
        super().__init__(message, status=status, provider_code=provider_code)
        self.reason = reason
