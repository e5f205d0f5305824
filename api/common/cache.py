"""The Redis cache backend, keeping one client object per connection pool, and that client for
the few hot paths that need more than the cache API (``shared_redis``).

Django's ``RedisCacheClient.get_client`` builds a new ``redis.Redis`` on every cache call, and
building one fills a table of some 170 response callbacks: on the partner API that was a fifth of
a request's time. A ``redis.Redis`` over a pool is safe to share between threads, so one is kept
per pool.
"""

from __future__ import annotations

from typing import Any

from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient


class ReusingRedisCacheClient(RedisCacheClient):  # type: ignore[misc]
    """``RedisCacheClient`` whose ``get_client`` returns the same client for the same pool."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        pool = self._get_connection_pool(write)  # type: ignore[attr-defined]
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)  # type: ignore[attr-defined]
        return client


class RedisCache(DjangoRedisCache):  # type: ignore[misc]
    """Django's Redis cache with ``ReusingRedisCacheClient``."""

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = ReusingRedisCacheClient

    def client(self) -> Any:
        """The ``redis.Redis`` client the cache writes with (keys still need ``make_key``)."""
        return self._cache.get_client(write=True)


def shared_redis() -> Any:
    """The default cache's Redis client, or None when the cache is not Redis (the embedded default).

    Django's cache API needs two round trips for an increment (``EXISTS`` then ``INCR``); the partner
    API's per-request counter pipelines its increment and expiry in one on this client.
    """
    backend = caches["default"]
    return backend.client() if isinstance(backend, RedisCache) else None
