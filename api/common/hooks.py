"""Hooks by stable key: how a lower app lets higher apps plug in without importing them.

Orders ask campaigns about coupons, attribution tells nurture about referral rewards and staff news,
contacts lets every app react to a merge: each such point keeps its callables in a ``Hooks`` under
keys that name them (they may be written in rows, so they do not change between releases).
"""

from __future__ import annotations

from typing import Generic, TypeVar

from django.core.exceptions import ImproperlyConfigured

T = TypeVar("T")


class Hooks(dict[str, T], Generic[T]):
    """Callables by key, in the order they were registered; ``what`` names one in errors."""

    def __init__(self, what: str):
        super().__init__()
        self.what = what

    def register(self, key: str, hook: T) -> None:
        """Add ``hook`` under ``key``. Registering the same pair twice is a no-op (an app's ``ready()`` may
        run twice); another hook under a taken key is a configuration error."""
        known = self.get(key)
        if known is not None and known is not hook:
            raise ImproperlyConfigured(f"{self.what} is already registered as {key!r}.")
        self[key] = hook

    def unregister(self, key: str) -> None:
        """Forget the hook under ``key`` (tests); nothing when there is none."""
        self.pop(key, None)
