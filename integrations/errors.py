"""Typed errors shared by every provider client.

The callers (services in ``api/``) decide what to do from the type alone:

- ``RateLimited``: wait ``retry_after`` seconds, then try again; never hammer.
- ``Unreachable``: the person blocked the bot, the chat does not exist, the user
  is deactivated: stop messaging this identity.
- ``TransientError``: timeouts, connection errors, 5xx: retry later.
- ``PermanentError``: any other 4xx: record the reason and stop.
"""

from __future__ import annotations


class IntegrationError(Exception):
    """Base of every provider error. ``str()`` never contains a credential."""

    def __init__(self, message: str, *, status: int | None = None, provider_code: int | str | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.provider_code = provider_code


class RateLimited(IntegrationError):
    """The provider asked us to slow down; ``retry_after`` is in seconds."""

    def __init__(self, message: str, *, retry_after: float, status: int | None = 429,
                 provider_code: int | str | None = None):
        super().__init__(message, status=status, provider_code=provider_code)
        self.retry_after = float(retry_after)


class Unreachable(IntegrationError):
    """The recipient can no longer be reached on this channel (blocked, deleted, unknown chat)."""


class TransientError(IntegrationError):
    """A failure that may succeed later: timeout, connection reset, 5xx."""


class PermanentError(IntegrationError):
    """A failure that will not succeed by retrying: bad request, bad credentials, 4xx."""


class NotConfigured(IntegrationError):
    """The integration has no credentials configured; it is off."""
