"""Meta flavours of the shared integration errors, carrying a short machine-readable ``reason``.

They subclass ``integrations.errors`` types, so callers that catch ``PermanentError`` or
``RateLimited`` keep working; a caller that wants to record why (``"outside_window"``,
``"token_invalid"``, ``"tag_retired"`` ...) reads ``exc.reason``.
"""

from __future__ import annotations

from integrations.errors import PermanentError, RateLimited, TransientError, Unreachable


class _MetaReason:
    reason: str = "unknown"
    error_subcode: int | None = None
    provider_code: int | str | None

    @property
    def code(self) -> int | None:
        """Meta's numeric error code (``provider_code`` as an int), e.g. 131049; None when there is none.

        Callers record it (a WhatsApp 131049 must be stored, not retried) without parsing messages.
        """
        try:
            return int(self.provider_code) if self.provider_code is not None else None
        except (TypeError, ValueError):
            return None


class MetaPermanentError(_MetaReason, PermanentError):
    """A 4xx that retrying will not fix; ``reason`` says which."""

    def __init__(self, message: str, *, reason: str, status: int | None = None,
                 provider_code: int | str | None = None, error_subcode: int | None = None):
        super().__init__(message, status=status, provider_code=provider_code)
        self.reason = reason
        self.error_subcode = error_subcode


class MetaInvalidArgument(MetaPermanentError, ValueError):
    """A message the client refuses to build (too many buttons, empty title ...), before any HTTP call.

    Both a ``PermanentError`` (a sender records it and moves on) and a ``ValueError`` (it is a bug or
    bad input of the caller, not something Meta said).
    """

    def __init__(self, message: str, *, reason: str = "invalid_argument"):
        super().__init__(message, reason=reason)


class MetaUnreachable(_MetaReason, Unreachable):
    """The recipient cannot be reached on this channel any more; ``reason`` says which."""

    def __init__(self, message: str, *, reason: str, status: int | None = None,
                 provider_code: int | str | None = None, error_subcode: int | None = None):
        super().__init__(message, status=status, provider_code=provider_code)
        self.reason = reason
        self.error_subcode = error_subcode


class MetaTransientError(_MetaReason, TransientError):
    """A failure that may pass (5xx, ``is_transient``, a failed async report); ``reason`` says which."""

    def __init__(self, message: str, *, reason: str, status: int | None = None,
                 provider_code: int | str | None = None, error_subcode: int | None = None):
        super().__init__(message, status=status, provider_code=provider_code)
        self.reason = reason
        self.error_subcode = error_subcode


class MetaRateLimited(_MetaReason, RateLimited):
    """Meta throttled us; wait ``retry_after`` seconds. ``reason`` is ``"throttled"`` or a channel limit."""

    def __init__(self, message: str, *, retry_after: float, reason: str = "throttled",
                 status: int | None = None, provider_code: int | str | None = None,
                 error_subcode: int | None = None):
        super().__init__(message, retry_after=retry_after, status=status, provider_code=provider_code)
        self.reason = reason
        self.error_subcode = error_subcode
