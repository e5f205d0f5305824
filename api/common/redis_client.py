"""One Redis connection pool per process, for the few hot paths that need more than the cache API.

Django's cache API builds a client object on every call and needs two round trips for an
increment (``EXISTS`` then ``INCR``); a per-request counter on the partner API pipelines its
increment and expiry in one. Everything else goes through ``django.core.cache``.
"""

from __future__ import annotations

import threading
from typing import Any

from django.conf import settings

_client: Any = None
_lock = threading.Lock()


def shared_redis() -> Any:
    """The process's ``redis.Redis`` client on ``REDIS_URL``, or None when the project runs without Redis."""
    global _client
    if not settings.REDIS_URL:
        return None
    if _client is None:
        with _lock:
            if _client is None:
                import redis

                _client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    return _client
