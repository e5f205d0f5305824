"""Order events that other apps listen to, without the orders app importing them.

The orders services call ``order_event_emit`` explicitly after the change is
committed (``transaction.on_commit``); listeners are registered by other apps in
their ``AppConfig.ready()`` with ``register_order_listener``. A listener must be
quick and idempotent (it may enqueue a Celery task); an exception in one listener is
logged and does not stop the others.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class OrderEvent:
    """What happened to an order.

    ``kind`` is ``created``, ``status_changed``, ``paid``, ``refunded`` or ``feedback``.
    """

    kind: str
    order_id: int
    order_number: str
    contact_id: int
    status: str
    previous_status: str | None
    occurred_at: datetime
    total_xaf: int
    is_sample: bool = False
    sample_cost_xaf: int = 0
    campaign_code: str = ""
    coupon_code: str = ""
    sales_channel: str = ""
    partner_id: int | None = None
    rating: int | None = None
    data: dict = field(default_factory=dict)


OrderListener = Callable[[OrderEvent], None]
_LISTENERS: list[OrderListener] = []


def register_order_listener(listener: OrderListener) -> None:
    """Call ``listener(event)`` after every committed order event. Registering twice is a no-op."""
    if listener not in _LISTENERS:
        _LISTENERS.append(listener)


def order_event_emit(event: OrderEvent) -> None:
    """Deliver ``event`` to every listener once the current transaction commits."""

    def deliver() -> None:
        for listener in list(_LISTENERS):
            try:
                listener(event)
            except Exception:  # one broken listener must not block the others or the order
                logger.exception("order listener %s failed for order %s", getattr(listener, "__name__", listener),
                                 event.order_id)

    transaction.on_commit(deliver)
