"""A rate limiter shared by every dispatcher: one token bucket per provider and one per chat.

``acquire_many(provider, chats)`` takes, for each chat in turn, one token of the provider's bucket and
one of the chat's, in one call: a dispatcher holding several rows of a provider asks for all of them
at once (one Redis round trip for the lot). ``acquire(provider, chat)`` is the same for one chat.
``pause(provider, seconds)`` stops the whole provider after a ``429``.

- With ``REDIS_URL`` the buckets live in Redis and one Lua script checks and takes both tokens
  atomically, so all workers on all machines share them (clock: Redis ``TIME``).
- Without Redis (the embedded default: one machine) the buckets live in a small SQLite file
  beside the database, shared by every process of that machine (``SqliteRateLimiter``).
  ``LocalRateLimiter`` keeps them in one process only (for single-process tools).

Buckets pace at ``NURTURE_RATE_SAFETY`` (97%) of the provider's limit with a burst of half the
remaining 3%: the provider counts a sliding one-second window, which a bucket at 100% plus a burst
could exceed by a few messages; the other half covers the time between taking a batch's tokens and
its last message reaching the provider (a batch is never larger than the burst).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis
from django.conf import settings
from django.db import connection

from api.nurture import conf


@dataclass(frozen=True)
class Limits:
    rate: float  # tokens per second, whole provider
    per_chat: float  # tokens per second, one chat

    @property
    def burst(self) -> float:
        return max(1.0, self.rate * (1 - conf.get("NURTURE_RATE_SAFETY")) / 2)

    @property
    def paced_rate(self) -> float:
        return self.rate * conf.get("NURTURE_RATE_SAFETY")

    @property
    def paced_per_chat(self) -> float:
        return self.per_chat * conf.get("NURTURE_RATE_SAFETY")


def provider_limits(provider: str) -> Limits:
    """The configured limits of ``provider`` (read at each call so tests may override settings)."""
    if provider == "telegram":
        return Limits(float(settings.TELEGRAM_GLOBAL_RATE_PER_SECOND),
                      float(settings.TELEGRAM_PER_CHAT_RATE_PER_SECOND))
    if provider == "whatsapp":
        return Limits(conf.get("NURTURE_WHATSAPP_RATE_PER_SECOND"),
                      conf.get("NURTURE_WHATSAPP_PER_CHAT_RATE_PER_SECOND"))
    return Limits(conf.get("NURTURE_MESSENGER_RATE_PER_SECOND"), 1.0)


# What ``acquire_many`` answers for each chat: ``(0.0, "")`` when both tokens were taken, else the
# seconds to wait and whose wait it is: ``"chat"`` (only this chat) or ``"global"`` (the provider: this
# chat and every later one of the call get the same wait, nothing of theirs was taken). The provider's
# wait lasts until the bucket holds a token for each of those chats, up to its burst: the dispatcher
# then comes back for a batch rather than for one token at a time (one call, one statement, for several).
Grant = tuple[float, str]
GRANTED: Grant = (0.0, "")
_MIN_WAIT = 0.0005


class RateLimiterBase:
    """What the dispatcher asks of a limiter. ``acquire_many`` here asks ``acquire`` chat by chat and
    stops at the first wait of the whole provider; the shared limiters answer the lot in one call."""

    def acquire(self, provider: str, chat: str) -> Grant:
        """Take one token of ``provider`` and of ``chat``: ``(0, "")``, or ``(seconds to wait, scope)``
        with nothing taken; scope ``"chat"`` when only this chat must wait, else ``"global"``."""
        return self.acquire_many(provider, [chat])[0]

    def acquire_many(self, provider: str, chats: list[str]) -> list[Grant]:
        """For each chat in order, take one token of the provider and one of the chat, or say how long
        to wait (see ``Grant``); once the provider must wait, every later chat waits as long."""
        grants: list[Grant] = []
        for chat in chats:
            grant = self.acquire(provider, chat)
            if grant[0] > 0 and grant[1] != "chat":
                return grants + [grant] * (len(chats) - len(grants))
            grants.append(grant)
        return grants

    def pause(self, provider: str, seconds: float) -> None:
        """No token of ``provider`` for ``seconds`` (a 429's retry_after)."""
        raise NotImplementedError


def _take_in_turn(chats: list[str], glob: float, limits: Limits, chat_level: Callable[[str], float],
                  take_chat: Callable[[str, float], None]) -> tuple[list[Grant], float]:
    """The rule every limiter applies to one ``acquire_many``: chats in order, each takes a token of
    the provider (``glob`` of them left) and one of its own (``chat_level(chat)``, ``take_chat(chat,
    level)`` stores what is left); returns the grants and the provider's tokens left."""
    grants: list[Grant] = []
    for index, chat in enumerate(chats):
        if glob < 1:
            wanted = min(len(chats) - index, max(1, int(limits.burst)))
            wait = max((wanted - glob) / limits.paced_rate, _MIN_WAIT)
            grants += [(wait, "global")] * (len(chats) - index)
            break
        one = chat_level(chat)
        if one < 1:
            grants.append((max((1 - one) / limits.paced_per_chat, _MIN_WAIT), "chat"))
            continue
        take_chat(chat, one - 1)
        glob -= 1
        grants.append(GRANTED)
    return grants, glob


class _Bucket:
    __slots__ = ("stamp", "tokens")

    def __init__(self, tokens: float, stamp: float):
        self.tokens = tokens
        self.stamp = stamp


class LocalRateLimiter(RateLimiterBase):
    """Token buckets in this process (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[str, _Bucket] = {}
        self._paused_until: dict[str, float] = {}

    def _refill(self, key: str, rate: float, capacity: float, now: float) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(capacity, now)
        else:
            bucket.tokens = min(capacity, bucket.tokens + (now - bucket.stamp) * rate)
            bucket.stamp = now
        return bucket

    def acquire_many(self, provider: str, chats: list[str]) -> list[Grant]:
        limits = provider_limits(provider)
        with self._lock:
            now = time.monotonic()
            paused = self._paused_until.get(provider, 0.0) - now
            if paused > 0:
                return [(paused, "global")] * len(chats)
            glob = self._refill(f"{provider}:*", limits.paced_rate, limits.burst, now)

            def take_chat(chat: str, left: float) -> None:
                self._buckets[f"{provider}:{chat}"].tokens = left

            grants, glob.tokens = _take_in_turn(
                chats, glob.tokens, limits,
                lambda chat: self._refill(f"{provider}:{chat}", limits.paced_per_chat, 1.0, now).tokens, take_chat)
            return grants

    def pause(self, provider: str, seconds: float) -> None:
        """No token of ``provider`` for ``seconds`` (a 429's retry_after)."""
        with self._lock:
            until = time.monotonic() + seconds
            self._paused_until[provider] = max(self._paused_until.get(provider, 0.0), until)

    def reset(self) -> None:
        with self._lock:
            self._buckets.clear()
            self._paused_until.clear()


# KEYS: global bucket, pause flag, then one bucket per chat. ARGV: rate, burst, chat rate, ttl seconds.
# Returns one integer per chat: 0 (both tokens taken), the provider's wait in microseconds (this chat
# and every later one), or minus the chat's own wait. ``_take_in_turn`` is the same rule in Python.
# Buckets are hashes {t: tokens, s: stamp}.
_LUA = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
local n = #KEYS - 2
local out = {}
local paused = redis.call('PTTL', KEYS[2])
if paused and paused > 0 then
  for i = 1, n do out[i] = paused * 1000 end
  return out
end
local rate, burst, chat_rate, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local function level(key, r, cap)
  local data = redis.call('HMGET', key, 't', 's')
  local tokens, stamp = tonumber(data[1]), tonumber(data[2])
  if tokens == nil then return cap end
  return math.min(cap, tokens + math.max(0, now - stamp) * r)
end
local g = level(KEYS[1], rate, burst)
local taken = 0
for i = 1, n do
  if g < 1 then
    local wanted = math.min(n - i + 1, math.max(1, math.floor(burst)))
    local wait = math.max(500, math.floor((wanted - g) / rate * 1000000))
    for j = i, n do out[j] = wait end
    break
  end
  local c = level(KEYS[i + 2], chat_rate, 1)
  if c < 1 then
    out[i] = -math.max(500, math.floor((1 - c) / chat_rate * 1000000))
  else
    redis.call('HSET', KEYS[i + 2], 't', c - 1, 's', now)
    redis.call('EXPIRE', KEYS[i + 2], ttl)
    g = g - 1
    taken = taken + 1
    out[i] = 0
  end
end
if taken > 0 then
  redis.call('HSET', KEYS[1], 't', g, 's', now)
  redis.call('EXPIRE', KEYS[1], ttl)
end
return out
"""


class RedisRateLimiter(RateLimiterBase):
    """Token buckets in Redis, shared by every worker; one Lua script per ``acquire_many``.

    The dispatcher asks for tokens once per batch of a provider's rows, so it talks to Redis on one
    connection of its own (no pool to take it from and give it back to) and calls the script by its
    SHA: 0.03 ms of CPU a call instead of 0.10 through a pooled ``Script`` (measured 2026-12-03 on
    loopback, one chat a call). The connection is the process's: after a fork the child opens its own.
    """

    def __init__(self, url: str, prefix: str) -> None:
        self._url = url
        self._prefix = prefix
        self._connect()

    def _connect(self) -> None:
        self._pid = os.getpid()
        self._redis = redis.Redis.from_url(self._url, socket_timeout=5, socket_connect_timeout=5,
                                           single_connection_client=True)
        self._sha = hashlib.sha1(_LUA.encode()).hexdigest()  # noqa: S324 (Redis names scripts by SHA-1)

    def _client(self) -> redis.Redis:
        if self._pid != os.getpid():
            self._connect()
        return self._redis

    def acquire_many(self, provider: str, chats: list[str]) -> list[Grant]:
        if not chats:
            return []
        limits = provider_limits(provider)
        prefix = f"{self._prefix}:rl:{provider}"
        ttl = int(max(60, 2 / max(limits.paced_per_chat, 0.001)))
        keys = [f"{prefix}:*", f"{prefix}:pause", *(f"{prefix}:{chat}" for chat in chats)]
        args: list[str | float] = [*keys, limits.paced_rate, limits.burst, limits.paced_per_chat, ttl]
        client = self._client()
        try:
            answers = client.evalsha(self._sha, len(keys), *args)
        except redis.exceptions.NoScriptError:  # Redis restarted or flushed its scripts
            client.script_load(_LUA)
            answers = client.evalsha(self._sha, len(keys), *args)
        return [GRANTED if not micro else (-micro / 1_000_000, "chat") if micro < 0 else (micro / 1_000_000, "global")
                for micro in map(int, answers)]

    def pause(self, provider: str, seconds: float) -> None:
        key = f"{self._prefix}:rl:{provider}:pause"
        millis = max(1, int(seconds * 1000))
        client = self._client()
        current = client.pttl(key)
        if current is None or current < millis:
            client.set(key, "1", px=millis)

    def reset(self) -> None:
        client = self._client()
        for key in client.scan_iter(f"{self._prefix}:rl:*"):
            client.delete(key)


class SqliteRateLimiter(RateLimiterBase):
    """Token buckets in a small SQLite file beside the database: shared by every process of one machine.

    The embedded run (no Redis) may still run several worker processes on its one machine; each
    ``acquire_many`` is one short ``BEGIN IMMEDIATE`` transaction on this file (about 0.1 ms), and the clock
    is the machine's wall clock, common to all of them.
    """

    def __init__(self, path: str) -> None:
        self._path = path
        self._local = threading.local()

    def _conn(self) -> Any:
        held = getattr(self._local, "held", None)
        if held is None or held[0] != os.getpid():  # one connection per thread, never across a fork
            conn = sqlite3.connect(self._path, timeout=30, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=OFF")  # losing buckets in a crash only resets the pace
            conn.execute("CREATE TABLE IF NOT EXISTS bucket (key TEXT PRIMARY KEY, tokens REAL NOT NULL, "
                         "stamp REAL NOT NULL)")
            held = self._local.held = (os.getpid(), conn)
        return held[1]

    def _level(self, conn: Any, key: str, rate: float, cap: float, now: float) -> float:
        row = conn.execute("SELECT tokens, stamp FROM bucket WHERE key = ?", (key,)).fetchone()
        if row is None:
            return cap
        return min(cap, row[0] + max(0.0, now - row[1]) * rate)

    def acquire_many(self, provider: str, chats: list[str]) -> list[Grant]:
        limits = provider_limits(provider)
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            now = time.time()
            paused = conn.execute("SELECT stamp FROM bucket WHERE key = ?", (f"{provider}:pause",)).fetchone()
            if paused is not None and paused[0] > now:
                return [(paused[0] - now, "global")] * len(chats)
            taken: dict[str, float] = {}  # this call's chat buckets, as they are left

            def chat_level(chat: str) -> float:
                if chat in taken:
                    return taken[chat]
                return self._level(conn, f"{provider}:{chat}", limits.paced_per_chat, 1.0, now)

            glob = self._level(conn, f"{provider}:*", limits.paced_rate, limits.burst, now)
            grants, left = _take_in_turn(chats, glob, limits, chat_level, taken.__setitem__)
            if taken:
                conn.executemany("INSERT INTO bucket (key, tokens, stamp) VALUES (?, ?, ?) ON CONFLICT(key) "
                                 "DO UPDATE SET tokens = excluded.tokens, stamp = excluded.stamp",
                                 [(f"{provider}:*", left, now),
                                  *((f"{provider}:{chat}", tokens, now) for chat, tokens in taken.items())])
            return grants
        finally:
            conn.execute("COMMIT")

    def pause(self, provider: str, seconds: float) -> None:
        conn = self._conn()
        until = time.time() + seconds
        conn.execute("INSERT INTO bucket (key, tokens, stamp) VALUES (?, 0, ?) ON CONFLICT(key) "
                     "DO UPDATE SET stamp = max(stamp, excluded.stamp)", (f"{provider}:pause", until))

    def reset(self) -> None:
        self._conn().execute("DELETE FROM bucket")

    def drop(self) -> None:
        """Close this thread's connection and delete the file (tests and benchmarks, on their scratch data)."""
        held = getattr(self._local, "held", None)
        if held is not None:
            held[1].close()
            self._local.held = None
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(self._path + suffix)


RateLimiter = LocalRateLimiter | RedisRateLimiter | SqliteRateLimiter
_limiter: RateLimiter | None = None
_limiter_lock = threading.Lock()


def get_rate_limiter() -> RateLimiter:
    """The process's limiter: Redis when ``REDIS_URL`` is set, else a file shared by the machine's processes.

    The file is named after the database, so that processes sharing a database share the buckets.
    """
    global _limiter
    with _limiter_lock:
        if _limiter is None:
            if settings.REDIS_URL:
                prefix = settings.CACHES["default"].get("KEY_PREFIX") or "confiotes"
                _limiter = RedisRateLimiter(settings.REDIS_URL, prefix)
            else:
                _limiter = SqliteRateLimiter(sqlite_limiter_path())
        return _limiter


def sqlite_limiter_path() -> str:
    """The limiter file of the current database (processes sharing a database share it)."""
    digest = hashlib.sha256(str(connection.settings_dict["NAME"]).encode()).hexdigest()[:12]
    return str(settings.DATA_DIR / f"ratelimit-{digest}.sqlite3")


def forget_rate_limiter() -> None:
    """Drop the process's limiter (after a fork, or when the database changed)."""
    global _limiter
    with _limiter_lock:
        _limiter = None
