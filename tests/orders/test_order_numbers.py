"""Order numbers stay unique and gap-free when many orders are created at the same time."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from api.orders.models import Order
from api.orders.services import order_create

THREADS = 8
PER_THREAD = 5


@pytest.mark.django_db(transaction=True)
def test_numbers_are_unique_under_concurrent_creation(catalog, customer):
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def worker() -> None:
        try:
            start.wait()
            for _ in range(PER_THREAD):
                with transaction.atomic():  # as a request does with ATOMIC_REQUESTS
                    order_create(contact_id=customer.pk, lines=[{"product_id": catalog["ginger"].pk, "quantity": 1}])
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    numbers = sorted(Order.objects.values_list("number", flat=True))
    assert len(numbers) == len(set(numbers)) == THREADS * PER_THREAD
    counters = sorted(int(n.rsplit("-", 1)[1]) for n in numbers)
    assert counters == list(range(1, THREADS * PER_THREAD + 1))  # no gap, no duplicate
    assert all(n.count("-") == 2 and len(n.rsplit("-", 1)[1]) == 6 for n in numbers)


@pytest.mark.django_db(transaction=True)
def test_the_same_idempotency_key_sent_twice_at_once_makes_one_order(catalog, customer, staff_user):
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    token, _ = Token.objects.get_or_create(user=staff_user)
    body = {"contact_id": customer.pk, "lines": [{"product_id": catalog["ginger"].pk, "quantity": 1}]}
    answers: list[tuple[int, dict]] = []
    start = threading.Barrier(4)

    def send() -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        try:
            start.wait()
            response = client.post("/api/v1/orders", body, format="json", HTTP_IDEMPOTENCY_KEY="same-key")
            answers.append((response.status_code, response.json()))
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert Order.objects.count() == 1
    number = Order.objects.get().number
    # each answer is the order (first or replayed), or a 409 asking to retry while the first commits
    for status, payload in answers:
        assert (status, payload.get("number", payload.get("code"))) in ((201, number), (409, "idempotency_key_in_use"))
    assert len(answers) == 4
