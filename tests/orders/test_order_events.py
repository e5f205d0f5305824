"""Durable order events: rows written with the change, delivered once per listener, retried."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from api.orders import conf
from api.orders.enums import OrderEventDeliveryState
from api.orders.events import order_event_deliveries_run, register_order_listener, unregister_order_listener
from api.orders.models import OrderEventDelivery, OrderEventRecord
from api.orders.selectors import order_event_deliveries_health
from api.orders.services import order_create, order_status_change

pytestmark = pytest.mark.django_db


@pytest.fixture
def flaky():
    """A listener that fails its first two calls, then records what it got."""
    calls: list = []

    def listener(event):
        calls.append(event)
        if len(calls) <= 2:
            raise RuntimeError("listener down")

    register_order_listener("tests.flaky", listener)
    yield calls
    unregister_order_listener("tests.flaky")


def _order(catalog, customer):
    return order_create(contact_id=customer.pk, lines=[{"product_id": catalog["ginger"].pk, "quantity": 1}])


def test_the_event_is_a_row_of_the_change_with_a_delivery_per_listener(catalog, customer, events, settings):
    settings.ORDER_EVENTS_DELIVER_ON_COMMIT = False
    settings.ORDER_EVENTS_KICK = False
    order = _order(catalog, customer)
    record = OrderEventRecord.objects.get(order_id=order.pk)
    assert record.kind == "created"
    assert record.payload["order_number"] == order.number
    listeners = set(record.deliveries.values_list("listener", flat=True))
    assert {"attribution", "campaigns", "nurture", "tests.orders"} <= listeners
    assert events == []  # nobody delivered yet: no commit hook, no worker


def test_a_listener_that_fails_twice_succeeds_on_the_third_attempt(catalog, customer, flaky, settings):
    settings.ORDER_EVENTS_DELIVER_ON_COMMIT = False
    settings.ORDER_EVENTS_KICK = False
    order = _order(catalog, customer)
    delivery = OrderEventDelivery.objects.get(event__order_id=order.pk, listener="tests.flaky")
    now = timezone.now()

    order_event_deliveries_run(now=now)
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == (OrderEventDeliveryState.PENDING, 1)
    assert delivery.last_error.startswith("RuntimeError at ")
    assert "listener down" not in delivery.last_error  # messages stay in the logs
    assert delivery.next_attempt_at > now  # backed off
    assert order_event_deliveries_run(now=now) == 0  # not due yet

    order_event_deliveries_run(now=now + timedelta(hours=1))
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == (OrderEventDeliveryState.PENDING, 2)

    order_event_deliveries_run(now=now + timedelta(hours=2))
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == (OrderEventDeliveryState.DELIVERED, 3)
    assert delivery.delivered_at is not None
    assert [e.order_id for e in flaky] == [order.pk] * 3
    assert flaky[-1].occurred_at.tzinfo is not None  # the frozen event is rebuilt whole
    # The other listeners got it once, on the first run.
    others = OrderEventDelivery.objects.filter(event__order_id=order.pk).exclude(listener="tests.flaky")
    assert set(others.values_list("state", "attempts")) == {(OrderEventDeliveryState.DELIVERED, 1)}


def test_a_listener_failing_every_time_ends_failed_and_shows_in_health(catalog, customer, monkeypatch, settings,
                                                                      client):
    settings.ORDER_EVENTS_DELIVER_ON_COMMIT = False
    settings.ORDER_EVENTS_KICK = False
    monkeypatch.setattr(conf, "ORDER_EVENT_MAX_ATTEMPTS", 2)

    def broken(event):
        raise ValueError("secret-token-123")

    register_order_listener("tests.broken", broken)
    try:
        _order(catalog, customer)
        now = timezone.now()
        order_event_deliveries_run(now=now)
        order_event_deliveries_run(now=now + timedelta(hours=1))
    finally:
        unregister_order_listener("tests.broken")
    delivery = OrderEventDelivery.objects.get(listener="tests.broken")
    assert (delivery.state, delivery.attempts) == (OrderEventDeliveryState.FAILED, 2)
    assert "secret" not in delivery.last_error
    assert order_event_deliveries_health() == {"ok": False, "failed": 1, "late": 0}
    health = client.get("/api/v1/health").json()  # what an operator sees
    assert health["checks"]["order_events"] == {"ok": False, "failed": 1, "late": 0}
    assert health["status"] == "degraded"


def test_delivery_run_twice_delivers_once_per_listener(catalog, customer, events, settings):
    settings.ORDER_EVENTS_DELIVER_ON_COMMIT = False
    settings.ORDER_EVENTS_KICK = False
    order = _order(catalog, customer)
    order_status_change(order_id=order.pk, status="confirmed")
    assert order_event_deliveries_run() > 0
    assert order_event_deliveries_run() == 0
    assert [(e.kind, e.order_id) for e in events] == [("created", order.pk), ("status_changed", order.pk)]
    assert not OrderEventDelivery.objects.exclude(state=OrderEventDeliveryState.DELIVERED).exists()
    assert order_event_deliveries_health()["ok"]


def test_a_failing_listener_leaves_no_write_behind(catalog, customer, settings):
    """Its savepoint is rolled back: a retry cannot find half of an earlier attempt."""
    settings.ORDER_EVENTS_DELIVER_ON_COMMIT = False
    settings.ORDER_EVENTS_KICK = False
    from api.orders.models import OrderStatusHistory

    def half(event):
        OrderStatusHistory.objects.create(order_id=event.order_id, to_status="x", note="half")
        raise RuntimeError("after the write")

    register_order_listener("tests.half", half)
    try:
        _order(catalog, customer)
        order_event_deliveries_run()
    finally:
        unregister_order_listener("tests.half")
    assert not OrderStatusHistory.objects.filter(note="half").exists()


def test_a_stale_claim_is_not_delivered_by_its_first_holder(catalog, customer, events, settings):
    """A worker whose lease ran out finds the row claimed again (attempt count moved): it calls nothing."""
    from api.orders.events import order_event_deliveries_claim, order_event_delivery_attempt

    settings.ORDER_EVENTS_DELIVER_ON_COMMIT = False
    settings.ORDER_EVENTS_KICK = False
    _order(catalog, customer)
    now = timezone.now()
    first = dict(order_event_deliveries_claim(now=now))
    later = now + timedelta(seconds=conf.ORDER_EVENT_LEASE_SECONDS + 1)
    second = dict(order_event_deliveries_claim(now=later))
    assert set(first) == set(second)
    mine = OrderEventDelivery.objects.get(listener="tests.orders").pk
    assert order_event_delivery_attempt(delivery_id=mine, attempts=first[mine], now=later) is None
    assert events == []
    assert order_event_delivery_attempt(delivery_id=mine, attempts=second[mine], now=later).state == "delivered"
    assert len(events) == 1


def test_with_delivery_on_commit_off_a_worker_is_kicked_after_commit(catalog, customer, settings, monkeypatch,
                                                                     django_capture_on_commit_callbacks):
    from api.common import kicks

    settings.ORDER_EVENTS_DELIVER_ON_COMMIT = False
    settings.ORDER_EVENTS_KICK = True
    sent: list[str] = []
    monkeypatch.setattr(kicks.celery_app, "send_task", lambda name, **options: sent.append(name))
    with django_capture_on_commit_callbacks(execute=True):
        _order(catalog, customer)
    assert sent == ["workers.tasks.orders.deliver_order_events"]


def test_by_default_the_committing_process_delivers_at_once(catalog, customer, events,
                                                            django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        order = _order(catalog, customer)
    assert [e.kind for e in events] == ["created"]
    assert set(OrderEventDelivery.objects.filter(event__order_id=order.pk).values_list("state", flat=True)) == {
        "delivered"}
