"""The shared rate limiter hands out a batch's tokens in one call, with the same rule on every backend.

A dispatcher holding several rows of a provider asks for all their tokens at once. The rule: chats in
order; each takes a token of the provider and one of its own; a chat whose own bucket is empty waits
alone (``"chat"``); once the provider's bucket is empty, that chat and every later one wait for the
provider (``"global"``) and nothing of theirs is taken. Each call reads one clock, so the answers do
not depend on how fast the machine is: the buckets refill so slowly here (a token every 16 seconds)
that the time between two calls of a test changes no answer.
"""

from __future__ import annotations

import uuid

import pytest
from django.conf import settings as django_settings

from api.nurture.ratelimit import LocalRateLimiter, RedisRateLimiter, SqliteRateLimiter

TOKEN_SECONDS = 1 / (6.1 * 0.01)  # the provider's pace in the fixture below


@pytest.fixture(params=["local", "sqlite", "redis"])
def limiter(request, settings, tmp_path):
    # Telegram paced at 0.061 a second (a token every 16.4 s) with a burst of 3 (half of 99 % of 6.1);
    # one chat at 0.01 a second (a token every 100 s) with a burst of 1.
    settings.TELEGRAM_GLOBAL_RATE_PER_SECOND = 6.1
    settings.TELEGRAM_PER_CHAT_RATE_PER_SECOND = 1
    settings.NURTURE_RATE_SAFETY = 0.01
    if request.param == "local":
        yield LocalRateLimiter()
    elif request.param == "sqlite":
        sqlite = SqliteRateLimiter(str(tmp_path / "limiter.sqlite3"))
        yield sqlite
        sqlite.drop()
    else:
        if not django_settings.REDIS_URL:
            pytest.skip("Redis is for CI's second run (REDIS_URL)")
        shared = RedisRateLimiter(django_settings.REDIS_URL, f"test-limiter-{uuid.uuid4().hex}")
        yield shared
        shared.reset()


def test_a_batch_takes_the_providers_tokens_in_order_and_a_busy_chat_waits_alone(limiter):
    grants = limiter.acquire_many("telegram", ["ama", "ama", "bella", "chris", "dieu"])

    assert [scope for _, scope in grants] == ["", "chat", "", "", "global"]
    assert grants[0][0] == grants[2][0] == grants[3][0] == 0
    assert grants[1][0] == pytest.approx(100, rel=0.01)  # Ama's second message: her chat's next token
    assert grants[4][0] == pytest.approx(TOKEN_SECONDS, rel=0.03)  # the provider's next token


def test_once_the_provider_is_empty_nobody_of_the_batch_takes_a_token(limiter):
    assert [scope for _, scope in limiter.acquire_many("telegram", ["a", "b", "c"])] == ["", "", ""]

    late = limiter.acquire_many("telegram", ["d", "e"])

    assert [scope for _, scope in late] == ["global", "global"]
    # Both wait until the bucket holds their two tokens, to come back as one batch.
    assert late[0][0] == late[1][0] == pytest.approx(2 * TOKEN_SECONDS, rel=0.03)
    many = limiter.acquire_many("telegram", [f"chat-{i}" for i in range(8)])
    assert [wait for wait, _ in many] == [pytest.approx(3 * TOKEN_SECONDS, rel=0.03)] * 8  # a burst (3) at most


def test_a_paused_provider_makes_the_whole_batch_wait_and_acquire_is_a_batch_of_one(limiter):
    limiter.pause("telegram", 600)

    grants = limiter.acquire_many("telegram", ["a", "b"])

    assert [scope for _, scope in grants] == ["global", "global"]
    assert all(500 < wait <= 600 for wait, _ in grants)
    wait, scope = limiter.acquire("telegram", "a")
    assert scope == "global"
    assert 500 < wait <= 600
    assert limiter.acquire("messenger", "a") == (0.0, "")  # other providers go on
