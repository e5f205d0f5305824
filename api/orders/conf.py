"""Settings of the orders app, read from the environment with safe embedded defaults.

Tests change them with ``monkeypatch.setattr(conf, "NAME", value)``.
"""

from __future__ import annotations

from api.env import env_bool, env_int, env_str

# Human order numbers: ``CF-2026-000123`` (prefix, business-time-zone year, counter).
ORDER_NUMBER_PREFIX = env_str("ORDER_NUMBER_PREFIX", "CF")

# Idempotency-Key rows are kept (and honoured) this long; the issue asks for at least 24 h.
ORDERS_IDEMPOTENCY_TTL_HOURS = max(24, env_int("ORDERS_IDEMPOTENCY_TTL_HOURS", 48))

# Payment instructions sent to the customer in one message.
MERCHANT_NAME = env_str("ORDERS_MERCHANT_NAME", "Confiotes")
ORANGE_MONEY_MERCHANT_NUMBER = env_str("ORANGE_MONEY_MERCHANT_NUMBER", "+237 690 00 00 01")
MTN_MOMO_MERCHANT_NUMBER = env_str("MTN_MOMO_MERCHANT_NUMBER", "+237 670 00 00 01")

# Partner polling: rows changed in the last SETTLE seconds are held back, so that a transaction
# that stamped ``updated_at`` before a newer, already committed one cannot be skipped by a cursor.
# Every order write commits within a request (ATOMIC_REQUESTS) in far less than this.
PARTNER_POLL_SETTLE_SECONDS = env_int("PARTNER_POLL_SETTLE_SECONDS", 2)
PARTNER_POLL_PAGE_SIZE = env_int("PARTNER_POLL_PAGE_SIZE", 100)
PARTNER_POLL_MAX_PAGE_SIZE = 500

# Outbound webhooks: exponential backoff from BASE seconds, for at most MAX_AGE hours, then failed.
WEBHOOK_BACKOFF_BASE_SECONDS = env_int("WEBHOOK_BACKOFF_BASE_SECONDS", 30)
WEBHOOK_BACKOFF_MAX_SECONDS = env_int("WEBHOOK_BACKOFF_MAX_SECONDS", 3600)
WEBHOOK_MAX_AGE_HOURS = env_int("WEBHOOK_MAX_AGE_HOURS", 24)
WEBHOOK_TIMEOUT_SECONDS = env_int("WEBHOOK_TIMEOUT_SECONDS", 10)
WEBHOOK_BATCH_SIZE = env_int("WEBHOOK_BATCH_SIZE", 50)
# A claimed delivery whose worker died is tried again after this lease.
WEBHOOK_LEASE_SECONDS = env_int("WEBHOOK_LEASE_SECONDS", 120)

# Order events (``api.orders.events``): a failing listener is tried again after BASE * 2**(n-1)
# seconds (jittered, at most MAX) and marked failed after MAX_ATTEMPTS attempts, about 1 h 40 min
# of retries with the defaults. A claimed delivery whose worker died is claimed again after the lease.
ORDER_EVENT_BACKOFF_BASE_SECONDS = env_int("ORDER_EVENT_BACKOFF_BASE_SECONDS", 10)
ORDER_EVENT_BACKOFF_MAX_SECONDS = env_int("ORDER_EVENT_BACKOFF_MAX_SECONDS", 1800)
ORDER_EVENT_MAX_ATTEMPTS = env_int("ORDER_EVENT_MAX_ATTEMPTS", 8)
ORDER_EVENT_LEASE_SECONDS = env_int("ORDER_EVENT_LEASE_SECONDS", 120)
ORDER_EVENT_BATCH_SIZE = env_int("ORDER_EVENT_BATCH_SIZE", 100)
# Default of the Django setting of the same name (read at each event, so tests can change it): the
# process that committed an order delivers its events right after the commit, as listeners always
# ran; off, only workers deliver them (kicked after commit, beat as the fallback).
ORDER_EVENTS_DELIVER_ON_COMMIT = env_bool("ORDER_EVENTS_DELIVER_ON_COMMIT", True)

# Care for unhappy customers: a rating (1-5) at or under this opens a complaint case on the order,
# which alerts staff, sends the customer an apology and pauses marketing to them until the case is
# resolved or closed. 2 takes "bad" and "very bad" and leaves a lukewarm 3 alone; 0 turns it off.
UNHAPPY_RATING_THRESHOLD = env_int("ORDERS_UNHAPPY_RATING_THRESHOLD", 2)

# A friend's first order with an ambassador's personal referral code as its coupon: this percent off
# the goods (``api.orders.coupons``; the referrer's own reward is set in the attribution app).
REFERRAL_FRIEND_DISCOUNT_PERCENT = min(100, max(0, env_int("REFERRAL_FRIEND_DISCOUNT_PERCENT", 10)))
