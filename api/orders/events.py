"""Order events that other apps listen to, durable: rows written with the change, delivered by workers.

How an event travels:

1. An orders service calls ``order_event_emit`` inside the transaction of the change. It writes an
   ``OrderEventRecord`` (the frozen ``OrderEvent`` as JSON) and one ``OrderEventDelivery`` per
   registered listener, by the listener's stable key. Roll the change back and the event goes too;
   commit it and the event is there, whatever happens to the process next.
2. After the commit something delivers the pending rows; both ways go through the same claim:
   * with the setting ``ORDER_EVENTS_DELIVER_ON_COMMIT`` on (the default, see ``conf``), the process
     that committed delivers the event's rows itself, right after the commit, as listeners always ran:
     the tests (``django_capture_on_commit_callbacks(execute=True)`` or a committed transaction) see
     the listeners' effects at once, with no fixture and no worker;
   * off, ``task_kick_on_commit`` asks a worker (``workers.tasks.orders.deliver_order_events``).
   Either way beat's ``orders-order-events-deliver`` entry finds whatever is still due: a process killed
   between the commit and the delivery, a lost kick, a listener to try again.
3. ``order_event_deliveries_run`` claims due rows (``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL),
   counts the attempt and leases them (``ORDER_EVENT_LEASE_SECONDS``), commits; then for each row, in
   a transaction holding the row lock, calls the listener with the rebuilt ``OrderEvent`` and records
   the outcome in the same transaction: ``delivered``, or the next attempt after a capped, jittered
   exponential backoff, or ``failed`` after ``ORDER_EVENT_MAX_ATTEMPTS``. The attempt count fences the
   claim: a worker whose lease ran out and was claimed again finds the row no longer its own.

What listeners may assume: a listener's database writes commit together with its ``delivered`` mark
(a listener that raises has its writes rolled back), so a worker killed mid-listener leaves neither,
and the row is delivered once after the lease expires. A listener's effects outside the database
(a Celery task it queues on commit) may still happen twice if the process dies between that commit
and the next; listeners are idempotent for that reason: attribution's lifecycle moves and referral
rewards are guarded by state and a unique row, campaigns' sample cost is keyed by the order, nurture's
messages by idempotency keys and its enrollments by a unique (contact, sequence). Failed rows show in
``/api/v1/health`` (``selectors.order_event_deliveries_health``) and in the admin.
"""

from __future__ import annotations

import json
import logging
import random
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from api.common.hooks import Hooks
from api.common.kicks import task_kick_on_commit
from api.orders import conf
from api.orders.enums import OrderEventDeliveryState, OrderEventKind
from api.orders.models import OrderEventDelivery, OrderEventRecord

logger = logging.getLogger(__name__)

DELIVER_TASK = "workers.tasks.orders.deliver_order_events"
# One run of the task stops claiming after this long, so that a kick or a beat tick is never stuck
# behind a backlog; the next tick goes on where it stopped.
_RUN_MAX_SECONDS = 30.0


@dataclass(frozen=True)
class OrderEvent:
    """What happened to an order; ``kind`` is an ``OrderEventKind``; ``data`` holds JSON values only."""

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


class _ListenerRegistry(Hooks[OrderListener]):
    """Listeners by stable key; ``in`` accepts a key or a listener function."""

    def __contains__(self, item: object) -> bool:
        return (isinstance(item, str) and dict.__contains__(self, item)) or item in self.values()


_LISTENERS = _ListenerRegistry("An order listener")


def register_order_listener(key: str, listener: OrderListener) -> None:
    """Deliver every order event committed from now on to ``listener`` under ``key``.

    ``key`` names the listener in the delivery rows, so it must not change between releases (rows
    written before a deploy are delivered after it). Registering the same pair twice is a no-op;
    another listener under a taken key is a configuration error.
    """
    _LISTENERS.register(key, listener)


def unregister_order_listener(key: str) -> None:
    """Forget the listener under ``key`` (tests); its pending rows fail when next claimed."""
    _LISTENERS.unregister(key)


def order_listeners() -> dict[str, OrderListener]:
    """The registered listeners by key (a copy)."""
    return dict(_LISTENERS)


def _payload(event: OrderEvent) -> dict[str, Any]:
    return json.loads(json.dumps(asdict(event), cls=DjangoJSONEncoder))


def order_event_from_payload(payload: dict[str, Any]) -> OrderEvent:
    """The frozen ``OrderEvent`` stored in a record's ``payload``."""
    values = dict(payload)
    values["occurred_at"] = parse_datetime(values["occurred_at"])
    return OrderEvent(**values)


def order_event_emit(event: OrderEvent) -> OrderEventRecord:
    """Write ``event`` and a pending delivery per registered listener, in the caller's transaction.

    Assumes it runs in the transaction of the change it tells of (services call it there). After
    the commit the rows are delivered by this process or a worker (see the module docstring).
    """
    with transaction.atomic():
        record = OrderEventRecord.objects.create(kind=event.kind, order_id=event.order_id, payload=_payload(event))
        OrderEventDelivery.objects.bulk_create([
            OrderEventDelivery(event=record, listener=key, next_attempt_at=record.created_at,
                               created_at=record.created_at)
            for key in _LISTENERS
        ])
    if getattr(settings, "ORDER_EVENTS_DELIVER_ON_COMMIT", conf.ORDER_EVENTS_DELIVER_ON_COMMIT):
        transaction.on_commit(lambda: _deliver_after_commit(record.pk))
    else:
        task_kick_on_commit(DELIVER_TASK, switch="ORDER_EVENTS_KICK")
    return record


def _deliver_after_commit(event_id: int) -> None:
    # Runs after the request's commit: an error here must not turn a committed change into a 500.
    try:
        order_event_deliveries_run(event_id=event_id)
    except Exception:
        logger.exception("delivering order event %s after commit failed; beat's tick will retry", event_id)


def _backoff(attempts: int) -> timedelta:
    seconds = min(conf.ORDER_EVENT_BACKOFF_BASE_SECONDS * 2 ** max(0, attempts - 1),
                  conf.ORDER_EVENT_BACKOFF_MAX_SECONDS)
    return timedelta(seconds=seconds * random.uniform(0.8, 1.2))  # noqa: S311 - jitter, not security


def _short_error(exc: BaseException) -> str:
    """The exception's type and where it was raised: enough to find it in the logs, which hold the
    message and the traceback; a message may quote data or a secret, so it is not stored."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno}" if frames else ""
    return f"{type(exc).__name__}{where}"[:300]


def order_event_deliveries_claim(*, now: datetime | None = None, limit: int | None = None,
                                 event_id: int | None = None) -> list[tuple[int, int]]:
    """Claim due pending deliveries (of ``event_id`` only, when given) and commit the claim.

    Rows are locked with SKIP LOCKED on PostgreSQL, so concurrent workers claim disjoint rows; the
    attempt is counted and ``next_attempt_at`` pushed by the lease, so a killed worker's rows come
    back once it ends. Returns ``[(delivery_id, attempts)]``; ``attempts`` fences the claim.
    """
    now = now or timezone.now()
    with transaction.atomic():
        due = OrderEventDelivery.objects.filter(state=OrderEventDeliveryState.PENDING, next_attempt_at__lte=now)
        if event_id is not None:
            due = due.filter(event_id=event_id)
        due = due.order_by("next_attempt_at", "id")
        if connection.features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True)
        ids = list(due.values_list("id", flat=True)[: limit or conf.ORDER_EVENT_BATCH_SIZE])
        if not ids:
            return []
        OrderEventDelivery.objects.filter(pk__in=ids).update(
            attempts=F("attempts") + 1, next_attempt_at=now + timedelta(seconds=conf.ORDER_EVENT_LEASE_SECONDS))
        return list(OrderEventDelivery.objects.filter(pk__in=ids).order_by("next_attempt_at", "id")
                    .values_list("id", "attempts"))


def order_event_delivery_attempt(*, delivery_id: int, attempts: int,
                                 now: datetime | None = None) -> OrderEventDelivery | None:
    """Call the listener of one claimed delivery and record the outcome, in one transaction.

    Holds the row lock while the listener runs, so its writes and the ``delivered`` mark commit
    together. Returns None when the claim is no longer this caller's (another claim after the lease,
    or the row is finished): nothing is called then.
    """
    with transaction.atomic():
        delivery = (OrderEventDelivery.objects.select_for_update().select_related("event")
                    .filter(pk=delivery_id, state=OrderEventDeliveryState.PENDING, attempts=attempts).first())
        if delivery is None:
            return None
        listener = _LISTENERS.get(delivery.listener)
        try:
            with transaction.atomic():  # a savepoint: a listener that raises leaves no write behind
                if listener is None:
                    raise LookupError(f"no order listener registered as {delivery.listener!r}")
                listener(order_event_from_payload(delivery.event.payload))
        except Exception as exc:
            logger.warning("order listener %s failed on event %s (attempt %s)", delivery.listener,
                           delivery.event_id, attempts, exc_info=True)
            delivery.last_error = _short_error(exc)
            if attempts >= conf.ORDER_EVENT_MAX_ATTEMPTS:
                delivery.state = OrderEventDeliveryState.FAILED
            else:
                delivery.next_attempt_at = (now or timezone.now()) + _backoff(attempts)
        else:
            delivery.state = OrderEventDeliveryState.DELIVERED
            delivery.delivered_at = now or timezone.now()
        delivery.save(update_fields=["state", "next_attempt_at", "last_error", "delivered_at"])
        return delivery


def order_event_deliveries_run(*, now: datetime | None = None, event_id: int | None = None) -> int:
    """Claim and deliver due order events until none is due (or ``_RUN_MAX_SECONDS`` passed).

    Returns how many deliveries were attempted. Safe to run twice or in parallel: claims are
    disjoint and fenced, and a finished row is never delivered again.
    """
    started = time.monotonic()
    attempted = 0
    while time.monotonic() - started < _RUN_MAX_SECONDS:
        claimed = order_event_deliveries_claim(now=now, event_id=event_id)
        for delivery_id, attempts in claimed:
            order_event_delivery_attempt(delivery_id=delivery_id, attempts=attempts, now=now)
        attempted += len(claimed)
        if len(claimed) < conf.ORDER_EVENT_BATCH_SIZE:
            break
    return attempted


def order_event_delivery_retry(*, delivery_id: int) -> OrderEventDelivery:
    """Put a failed delivery back in the queue with a fresh count of attempts (admin action)."""
    OrderEventDelivery.objects.filter(pk=delivery_id, state=OrderEventDeliveryState.FAILED).update(
        state=OrderEventDeliveryState.PENDING, attempts=0, next_attempt_at=timezone.now())
    task_kick_on_commit(DELIVER_TASK, switch="ORDER_EVENTS_KICK")
    return OrderEventDelivery.objects.get(pk=delivery_id)


__all__ = [
    "OrderEvent",
    "OrderEventKind",
    "OrderListener",
    "order_event_deliveries_claim",
    "order_event_deliveries_run",
    "order_event_delivery_attempt",
    "order_event_delivery_retry",
    "order_event_emit",
    "order_event_from_payload",
    "order_listeners",
    "register_order_listener",
    "unregister_order_listener",
]
