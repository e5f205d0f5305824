"""Merge folds everything into one contact, including other apps' rows; erase forgets the person."""

from __future__ import annotations

import pytest

from api.common.errors import ConflictError
from api.contacts.models import Consent, ContactMerge, ContactNote, ErasedIdentity
from api.contacts.selectors import contact_can_receive, contact_timeline
from api.contacts.services import (
    consent_grant,
    contact_merge,
    contact_note_add,
    contact_tags_set,
    contact_upsert,
)

pytestmark = pytest.mark.django_db


def test_merge_moves_identities_notes_tags_consents_and_registered_rows(loyalty_relation, staff_user):
    target = contact_upsert(phone="699123456", name="Mireille Ngo Bassa", city="Douala").contact
    source = contact_upsert(email="mireille@example.cm", whatsapp="677001122", name="Mireille",
                            segment="host").contact
    contact_note_add(contact_id=source.pk, text="Aime le bissap", author=staff_user)
    contact_tags_set(contact_id=source.pk, tags=["tontine"])
    consent_grant(contact_id=source.pk, channel="email", how="form")
    card = loyalty_relation.objects.create(contact=source, number="LC-1", points=12)

    merge = contact_merge(target_id=target.pk, source_id=source.pk, actor=staff_user)

    target.refresh_from_db()
    source.refresh_from_db()
    card.refresh_from_db()
    assert card.contact_id == target.pk
    assert merge.moved["loyalty_cards"] == 1
    assert target.email == "mireille@example.cm"
    assert target.whatsapp == "+237677001122"
    assert target.phone == "+237699123456"  # the target keeps its own
    assert target.segment == "host"
    assert list(target.tags.values_list("name", flat=True)) == ["tontine"]
    assert ContactNote.objects.filter(contact=target, text="Aime le bissap").exists()
    assert contact_can_receive(target.pk, "email") == (True, "ok")
    assert source.merged_into_id == target.pk
    assert source.email is None
    # the source's phone became an identity of the target (no longer a note): nothing is lost
    assert contact_upsert(phone="677001122").contact.pk == target.pk
    assert ContactMerge.objects.get().source_snapshot["email"] == "mireille@example.cm"
    events, _ = contact_timeline(contact_id=target.pk)
    assert "merged" in [e.kind for e in events]
    # the source's identities now find the target
    assert contact_upsert(email="MIREILLE@example.cm").contact.pk == target.pk


def test_merging_an_already_merged_contact_is_a_409():
    a = contact_upsert(phone="699123456").contact
    b = contact_upsert(phone="699123457").contact
    c = contact_upsert(phone="699123458").contact
    contact_merge(target_id=a.pk, source_id=b.pk)
    with pytest.raises(ConflictError):
        contact_merge(target_id=c.pk, source_id=b.pk)


def test_merge_api(staff_client, loyalty_relation):
    a = contact_upsert(phone="699123456", name="A").contact
    b = contact_upsert(phone="699123457", name="B").contact
    loyalty_relation.objects.create(contact=b, number="LC-9")
    response = staff_client.post(f"/api/v1/contacts/{a.pk}/merge", {"source_id": b.pk}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["moved"]["loyalty_cards"] == 1
    assert staff_client.get("/api/v1/contacts").json()["results"][0]["id"] == a.pk
    assert len(staff_client.get("/api/v1/contacts").json()["results"]) == 1
    assert staff_client.post(f"/api/v1/contacts/{a.pk}/merge", {"source_id": a.pk}, format="json").status_code == 400


def test_erase_removes_personal_data_and_keeps_a_hash(staff_client, loyalty_relation):
    contact = contact_upsert(phone="699123456", email="x@example.cm", name="Brice Fotso", city="Yaoundé",
                             consents=["whatsapp"], consent_how="form").contact
    contact_note_add(contact_id=contact.pk, text="Habite Bastos")
    loyalty_relation.objects.create(contact=contact, number="LC-2", points=30)

    response = staff_client.post(f"/api/v1/contacts/{contact.pk}/erase")

    assert response.status_code == 200
    contact.refresh_from_db()
    assert (contact.name, contact.phone, contact.email, contact.city) == ("", None, None, "")
    assert contact.erased_at is not None
    assert not ContactNote.objects.filter(contact=contact).exists()
    assert Consent.objects.get(contact=contact).revoked_at is not None
    assert ErasedIdentity.objects.count() == 2
    assert "699123456" not in str(list(ErasedIdentity.objects.values()))
    assert loyalty_relation.objects.get().contact_id == contact.pk  # accounting rows stay, anonymised
    exported = staff_client.get(f"/api/v1/contacts/{contact.pk}/export").json()
    assert "Brice" not in str(exported)
    # the person is not re-created without consent…
    refused = staff_client.post("/api/v1/contacts/upsert", {"phone": "+237699123456", "name": "Brice"},
                                format="json")
    assert refused.status_code == 409
    assert refused.json()["code"] == "erased_identity"
    # …but is with a new consent
    again = staff_client.post("/api/v1/contacts/upsert", {"phone": "+237699123456", "name": "Brice",
                                                          "consents": ["whatsapp"], "consent_how": "came back"},
                              format="json")
    assert again.status_code == 201
    assert again.json()["contact"]["id"] != contact.pk


def test_privacy_export_includes_registered_rows(staff_client, loyalty_relation):
    contact = contact_upsert(phone="699123456", name="Estelle Kamga").contact
    loyalty_relation.objects.create(contact=contact, number="LC-3", points=7)
    contact_note_add(contact_id=contact.pk, text="Préfère le soir")

    body = staff_client.get(f"/api/v1/contacts/{contact.pk}/export").json()

    assert body["contact"]["name"] == "Estelle Kamga"
    assert body["related"]["loyalty_cards"][0]["number"] == "LC-3"
    assert body["notes"][0]["text"] == "Préfère le soir"


def test_timeline_merges_sources_in_order_across_pages(staff_client):
    from datetime import timedelta

    from django.utils import timezone

    from api.contacts.registry import TimelineEvent, register_timeline_source, unregister_timeline_source
    from api.contacts.services import contact_event_record

    contact = contact_upsert(phone="699123456").contact
    base = timezone.now() - timedelta(days=1)
    from api.contacts.models import Contact as ContactModel

    ContactModel.objects.filter(pk=contact.pk).update(created_at=base - timedelta(hours=1))
    for i in range(5):
        contact_event_record(contact_id=contact.pk, kind="visit", summary=f"own {i}", at=base + timedelta(hours=2 * i))
    orders = [TimelineEvent(at=base + timedelta(hours=2 * i + 1), kind="order", summary=f"order {i}", source="orders",
                            ref=f"order:{i:06d}", data={"amount_xaf": 1000 * i}) for i in range(5)]
    # a tie with an own event, to exercise the tie-breaker
    orders.append(TimelineEvent(at=base + timedelta(hours=4), kind="order", summary="order tie", source="orders",
                                ref="order:000099", data={}))

    def orders_source(contact_id, before, limit):
        rows = [e for e in orders if before is None or e.at <= before]
        return sorted(rows, key=lambda e: e.at, reverse=True)[:limit]

    register_timeline_source("tests.fake_orders", orders_source)
    try:
        seen, cursor = [], None
        while True:
            params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
            page = staff_client.get(f"/api/v1/contacts/{contact.pk}/timeline", params).json()
            seen += [e["summary"] for e in page["results"]]
            cursor = page["next"]
            if not cursor:
                break
    finally:
        unregister_timeline_source("tests.fake_orders")
    assert seen == ["order 4", "own 4", "order 3", "own 3", "order 2", "order tie", "own 2", "order 1", "own 1",
                    "order 0", "own 0", "Contact created"]
