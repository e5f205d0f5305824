"""The fixed costs API (campaigns owns costs): staff create, list, change and delete the overheads of a
week; bad input is a 400 in the common error shape that writes nothing."""

from __future__ import annotations

import pytest

from api.campaigns.models import FixedCost

pytestmark = pytest.mark.django_db


def test_staff_record_list_change_and_delete_an_overhead(staff_client):
    made = staff_client.post("/api/v1/fixed-costs", {"week": "2026-11-21", "kind": "delivery", "amount_xaf": 25_000,
                                                     "note": "Moto-taxi"}, format="json")
    assert made.status_code == 201, made.content
    pk = made.json()["id"]
    assert made.json()["week_start"] == "2026-11-16"  # a Saturday belongs to the week of Monday 16

    listed = staff_client.get("/api/v1/fixed-costs?week=2026-11-17").json()["results"]
    assert [row["id"] for row in listed] == [pk]
    assert staff_client.get("/api/v1/fixed-costs?week=2026-11-24").json()["results"] == []

    changed = staff_client.patch(f"/api/v1/fixed-costs/{pk}", {"amount_xaf": 30_000}, format="json")
    assert changed.status_code == 200
    assert changed.json()["amount_xaf"] == 30_000

    assert staff_client.delete(f"/api/v1/fixed-costs/{pk}").status_code == 204
    assert staff_client.get(f"/api/v1/fixed-costs/{pk}").json()["code"] == "not_found"


@pytest.mark.parametrize(("payload", "field"), [
    ({"week": "2026-11-16", "kind": "rent", "amount_xaf": 1}, "kind"),
    ({"week": "2026-11-16", "kind": "staff", "amount_xaf": -5}, "amount_xaf"),
    ({"week": "2026-02-30", "kind": "staff", "amount_xaf": 5}, "week"),
    ({"kind": "staff", "amount_xaf": 5}, "week"),
])
def test_bad_input_is_a_400_naming_the_field_and_writes_nothing(staff_client, payload, field):
    response = staff_client.post("/api/v1/fixed-costs", payload, format="json")

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "validation_error"
    assert [error["field"] for error in body["errors"]] == [field]
    assert not FixedCost.objects.exists()


def test_a_bad_change_leaves_the_overhead_as_it_was(staff_client):
    pk = staff_client.post("/api/v1/fixed-costs", {"week": "2026-11-16", "kind": "staff", "amount_xaf": 9_000},
                           format="json").json()["id"]

    response = staff_client.patch(f"/api/v1/fixed-costs/{pk}", {"amount_xaf": -1, "note": "x"}, format="json")

    assert response.status_code == 400
    cost = FixedCost.objects.get(pk=pk)
    assert (cost.amount_xaf, cost.note) == (9_000, "")
