"""Outbound partner webhooks: outbox in the same transaction, signed POSTs verified by a partner
server on loopback, retries with backoff, the 24 h limit, redelivery and the SSRF guard."""

from __future__ import annotations

import json
import socket
from datetime import timedelta

import pytest
from django.utils import timezone

from api.common import kicks as kicks_module
from api.orders import conf
from api.orders.enums import DeliveryState
from api.orders.models import Order, WebhookDelivery
from api.orders.services import order_status_change, partner_update, webhook_deliveries_send_due
from integrations import webhooks
from integrations.webhooks import UnsafeWebhookUrl, post_signed, validate_public_https_url
from tests.fakes.partner_server import FakePartner

pytestmark = pytest.mark.django_db


@pytest.fixture
def loopback_allowed(settings):
    settings.PARTNER_WEBHOOKS_ALLOW_LOOPBACK = True


def _partner_with_server(make_partner, fake_factory, **fake_options):
    partner = make_partner("Akwa")
    fake = fake_factory(secret=partner.webhook_secret, **fake_options)
    partner_update(partner_id=partner.pk, webhook_url=fake.url)
    return partner, fake


@pytest.fixture
def fake_partner():
    servers: list[FakePartner] = []

    def start(**options):
        server = FakePartner(**options).__enter__()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.__exit__(None, None, None)


def _partner_order(partner, catalog) -> Order:
    response = partner.client.post("/api/v1/partner/orders", {
        "customer": {"phone": "+237677445566"}, "lines": [{"gift_box_id": catalog["box"].pk, "quantity": 1}],
        "partner_reference": "AKWA-1"}, format="json")
    assert response.status_code == 201
    return Order.objects.get(number=response.json()["number"])


def test_signed_webhooks_are_retried_after_failures_and_verified_by_the_partner(
        loopback_allowed, make_partner, fake_partner, catalog):
    # given a partner whose endpoint fails the first two attempts
    partner, fake = _partner_with_server(make_partner, fake_partner, fail_first=2)
    order = _partner_order(partner, catalog)
    order_status_change(order_id=order.pk, status="confirmed")
    assert WebhookDelivery.objects.filter(partner=partner, state="pending").count() == 2

    # when the worker runs: both fail, and are scheduled again with backoff
    assert webhook_deliveries_send_due() == 2
    failed = list(WebhookDelivery.objects.order_by("id"))
    assert [(d.attempts, d.last_status_code, d.state) for d in failed] == [(1, 503, "pending")] * 2
    assert all(d.next_attempt_at > timezone.now() + timedelta(seconds=20) for d in failed)
    assert webhook_deliveries_send_due() == 0  # not due yet

    # then, once due, they are delivered
    assert webhook_deliveries_send_due(now=timezone.now() + timedelta(minutes=2)) == 2
    delivered = list(WebhookDelivery.objects.order_by("id"))
    assert [(d.attempts, d.state, d.last_status_code) for d in delivered] == [(2, "succeeded", 200)] * 2

    received = fake.received
    assert len(received) == 4
    assert all(r.verified for r in received)
    # retries may reorder events (jittered backoff): partners order them by occurred_at
    accepted = sorted((r.json for r in fake.accepted), key=lambda a: a["occurred_at"])
    assert [(a["event"], a["data"]["status"], a["data"]["previous_status"]) for a in accepted] == [
        ("order.created", "pending", None), ("order.status_changed", "confirmed", "pending")]
    assert accepted[1]["data"]["number"] == order.number
    assert received[0].headers["x-confiotes-signature"].startswith("sha256=")

    log = partner.client.get("/api/v1/partner/webhook-deliveries").json()["results"]
    assert {d["state"] for d in log} == {"succeeded"}
    assert len(log) == 2


def test_a_tampered_body_or_wrong_secret_fails_verification(loopback_allowed, fake_partner):
    fake = fake_partner(secret="the-right-secret")
    body = b'{"event":"order.status_changed"}'
    wrong = post_signed(fake.url, body, "another-secret", allow_loopback=True)
    assert not wrong.ok
    assert wrong.status_code == 401
    right = post_signed(fake.url, body, "the-right-secret", allow_loopback=True)
    assert right.ok
    assert fake.received[-1].verified


def test_deliveries_stop_after_24_hours_of_failures(loopback_allowed, make_partner, fake_partner, catalog):
    partner, fake = _partner_with_server(make_partner, fake_partner, fail_first=10_000)
    _partner_order(partner, catalog)
    delivery = WebhookDelivery.objects.get()
    clock = timezone.now()
    for _ in range(100):
        webhook_deliveries_send_due(now=clock)
        delivery.refresh_from_db()
        if delivery.state != DeliveryState.PENDING:
            break
        assert delivery.next_attempt_at <= delivery.created_at + timedelta(hours=conf.WEBHOOK_MAX_AGE_HOURS)
        clock = delivery.next_attempt_at
    assert delivery.state == DeliveryState.FAILED
    assert 10 < delivery.attempts < 60  # exponential, capped at an hour, over a day
    assert len(fake.received) == delivery.attempts


def test_redeliver_sends_the_same_event_again(loopback_allowed, make_partner, fake_partner, catalog, staff_client):
    partner, fake = _partner_with_server(make_partner, fake_partner)
    _partner_order(partner, catalog)
    webhook_deliveries_send_due()
    first = WebhookDelivery.objects.get()
    response = staff_client.post(f"/api/v1/partners/{partner.pk}/webhook-deliveries/{first.pk}/redeliver")
    assert response.status_code == 201
    assert response.json()["state"] == "pending"
    own = partner.client.post(f"/api/v1/partner/webhook-deliveries/{first.pk}/redeliver")
    assert own.status_code == 201
    webhook_deliveries_send_due()
    event_ids = [r.json["event_id"] for r in fake.accepted]
    assert len(event_ids) == 3
    assert len(set(event_ids)) == 1
    other = make_partner("Bastos")
    assert other.client.post(f"/api/v1/partner/webhook-deliveries/{first.pk}/redeliver").status_code == 404
    staff_log = staff_client.get(f"/api/v1/partners/{partner.pk}/webhook-deliveries").json()["results"]
    assert len(staff_log) == 3


def test_the_outbox_row_shares_the_transaction_of_the_change(loopback_allowed, make_partner, catalog):
    # A dead endpoint: order processing does not wait for it.
    partner = make_partner("Akwa")
    partner_update(partner_id=partner.pk, webhook_url="http://127.0.0.1:9/hook")
    order = _partner_order(partner, catalog)
    before = WebhookDelivery.objects.count()
    with pytest.raises(Exception, match="cannot go from pending to delivered"):
        order_status_change(order_id=order.pk, status="delivered")
    assert WebhookDelivery.objects.count() == before  # a refused change writes no event
    order_status_change(order_id=order.pk, status="cancelled")
    assert WebhookDelivery.objects.count() == before + 1


UNSAFE = [
    "http://partner.example.cm/hook",  # not https
    "https://127.0.0.1/hook",
    "https://[::1]/hook",
    "https://10.1.2.3/hook",
    "https://192.168.1.10/hook",
    "https://169.254.169.254/latest/meta-data",
    "https://[::ffff:10.0.0.1]/hook",
    "https://user:pw@8.8.8.8/hook",
]


@pytest.mark.parametrize("url", UNSAFE)
def test_unsafe_webhook_urls_are_refused(staff_client, url):
    response = staff_client.post("/api/v1/partners", {"name": "Pirate", "webhook_url": url}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "webhook_url"


def test_a_name_that_resolves_inside_is_refused(monkeypatch):
    def fake_getaddrinfo(host, port, *args, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", port))]

    monkeypatch.setattr(webhooks.socket, "getaddrinfo", fake_getaddrinfo)
    with pytest.raises(UnsafeWebhookUrl, match="10.0.0.7"):
        validate_public_https_url("https://hooks.partner.example/confiotes")
    # also at send time (DNS may change after the URL was saved): nothing is sent, and the partner
    # reads what any unreachable endpoint gives, retried alike (tests/hardening/test_ssrf.py)
    result = post_signed("https://hooks.partner.example/confiotes", b"{}", "s")
    assert not result.ok
    assert result.error == webhooks.UNREACHABLE_ERROR
    assert "10.0.0.7" in result.detail


def test_public_https_is_accepted_and_loopback_only_with_the_test_setting(monkeypatch, settings, staff_client):
    def public(host, port, *args, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("8.8.8.8", port))]

    validate_public_https_url("https://8.8.8.8/hook")
    with pytest.raises(UnsafeWebhookUrl):
        validate_public_https_url("http://127.0.0.1:8080/hook")
    validate_public_https_url("http://127.0.0.1:8080/hook", allow_loopback=True)
    with pytest.raises(UnsafeWebhookUrl):
        validate_public_https_url("https://10.0.0.1/hook", allow_loopback=True)  # private stays refused
    settings.PARTNER_WEBHOOKS_ALLOW_LOOPBACK = True
    created = staff_client.post("/api/v1/partners", {"name": "Local", "webhook_url": "http://127.0.0.1:8080/h"},
                                format="json")
    assert created.status_code == 201
    assert json.loads(created.content)["webhook_secret"]
    monkeypatch.setattr(webhooks.socket, "getaddrinfo", public)
    validate_public_https_url("https://hooks.partner.example/confiotes")


def test_a_change_kicks_the_webhook_sender_once_committed(loopback_allowed, make_partner, catalog, monkeypatch,
                                                          django_capture_on_commit_callbacks, settings):
    """Partners hear of a change at once, not at beat's next tick; a refused change kicks nothing."""
    settings.PARTNER_WEBHOOKS_KICK = True
    kicks: list[dict] = []
    monkeypatch.setattr(kicks_module.celery_app, "send_task",
                        lambda name, **options: kicks.append({"task": name, **options}))
    partner = make_partner("Akwa")
    partner_update(partner_id=partner.pk, webhook_url="http://127.0.0.1:9/hook")
    order = _partner_order(partner, catalog)
    kicks.clear()
    with django_capture_on_commit_callbacks(execute=True) as callbacks, \
            pytest.raises(Exception, match="cannot go from pending to delivered"):
        order_status_change(order_id=order.pk, status="delivered")
    assert kicks == []
    assert callbacks == []
    with django_capture_on_commit_callbacks(execute=False) as pending:
        order_status_change(order_id=order.pk, status="confirmed")
    assert kicks == []  # nothing before the commit: the worker would not see the row
    for callback in pending:
        callback()
    assert kicks == [{"task": "workers.tasks.orders.send_partner_webhooks", "args": [], "expires": 30}]


def test_a_broker_that_is_down_does_not_fail_the_change(loopback_allowed, make_partner, catalog, monkeypatch,
                                                         django_capture_on_commit_callbacks, settings):
    settings.PARTNER_WEBHOOKS_KICK = True

    def down(name, **options):
        raise ConnectionError("broker down")

    monkeypatch.setattr(kicks_module.celery_app, "send_task", down)
    partner = make_partner("Akwa")
    partner_update(partner_id=partner.pk, webhook_url="http://127.0.0.1:9/hook")
    with django_capture_on_commit_callbacks(execute=True):
        order = _partner_order(partner, catalog)
    assert WebhookDelivery.objects.filter(order=order).count() == 1  # beat's tick will send it
