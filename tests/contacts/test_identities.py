"""Several identities per contact: a merge keeps the merged-away numbers and e-mails as identities of the
survivor, a WhatsApp number has one owner, and the data migration fills the identity rows from old data."""

from __future__ import annotations

import io

import pytest
from django.apps import apps

from api.common.errors import ApplicationError, ConflictError
from api.contacts.models import Contact, ContactEvent, ContactIdentity
from api.contacts.selectors import contact_id_by_email, contact_id_by_phone, contact_id_by_whatsapp
from api.contacts.services import (
    contact_erase,
    contact_merge,
    contact_update,
    contact_upsert,
    referral_code_new,
)

pytestmark = pytest.mark.django_db

_migration = __import__("api.contacts.migrations.0005_contactidentity", fromlist=["identities_fill"])


def _old_contact(**fields):
    """A contact as old data holds it: written straight to the table, without identity rows."""
    return Contact.objects.create(referral_code=referral_code_new(), **fields)


def test_after_a_merge_the_merged_away_whatsapp_number_finds_the_survivor():
    survivor = contact_upsert(phone="699111111", whatsapp="699111111", email="awa@example.cm", name="Awa").contact
    twin = contact_upsert(whatsapp="677222222", email="awa.work@example.cm", name="Awa M.").contact

    contact_merge(target_id=survivor.pk, source_id=twin.pk)

    result = contact_upsert(whatsapp="+237677222222", name="Awa Mballa")
    assert not result.created
    assert result.contact.pk == survivor.pk
    survivor.refresh_from_db()
    # the survivor's main numbers are not replaced by the merged-away one the message came from
    assert survivor.whatsapp == "+237699111111"
    assert survivor.phone == "+237699111111"
    assert contact_id_by_whatsapp("+237677222222") == survivor.pk
    assert contact_id_by_phone("+237677222222") == survivor.pk
    assert contact_id_by_email("AWA.WORK@example.cm") == survivor.pk
    assert Contact.objects.filter(merged_into__isnull=True).count() == 1


def test_the_contact_api_lists_every_identity_with_the_main_ones_first(staff_client):
    survivor = contact_upsert(phone="699111111", email="awa@example.cm").contact
    twin = contact_upsert(whatsapp="677222222").contact
    contact_merge(target_id=survivor.pk, source_id=twin.pk)

    body = staff_client.get(f"/api/v1/contacts/{survivor.pk}").json()

    assert body["whatsapp"] == "+237677222222"  # the survivor had none: the merged one became its main one
    assert {(i["kind"], i["value"], i["primary"]) for i in body["identities"]} == {
        ("phone", "+237699111111", True), ("email", "awa@example.cm", True), ("whatsapp", "+237677222222", True),
        ("phone", "+237677222222", False)}
    assert [i["primary"] for i in body["identities"]][:3] == [True, True, True]


def test_a_whatsapp_number_of_another_contact_is_a_409_identity_conflict(staff_client):
    awa = contact_upsert(phone="699111111", whatsapp="677222222").contact
    boris = contact_upsert(phone="699333333").contact

    upsert = staff_client.post("/api/v1/contacts/upsert", {"phone": "699333333", "whatsapp": "677222222"},
                               format="json")
    edit = staff_client.patch(f"/api/v1/contacts/{boris.pk}", {"whatsapp": "+237677222222"}, format="json")
    create = staff_client.post("/api/v1/contacts", {"whatsapp": "677 22 22 22", "name": "Boris"}, format="json")

    assert upsert.status_code == 409
    assert upsert.json()["code"] == "identity_conflict"
    assert sorted(upsert.json()["contact_ids"]) == sorted([awa.pk, boris.pk])
    assert {e["field"] for e in upsert.json()["errors"]} == {"phone", "whatsapp"}
    assert edit.status_code == 409
    assert edit.json()["code"] == "identity_conflict"
    assert create.status_code == 409
    assert create.json()["contact_ids"] == [awa.pk]
    boris.refresh_from_db()
    assert boris.whatsapp is None  # nothing changed
    assert ContactIdentity.objects.filter(kind="whatsapp", value="+237677222222").get().contact_id == awa.pk


def test_a_staff_edit_of_the_main_phone_replaces_its_identity():
    awa = contact_upsert(phone="699111111").contact
    contact_update(contact_id=awa.pk, phone="699444444")

    assert contact_id_by_phone("+237699444444") == awa.pk
    assert contact_id_by_phone("+237699111111") is None  # a corrected typo is nobody's number
    boris = contact_upsert(phone="699111111").contact
    assert boris.pk != awa.pk


def test_an_upsert_giving_a_new_number_keeps_the_former_one_as_an_identity():
    awa = contact_upsert(whatsapp="699111111").contact
    contact_upsert(phone="699111111", whatsapp="677555555")  # she moved to a new WhatsApp number

    awa.refresh_from_db()
    assert awa.whatsapp == "+237677555555"
    assert contact_id_by_whatsapp("+237699111111") == awa.pk
    assert contact_id_by_whatsapp("+237677555555") == awa.pk


def test_an_erase_forgets_the_numbers_a_merge_brought_too():
    survivor = contact_upsert(phone="699111111").contact
    twin = contact_upsert(whatsapp="677222222").contact
    contact_merge(target_id=survivor.pk, source_id=twin.pk)

    contact_erase(contact_id=survivor.pk)

    assert not ContactIdentity.objects.exists()
    with pytest.raises(ConflictError) as refused:
        contact_upsert(phone="677222222")
    assert refused.value.code == "erased_identity"


def test_the_data_migration_keeps_a_duplicated_whatsapp_number_with_the_oldest_contact_and_reports_the_others():
    oldest = _old_contact(phone="+237699000001", whatsapp="+237677000000", name="Awa")
    second = _old_contact(phone="+237699000002", whatsapp="+237677000000", name="Awa (foire)")
    third = _old_contact(phone="+237699000003", whatsapp="+237677000000", email="Boris@Example.cm")
    merged = _old_contact(name="tombstone", merged_into=oldest)
    out = io.StringIO()

    report = _migration.identities_fill(apps, None, out=out)

    assert [(d[2], d[3]) for d in report["duplicates"]] == [(oldest.pk, second.pk), (oldest.pk, third.pk)]
    text = out.getvalue()
    assert f"kept by #{oldest.pk}, not an identity of #{second.pk}" in text
    assert f"not an identity of #{third.pk}" in text
    assert ContactIdentity.objects.get(kind="whatsapp", value="+237677000000").contact_id == oldest.pk
    assert ContactIdentity.objects.get(kind="email").value == "boris@example.cm"
    assert not ContactIdentity.objects.filter(contact=merged).exists()
    assert ContactEvent.objects.filter(contact=second, kind="identity_duplicate").count() == 1
    second.refresh_from_db()
    assert second.whatsapp == "+237677000000"  # nothing erased: staff decide whether to merge
    # the number now has one owner: an upsert by it finds the oldest instead of a 409
    assert contact_upsert(whatsapp="677000000").contact.pk == oldest.pk
    # a second run changes nothing and never fails
    again = _migration.identities_fill(apps, None, out=io.StringIO())
    assert ContactIdentity.objects.count() == 5  # 3 phones, 1 WhatsApp, 1 e-mail
    assert len(again["duplicates"]) == 2


def test_the_data_migration_runs_through_the_migration_executor():
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    state = executor.loader.project_state(("contacts", "0005_contactidentity"))
    old_apps = state.apps
    OldContact = old_apps.get_model("contacts", "Contact")
    OldContact.objects.create(phone="+237699000001", whatsapp="+237677000000", referral_code="AAAAAAAA")
    OldContact.objects.create(phone="+237699000002", whatsapp="+237677000000", referral_code="BBBBBBBB")

    report = _migration.identities_fill(old_apps, connection.schema_editor(), out=io.StringIO())

    assert len(report["duplicates"]) == 1
    assert ContactIdentity.objects.filter(kind="whatsapp").count() == 1


def test_a_birth_date_is_optional_in_the_api_and_cannot_be_in_the_future(staff_client):
    created = staff_client.post("/api/v1/contacts/upsert", {"phone": "699111111", "birth_date": "1990-04-12"},
                                format="json")
    future = staff_client.post("/api/v1/contacts/upsert", {"phone": "699222222", "birth_date": "2999-01-01"},
                               format="json")
    without = staff_client.post("/api/v1/contacts/upsert", {"phone": "699333333"}, format="json")

    assert created.status_code == 201
    assert created.json()["contact"]["birth_date"] == "1990-04-12"
    assert future.status_code == 400
    assert future.json()["errors"][0]["field"] == "birth_date"
    assert not Contact.objects.filter(phone="+237699222222").exists()
    assert without.status_code == 201
    assert without.json()["contact"]["birth_date"] is None
    with pytest.raises(ApplicationError):
        contact_upsert()


def test_searching_the_list_by_a_merged_away_number_finds_the_survivor(staff_client):
    survivor = contact_upsert(phone="699111111", whatsapp="699111111").contact
    twin = contact_upsert(whatsapp="677222222").contact
    contact_merge(target_id=survivor.pk, source_id=twin.pk)

    by_phone = staff_client.get("/api/v1/contacts", {"phone": "677 22 22 22"}).json()["results"]
    by_search = staff_client.get("/api/v1/contacts", {"q": "+237677222222"}).json()["results"]

    assert [c["id"] for c in by_phone] == [survivor.pk]
    assert [c["id"] for c in by_search] == [survivor.pk]
