"""Staff endpoints: sequences, enrollments, broadcasts with progress and cancel, outbound messages."""

from __future__ import annotations

import pytest
from django.utils import timezone

from api.nurture.models import OutboundMessage
from api.nurture.services import broadcasts_start_due
from tests.nurture.conftest import make_contact

pytestmark = pytest.mark.django_db


def test_staff_create_a_sequence_and_enroll_a_contact(staff_client):
    contact = make_contact(20, first_name="Awa")
    response = staff_client.post("/api/v1/nurture/sequences", {
        "name": "Introduction", "purpose": "introduction", "channels": ["telegram"],
        "steps": [{"delay": "01:00:00", "text": "Bonjour {first_name}"},
                  {"delay": "2 00:00:00", "text": "Suite", "window_start": "10:00", "window_end": "19:00"}]},
        format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert [s["position"] for s in body["steps"]] == [1, 2]
    sequence_id = body["id"]

    response = staff_client.post(f"/api/v1/nurture/sequences/{sequence_id}/enrollments", {"contact_id": contact.pk},
                                 format="json")
    assert response.status_code == 201
    assert response.json()["trigger"] == "staff"
    again = staff_client.post(f"/api/v1/nurture/sequences/{sequence_id}/enrollments", {"contact_id": contact.pk},
                              format="json")
    assert again.status_code == 409
    assert again.json()["code"] == "not_enrolled"

    listed = staff_client.get("/api/v1/nurture/outbound-messages", {"contact": contact.pk}).json()["results"]
    assert sorted(m["text"] for m in listed) == ["Bonjour Awa", "Suite"]
    enrollment_id = response.json()["id"]
    stopped = staff_client.post(f"/api/v1/nurture/enrollments/{enrollment_id}/stop")
    assert stopped.json()["state"] == "stopped"
    assert set(OutboundMessage.objects.values_list("state", flat=True)) == {"cancelled"}
    assert staff_client.get("/api/v1/nurture/enrollments", {"contact": contact.pk}).json()["results"][0]["id"] == \
        enrollment_id


def test_a_sequence_with_an_unknown_audience_filter_is_refused(staff_client):
    response = staff_client.post("/api/v1/nurture/sequences", {"name": "X", "audience": {"planet": "mars"},
                                                               "steps": [{"delay": "0", "text": "x"}]}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"


def test_a_broadcast_shows_its_progress_and_can_be_cancelled(staff_client):
    for i in range(3):
        make_contact(30 + i, segment="host")
    make_contact(40, segment="healthy")
    response = staff_client.post("/api/v1/nurture/broadcasts", {
        "name": "Noël", "text": "Coffrets !", "audience": {"segment": ["host"]}, "channels": ["telegram"],
        "send_at": timezone.now().isoformat()}, format="json")
    assert response.status_code == 201
    broadcast_id = response.json()["id"]
    assert response.json()["state"] == "scheduled"
    broadcasts_start_due()
    detail = staff_client.get(f"/api/v1/nurture/broadcasts/{broadcast_id}").json()
    assert detail["progress"] == {"total": 3, "sent": 0, "skipped": 0, "failed": 0, "cancelled": 0, "pending": 3,
                                  "delivered": 0, "read": 0, "failed_reasons": {}, "skipped_reasons": {}}
    cancelled = staff_client.post(f"/api/v1/nurture/broadcasts/{broadcast_id}/cancel").json()
    assert cancelled["state"] == "cancelled"
    assert cancelled["progress"]["cancelled"] == 3
    assert staff_client.get("/api/v1/nurture/broadcasts").json()["results"][0]["id"] == broadcast_id


def test_only_a_failed_message_can_be_retried(staff_client):
    contact = make_contact(50)
    message = OutboundMessage.objects.create(contact=contact, channel="telegram", recipient="50", text="x",
                                             due_at=timezone.now(), idempotency_key="t:1")
    response = staff_client.post(f"/api/v1/nurture/outbound-messages/{message.pk}/retry")
    assert response.status_code == 409
    assert staff_client.post("/api/v1/nurture/outbound-messages/999999/retry").status_code == 404


def test_the_nurture_endpoints_are_for_staff_only(api_client):
    assert api_client.get("/api/v1/nurture/sequences").status_code == 401


def test_outbound_messages_filter_by_reason_prefix_and_refuse_bad_filters(staff_client):
    contact = make_contact(8101)
    for n, reason in enumerate(["unknown_outcome: worker died", "weekly_cap", ""]):
        OutboundMessage.objects.create(contact=contact, channel="telegram", recipient="8101", text="x", state="failed",
                                       reason=reason, due_at=timezone.now(), idempotency_key=f"t:filter:{n}")
    listed = staff_client.get("/api/v1/nurture/outbound-messages", {"reason": "unknown_outcome"}).json()["results"]
    assert [m["reason"] for m in listed] == ["unknown_outcome: worker died"]
    for params in ({"contact": "abc"}, {"contact": "0"}, {"broadcast": str(2**53 + 1)}, {"state": "lost"},
                   {"reason": "x" * 201}):
        response = staff_client.get("/api/v1/nurture/outbound-messages", params)
        assert response.status_code == 400, params
        assert list(params) == [e["field"] for e in response.json()["errors"]], response.json()
    assert staff_client.get("/api/v1/nurture/enrollments", {"sequence": "1.5"}).status_code == 400
