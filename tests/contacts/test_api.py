"""The contacts API as a newcomer uses it with curl: create, search, edit, export, tasks."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from api.contacts.models import Contact, FollowUpTask
from api.contacts.services import contact_tags_set, contact_upsert

pytestmark = pytest.mark.django_db


def test_upsert_endpoint_creates_then_updates(staff_client):
    body = {"phone": "699 12 34 56", "name": "Mireille", "segment": "host", "self_reported_source": "Facebook"}
    created = staff_client.post("/api/v1/contacts/upsert", body, format="json")
    updated = staff_client.post("/api/v1/contacts/upsert", {"phone": "+237699123456", "city": "Douala"},
                                format="json")
    assert (created.status_code, updated.status_code) == (201, 200)
    assert updated.json()["contact"]["city"] == "Douala"
    assert updated.json()["contact"]["phone"] == "+237699123456"


def test_bad_input_is_a_400_in_the_common_shape_and_changes_nothing(staff_client):
    response = staff_client.post("/api/v1/contacts/upsert", {"phone": "12", "segment": "martian"}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "validation_error"
    assert {e["field"] for e in body["errors"]} == {"segment"}
    response = staff_client.post("/api/v1/contacts/upsert", {"phone": "12", "name": "X"}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "phone"
    assert not Contact.objects.exists()


def test_create_refuses_an_existing_identity_with_a_409(staff_client):
    first = staff_client.post("/api/v1/contacts", {"email": "a@example.cm", "name": "A"}, format="json")
    second = staff_client.post("/api/v1/contacts", {"email": "A@EXAMPLE.cm", "name": "B"}, format="json")
    assert first.status_code == 201
    assert second.status_code == 409
    assert second.json()["contact_ids"] == [first.json()["id"]]


def test_upsert_with_identities_of_two_contacts_is_a_409_naming_both(staff_client):
    a = contact_upsert(phone="699123456").contact
    b = contact_upsert(email="b@example.cm").contact
    response = staff_client.post("/api/v1/contacts/upsert", {"phone": "699123456", "email": "b@example.cm"},
                                 format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "identity_conflict"
    assert response.json()["contact_ids"] == [a.pk, b.pk]


@pytest.mark.parametrize("typed", ["699 12 34 56", "+237699123456", "00237 699-12-34-56", "9123"])
def test_search_by_phone_in_any_format(staff_client, typed):
    target = contact_upsert(phone="699123456", name="Mireille").contact
    contact_upsert(phone="677000000", name="Other")
    results = staff_client.get("/api/v1/contacts", {"phone": typed}).json()["results"]
    assert [r["id"] for r in results] == [target.pk]


def test_filters_by_segment_tag_city_channel_and_name(staff_client):
    a = contact_upsert(phone="699123456", name="Mireille Ngo", city="Douala", segment="host").contact
    b = contact_upsert(phone="677000000", name="Hervé", city="Yaoundé", segment="reseller", telegram_chat_id=7).contact
    contact_tags_set(contact_id=a.pk, tags=["tontine"])

    def ids(**params):
        return [r["id"] for r in staff_client.get("/api/v1/contacts", params).json()["results"]]

    assert ids(segment="host") == [a.pk]
    assert ids(tag="tontine") == [a.pk]
    assert ids(city="yaoundé") == [b.pk]
    assert ids(channel="telegram") == [b.pk]
    assert ids(q="ngo") == [a.pk]
    assert ids(created_after=(timezone.now() - timedelta(hours=1)).isoformat()) == [b.pk, a.pk]
    assert staff_client.get("/api/v1/contacts", {"segment": "martian"}).status_code == 400


def test_patch_edits_tags_owner_and_locks_the_stage(staff_client, staff_user):
    contact = contact_upsert(phone="699123456").contact
    response = staff_client.patch(f"/api/v1/contacts/{contact.pk}",
                                  {"tags": ["bio", "enfants"], "owner_id": staff_user.pk,
                                   "lifecycle_stage": "customer", "verified": True, "email": "M@Example.cm"},
                                  format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["tags"], body["owner_id"], body["lifecycle_stage"], body["lifecycle_stage_locked"]) == (
        ["bio", "enfants"], staff_user.pk, "customer", True)
    assert body["email"] == "m@example.cm"
    assert body["last_verified_at"] is not None
    other = contact_upsert(phone="677000000").contact
    taken = staff_client.patch(f"/api/v1/contacts/{other.pk}", {"email": "m@example.cm"}, format="json")
    assert taken.status_code == 409


def test_notes_consents_and_can_receive(staff_client):
    contact = contact_upsert(phone="699123456").contact
    assert staff_client.post(f"/api/v1/contacts/{contact.pk}/notes", {"text": "Aime le gingembre"},
                             format="json").status_code == 201
    granted = staff_client.post(f"/api/v1/contacts/{contact.pk}/consents",
                                {"channel": "whatsapp", "action": "grant", "how": "form"}, format="json")
    assert granted.json()["active"] is True
    can = staff_client.get(f"/api/v1/contacts/{contact.pk}/can-receive", {"channel": "whatsapp"}).json()
    assert can == {"channel": "whatsapp", "allowed": True, "reason": "ok"}
    staff_client.post(f"/api/v1/contacts/{contact.pk}/opt-out", {"how": "STOP"}, format="json")
    can = staff_client.get(f"/api/v1/contacts/{contact.pk}/can-receive", {"channel": "whatsapp"}).json()
    assert can["reason"] == "opted_out"
    kinds = [e["kind"] for e in staff_client.get(f"/api/v1/contacts/{contact.pk}/timeline").json()["results"]]
    assert kinds == ["opted_out", "consent_granted", "note", "created"]


def test_csv_export_is_streamed_and_filtered(staff_client):
    contact_upsert(phone="699123456", name="Mireille", city="Douala", segment="host")
    contact_upsert(phone="677000000", name="Hervé", city="Yaoundé", segment="reseller")
    response = staff_client.get("/api/v1/contacts/export.csv", {"segment": "host"})
    assert response.status_code == 200
    assert response.streaming
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["name"], r["phone"], r["city"]) for r in rows] == [("Mireille", "+237699123456", "Douala")]


def test_tasks_of_my_day(staff_client, staff_user, django_user_model):
    contact = contact_upsert(phone="699123456").contact
    colleague = django_user_model.objects.create_user(username="other", is_staff=True)
    now = timezone.now()
    mine_today = FollowUpTask.objects.create(contact=contact, owner=staff_user, kind="call", due_at=now)
    FollowUpTask.objects.create(contact=contact, owner=staff_user, kind="visit", due_at=now + timedelta(days=3))
    FollowUpTask.objects.create(contact=contact, owner=colleague, kind="call", due_at=now)
    FollowUpTask.objects.create(contact=contact, owner=staff_user, kind="call", due_at=now, done_at=now)

    results = staff_client.get("/api/v1/tasks", {"mine": "true", "due": "today"}).json()["results"]
    assert [r["id"] for r in results] == [mine_today.pk]

    created = staff_client.post("/api/v1/tasks", {"contact_id": contact.pk, "kind": "sample",
                                                  "due_at": now.isoformat()}, format="json")
    assert created.status_code == 201
    assert created.json()["owner_id"] == staff_user.pk
    done = staff_client.patch(f"/api/v1/tasks/{created.json()['id']}", {"done": True, "outcome": "Commande"},
                              format="json")
    assert done.json()["done_at"] is not None


def test_duplicates_and_stale_lists(staff_client):
    a = contact_upsert(phone="699123456", name="Mireille Ngo", city="Douala").contact
    b = contact_upsert(phone="677000000", name="mireille ngo", city="DOUALA").contact
    c = contact_upsert(telegram_chat_id=9, whatsapp=None, name="Mimi").contact
    Contact.objects.filter(pk=c.pk).update(whatsapp="+237699123456")
    groups = staff_client.get("/api/v1/contacts/duplicates").json()["results"]
    found = {(g["reason"], tuple(x["id"] for x in g["contacts"])) for g in groups}
    assert ("same_name_and_city", (a.pk, b.pk)) in found
    assert ("similar_phone", (a.pk, c.pk)) in found

    Contact.objects.filter(pk=a.pk).update(created_at=timezone.now() - timedelta(days=400))
    stale = staff_client.get("/api/v1/contacts/stale").json()["results"]
    assert [r["id"] for r in stale] == [a.pk]


def test_endpoints_need_staff(api_client):
    assert api_client.get("/api/v1/contacts").status_code == 401


def test_demo_seeder_is_fast_and_makes_duplicates_to_merge(django_user_model):
    import random

    from api.contacts.demo import seed_contacts
    from api.contacts.selectors import contact_duplicate_groups

    django_user_model.objects.create_user(username="demo-sales", is_staff=True)
    summary = seed_contacts(rng=random.Random(2026))
    assert Contact.objects.count() == 2040, summary
    assert len(contact_duplicate_groups()) >= 20
