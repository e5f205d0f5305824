"""Order tasks: deliver order events to other apps' listeners, send due partner webhooks, purge old
idempotency keys."""

from __future__ import annotations

from celery import shared_task

from api.orders.services import (
    idempotency_keys_purge,
    order_event_deliveries_run,
    webhook_deliveries_send_due,
)


@shared_task(name="workers.tasks.orders.send_partner_webhooks", acks_late=True, reject_on_worker_lost=True)
def send_partner_webhooks() -> int:
    """Claim and POST the due webhook outbox rows. Safe to run twice or in parallel: rows are claimed
    under SKIP LOCKED with a lease, and a finished row is never sent again."""
    return webhook_deliveries_send_due()


@shared_task(name="workers.tasks.orders.purge_idempotency_keys", acks_late=True)
def purge_idempotency_keys() -> int:
    """Delete Idempotency-Key rows past their retention (at least 24 h). Idempotent."""
    return idempotency_keys_purge()


@shared_task(name="workers.tasks.orders.deliver_order_events", acks_late=True, reject_on_worker_lost=True)
def deliver_order_events() -> int:
    """Deliver the due order events to their listeners. Safe to run twice or in parallel: rows are
    claimed under SKIP LOCKED with a lease and fenced by their attempt count."""
    return order_event_deliveries_run()
