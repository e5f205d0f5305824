"""The partner webhook outbox: rows written with the change, claimed and POSTed by workers."""

from __future__ import annotations

import json
import logging
import random
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from api.common.errors import NotFoundError
from api.common.kicks import task_kick_on_commit
from api.orders import conf
from api.orders.enums import DeliveryState
from api.orders.models import Order, WebhookDelivery
from integrations.webhooks import post_signed

logger = logging.getLogger(__name__)


def _order_webhook_data(order: Order) -> dict[str, Any]:
    return {
        "number": order.number, "status": order.status, "payment_status": order.payment_status,
        "total_xaf": order.total_xaf, "refunded_xaf": order.refunded_xaf,
        "partner_reference": order.partner_reference, "updated_at": order.updated_at.isoformat(),
    }


def webhook_enqueue(order: Order, event: str, *, previous_status: str | None) -> WebhookDelivery | None:
    """Write the outbox row of a partner order's change, in the caller's transaction, and kick the
    sender once it commits (beat's tick sends it anyway, up to 10 s later)."""
    if order.partner_id is None:
        return None
    partner = order.partner
    if partner is None or not partner.webhook_url:
        return None
    payload = {"event_id": str(uuid.uuid4()), "event": event, "occurred_at": order.updated_at.isoformat(),
               "data": {**_order_webhook_data(order), "previous_status": previous_status}}
    delivery = WebhookDelivery.objects.create(partner=partner, order=order, event=event, payload=payload,
                                              next_attempt_at=timezone.now())
    task_kick_on_commit("workers.tasks.orders.send_partner_webhooks", switch="PARTNER_WEBHOOKS_KICK")
    return delivery


def _backoff(attempts: int) -> timedelta:
    base = conf.WEBHOOK_BACKOFF_BASE_SECONDS * 2 ** max(0, attempts - 1)
    seconds = min(base, conf.WEBHOOK_BACKOFF_MAX_SECONDS)
    return timedelta(seconds=seconds * random.uniform(0.9, 1.1))  # noqa: S311 - jitter, not security


def webhook_deliveries_claim(*, now: datetime | None = None, limit: int | None = None) -> list[int]:
    """Claim due deliveries: lock them (SKIP LOCKED on PostgreSQL, so workers never share a row),
    count the attempt and push ``next_attempt_at`` by a lease; commit. A worker that dies mid-send
    leaves the row to be claimed again when the lease ends."""
    now = now or timezone.now()
    with transaction.atomic():
        due = (WebhookDelivery.objects.filter(state=DeliveryState.PENDING, next_attempt_at__lte=now)
               .order_by("next_attempt_at", "id"))
        if connection.features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True)
        ids = list(due.values_list("id", flat=True)[: limit or conf.WEBHOOK_BATCH_SIZE])
        if ids:
            WebhookDelivery.objects.filter(pk__in=ids).update(
                attempts=F("attempts") + 1, last_attempt_at=now,
                next_attempt_at=now + timedelta(seconds=conf.WEBHOOK_LEASE_SECONDS))
    return ids


def webhook_delivery_attempt(*, delivery_id: int, now: datetime | None = None) -> WebhookDelivery:
    """POST one claimed delivery, signed, and record the outcome: succeeded, or the next attempt
    with exponential backoff, or failed once the next attempt would fall past 24 h. The POST goes to
    the address vetted for it (see ``integrations.webhooks``). No lock is held during the HTTP call."""
    delivery = WebhookDelivery.objects.select_related("partner").get(pk=delivery_id)
    partner = delivery.partner
    body = json.dumps(delivery.payload, sort_keys=True, separators=(",", ":")).encode()
    if not partner.webhook_url:
        result_ok, status_code, error, retryable = False, None, "The partner has no webhook URL.", False
    else:
        result = post_signed(
            partner.webhook_url, body, partner.webhook_secret, timeout=conf.WEBHOOK_TIMEOUT_SECONDS,
            allow_loopback=settings.PARTNER_WEBHOOKS_ALLOW_LOOPBACK,
            headers={"X-Confiotes-Delivery": str(delivery.pk), "X-Confiotes-Event": delivery.event},
        )
        result_ok, status_code, error, retryable = result.ok, result.status_code, result.error, result.retryable
        if result.detail:
            # The partner reads only ``error`` (the same sentence for any failure before an answer,
            # so the log cannot serve as a port scanner); staff read the cause here.
            logger.warning("Webhook delivery %s to partner %s not delivered: %s", delivery.pk, partner.pk,
                           result.detail)
    now = now or timezone.now()
    fields: dict[str, Any] = {"last_status_code": status_code, "last_error": error[:500]}
    if result_ok:
        fields.update(state=DeliveryState.SUCCEEDED, delivered_at=now)
    else:
        next_at = now + _backoff(delivery.attempts)
        if not retryable or next_at > delivery.created_at + timedelta(hours=conf.WEBHOOK_MAX_AGE_HOURS):
            fields.update(state=DeliveryState.FAILED)
        else:
            fields.update(next_attempt_at=next_at)
    # Guarded: a redelivery or a second worker cannot resurrect a finished row.
    WebhookDelivery.objects.filter(pk=delivery.pk, state=DeliveryState.PENDING).update(**fields)
    delivery.refresh_from_db()
    return delivery


def webhook_deliveries_send_due(*, now: datetime | None = None, limit: int | None = None) -> int:
    """Claim and send the due deliveries; returns how many were attempted. Safe to run in parallel."""
    ids = webhook_deliveries_claim(now=now, limit=limit)
    for delivery_id in ids:
        try:
            webhook_delivery_attempt(delivery_id=delivery_id, now=now)
        except Exception:  # one broken row must not block the others; its lease brings it back
            logger.exception("webhook delivery %s failed", delivery_id)
    return len(ids)


def webhook_delivery_redeliver(*, partner_id: int, delivery_id: int) -> WebhookDelivery:
    """Send an earlier delivery again, as a new outbox row with the same payload (same ``event_id``,
    so a partner that deduplicates sees one event)."""
    original = WebhookDelivery.objects.filter(pk=delivery_id, partner_id=partner_id).first()
    if original is None:
        raise NotFoundError(f"No delivery #{delivery_id}.")
    return WebhookDelivery.objects.create(partner_id=partner_id, order_id=original.order_id, event=original.event,
                                          payload=original.payload, next_attempt_at=timezone.now())
