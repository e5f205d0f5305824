"""A real Celery worker killed with SIGKILL while it delivers an order event, then a worker comes back.

The order is committed with delivery on commit and kicks off, so only workers deliver. The first
worker runs a test listener that writes a row and then sleeps inside the delivery's transaction:
it is killed there, with the write done but not committed. Time passes (the lease is moved back),
a second worker delivers the rest: every listener has the event exactly once, the killed one on
its second attempt, and its row exists once.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from api.orders.enums import OrderEventDeliveryState
from api.orders.events import register_order_listener, unregister_order_listener
from api.orders.models import OrderEventDelivery, OrderStatusHistory
from api.orders.services import order_create, product_create
from tests.workers.processes import ROOT, stop_and_read, worker_env

KEY = "tests.killed"
NOTE = "written by the tests.killed listener"

# A worker as `celery -A workers worker`, with one more listener that writes, then pauses.
_WORKER = f"""
import os, time
import django

django.setup()
from api.orders.events import register_order_listener
from api.orders.models import OrderStatusHistory

pause = float(os.environ["TEST_LISTENER_PAUSE"])


def listener(event):
    OrderStatusHistory.objects.create(order_id=event.order_id, to_status=event.status, note={NOTE!r})
    time.sleep(pause)


register_order_listener({KEY!r}, listener)
from workers.celery import app

queue = os.environ["CONFIOTES_CELERY_QUEUE"]
app.worker_main(["worker", "--pool", "solo", "--loglevel", "WARNING", "--without-mingle", "--without-gossip",
                 "--hostname", f"{{queue}}-{{os.getpid()}}@test", "--queues", queue])
"""


def _start_worker(queue: str, pause: float) -> subprocess.Popen:
    env = {**worker_env(queue), "TEST_LISTENER_PAUSE": str(pause)}
    return subprocess.Popen([sys.executable, "-c", _WORKER], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _wait(condition, proc: subprocess.Popen, what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if proc.poll() is not None:
            pytest.fail(f"the worker exited before {what}:\n{stop_and_read(proc)}")
        time.sleep(0.3)
    pytest.fail(f"no {what} within {timeout} s:\n{stop_and_read(proc)}")


@pytest.fixture
def killed_listener():
    register_order_listener(KEY, lambda event: None)  # so that the change writes a delivery for it
    yield
    unregister_order_listener(KEY)


def test_a_worker_killed_mid_delivery_delivers_once_per_listener_after_restart(transactional_db, settings,
                                                                               killed_listener):
    from workers.tasks.orders import deliver_order_events

    queue = f"test-{uuid.uuid4().hex[:8]}"
    settings.CELERY_TASK_DEFAULT_QUEUE = queue
    settings.ORDER_EVENTS_DELIVER_ON_COMMIT = False
    settings.ORDER_EVENTS_KICK = False
    from api.contacts.services import contact_upsert

    buyer = contact_upsert(phone="+237690445566", name="Awa").contact
    product = product_create(sku="SIR-GING-50", name="Sirop de gingembre", price_xaf=3500)
    order = order_create(contact_id=buyer.pk, lines=[{"product_id": product.pk, "quantity": 1}])
    deliveries = OrderEventDelivery.objects.filter(event__order_id=order.pk)
    listeners = set(deliveries.values_list("listener", flat=True))
    assert KEY in listeners
    assert len(listeners) >= 2
    killed = deliveries.filter(listener=KEY)

    first = _start_worker(queue, pause=60)
    try:
        deliver_order_events.apply_async(queue=queue)
        # Claimed (the attempt counted and committed), and every other listener done: the worker is
        # inside the tests.killed listener, its row written and not committed.
        _wait(lambda: killed.filter(attempts=1).exists()
              and not deliveries.exclude(listener=KEY).exclude(state=OrderEventDeliveryState.DELIVERED).exists(),
              first, "delivery to the other listeners")
        time.sleep(1.5)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    finally:
        stop_and_read(first)
    assert killed.get().state == OrderEventDeliveryState.PENDING
    assert not OrderStatusHistory.objects.filter(note=NOTE).exists()  # rolled back with the process

    # The lease runs out.
    killed.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    second = _start_worker(queue, pause=0)
    try:
        deliver_order_events.apply_async(queue=queue)
        _wait(lambda: killed.filter(state=OrderEventDeliveryState.DELIVERED).exists(), second,
              "delivery after the restart")
    finally:
        stop_and_read(second)
    assert OrderStatusHistory.objects.filter(note=NOTE).count() == 1
    assert killed.get().attempts == 2
    others = deliveries.exclude(listener=KEY)
    assert set(others.values_list("state", "attempts")) == {(OrderEventDeliveryState.DELIVERED, 1)}
