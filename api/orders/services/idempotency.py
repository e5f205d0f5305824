"""Idempotency keys: the first answer to a POST sent with an ``Idempotency-Key``, replayed."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from api.common.errors import ApplicationError, ConflictError, field_error
from api.orders import conf
from api.orders.models import IdempotencyKey


def idempotency_request_hash(body: Any) -> str:
    """The SHA-256 of ``body`` as canonical JSON: two requests with the same body hash the same."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


def idempotency_replay(*, scope: str, key: str, request_hash: str) -> IdempotencyKey | None:
    """The stored answer for ``(scope, key)`` if the body is the same; another body is a 422."""
    since = timezone.now() - timedelta(hours=conf.ORDERS_IDEMPOTENCY_TTL_HOURS)
    stored = IdempotencyKey.objects.filter(scope=scope, key=key, created_at__gte=since).first()
    if stored is None:
        return None
    if stored.request_hash != request_hash:
        raise ApplicationError(
            "This Idempotency-Key was used with another request body. Use a new key for a new request.",
            code="idempotency_key_reused", status_code=422,
            errors=[field_error("Idempotency-Key", "Used with another body.", "idempotency_key_reused")],
        )
    return stored


def idempotency_store(*, scope: str, key: str, request_hash: str, status: int, body: Any) -> None:
    """Keep the answer to replay it. A simultaneous request with the same key that committed first
    wins: this one is then a 409 and rolls back (the client retries and gets the replay)."""
    since = timezone.now() - timedelta(hours=conf.ORDERS_IDEMPOTENCY_TTL_HOURS)
    IdempotencyKey.objects.filter(scope=scope, key=key, created_at__lt=since).delete()
    try:
        with transaction.atomic():
            IdempotencyKey.objects.create(scope=scope, key=key, request_hash=request_hash, response_status=status,
                                          response_body=json.loads(json.dumps(body, default=str)))
    except IntegrityError:
        raise ConflictError("A request with this Idempotency-Key is being processed; retry in a moment.",
                            code="idempotency_key_in_use") from None


def idempotency_keys_purge(*, older_than_hours: int | None = None) -> int:
    """Delete keys past their retention (at least 24 h). Idempotent."""
    hours = max(24, older_than_hours or conf.ORDERS_IDEMPOTENCY_TTL_HOURS)
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=timezone.now() - timedelta(hours=hours)).delete()
    return deleted

