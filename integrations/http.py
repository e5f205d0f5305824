"""A small base client that owns the ``requests.Session``, the timeout and secret scrubbing.

Provider clients subclass ``BaseClient`` and implement ``_raise_for_response`` to map
their error payloads onto ``integrations.errors``. Transport failures (timeouts,
connection errors) always become ``TransientError``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import requests

from integrations.errors import TransientError

DEFAULT_TIMEOUT = (5.0, 20.0)  # (connect, read) seconds


def scrub(text: str, secrets: Iterable[str]) -> str:
    """Return ``text`` with every non-empty secret replaced by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


class BaseClient:
    """Holds one ``requests.Session`` per client and knows which strings are secret."""

    provider = "provider"

    def __init__(self, *, base_url: str, secrets: Iterable[str] = (), timeout: Any = DEFAULT_TIMEOUT,
                 session: requests.Session | None = None):
        self.base_url = base_url.rstrip("/")
        self._secrets = [s for s in secrets if s]
        self.timeout = timeout
        self.session = session or requests.Session()

    def _scrub(self, text: str) -> str:
        return scrub(text, self._secrets)

    def _request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """Send one HTTP request; transport failures become ``TransientError`` with secrets scrubbed."""
        kwargs.setdefault("timeout", self.timeout)
        try:
            return self.session.request(method, url, **kwargs)
        except requests.Timeout as exc:
            raise TransientError(f"{self.provider}: timeout: {self._scrub(str(exc))}") from None
        except requests.RequestException as exc:
            raise TransientError(f"{self.provider}: connection failed: {self._scrub(str(exc))}") from None
