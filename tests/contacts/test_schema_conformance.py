"""Responses match the documented schema (regressions found by schemathesis)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from drf_spectacular.generators import SchemaGenerator

from api.contacts.models import FollowUpTask
from api.contacts.services import contact_upsert

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def components() -> dict[str, Any]:
    return SchemaGenerator().get_schema(request=None, public=True)["components"]["schemas"]


def test_preferred_hours_are_documented_as_the_naive_times_returned(staff_client, components):
    # They were documented as ``format: time``, which (RFC 3339) needs an offset: "18:00:00" failed.
    contact = contact_upsert(phone="699123456").contact
    response = staff_client.patch(f"/api/v1/contacts/{contact.pk}",
                                  {"preferred_hours_start": "18:00", "preferred_hours_end": "21:00:00"},
                                  format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["preferred_hours_start"], body["preferred_hours_end"]) == ("18:00:00", "21:00:00")
    for name in ("ContactOutput", "PatchedContactUpdateInputRequest"):
        for field in ("preferred_hours_start", "preferred_hours_end"):
            schema = components[name]["properties"][field]
            assert "format" not in schema
            assert schema["nullable"] is True
            assert re.match(schema["pattern"], body[field])
    assert staff_client.get(f"/api/v1/contacts/{contact.pk}").json()["preferred_hours_start"] == "18:00:00"


@pytest.mark.parametrize("due_at", ["0629-05-17T01:48:57Z", "1900-01-01T10:00:00+01:00", "2150-01-01T00:00:00Z"])
def test_a_task_due_centuries_away_is_a_400_in_the_common_shape(staff_client, due_at):
    # Year 629 was stored and rendered with Douala's pre-1912 offset +00:38:48: not a valid date-time.
    contact = contact_upsert(phone="699123456").contact
    response = staff_client.post("/api/v1/tasks", {"contact_id": contact.pk, "due_at": due_at}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "validation_error"
    assert [(e["field"], e["code"]) for e in body["errors"]] == [("due_at", "out_of_range")]
    assert not FollowUpTask.objects.exists()


def test_a_task_cannot_be_moved_centuries_away(staff_client):
    contact = contact_upsert(phone="699123456").contact
    created = staff_client.post("/api/v1/tasks", {"contact_id": contact.pk, "due_at": "2026-11-25T10:00:00+01:00"},
                                format="json")
    assert created.status_code == 201
    assert created.json()["due_at"] == "2026-11-25T10:00:00+01:00"
    moved = staff_client.patch(f"/api/v1/tasks/{created.json()['id']}", {"due_at": "0629-05-17T01:48:57Z"},
                               format="json")
    assert moved.status_code == 400
    assert moved.json()["errors"][0]["field"] == "due_at"
