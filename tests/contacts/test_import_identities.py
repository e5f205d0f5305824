"""A CSV import knows every identity of a person: it finds a contact by the numbers and e-mails a merge
left it (identity rows), and the contacts it writes get the identity rows the rest of the app reads.

Each test runs the import the database runs (set-based on PostgreSQL) and the row-by-row import (what
SQLite runs, forced on PostgreSQL too); on SQLite both are the row-by-row one.
"""

from __future__ import annotations

import pytest

from api.contacts import csv_io
from api.contacts.models import Contact, ContactIdentity, ImportJob, ImportRowError
from api.contacts.selectors import contact_id_by_email, contact_id_by_phone, contact_id_by_whatsapp
from api.contacts.services import contact_merge, contact_upsert, import_job_create, import_job_run
from api.contacts.services.imports import jobs, rows

pytestmark = pytest.mark.django_db


@pytest.fixture(params=["database", "row_by_row"])
def run_import(request, monkeypatch):
    """Import a CSV file to the end and return the finished job, through the path of the parameter."""
    if request.param == "row_by_row":
        monkeypatch.setattr(csv_io, "is_plain", lambda data: False)
        monkeypatch.setattr(jobs, "import_batch_apply", rows.import_apply_rows)

    def run(text: str) -> ImportJob:
        job = import_job_run(job_id=import_job_create(file_name="clients.csv", data=text.encode()).pk)
        assert job is not None
        assert job.status == ImportJob.Status.DONE, job.failure
        return job

    return run


def _counts(job: ImportJob) -> tuple[int, int, int, int]:
    return job.created_count, job.updated_count, job.unchanged_count, job.error_count


def _merged_pair() -> Contact:
    """Awa (phone 699 11 11 11) survives a merge of her twin, whose phone and WhatsApp number 677 22 22 22
    and e-mail stay hers as extra identities. Returns the survivor."""
    survivor = contact_upsert(phone="699111111", email="awa@example.cm", name="Awa").contact
    twin = contact_upsert(phone="677222222", whatsapp="677222222", email="awa.work@example.cm",
                          name="Awa M.").contact
    contact_merge(target_id=survivor.pk, source_id=twin.pk)
    return survivor


def _identities() -> set[tuple[int, str, str]]:
    return set(ContactIdentity.objects.values_list("contact_id", "kind", "value"))


def test_a_merged_away_number_in_a_reimported_file_updates_the_survivor(run_import):
    survivor = _merged_pair()
    before = _identities()

    job = run_import("nom;téléphone;ville\nAwa Mballa;677 22 22 22;Douala\n")

    assert _counts(job) == (0, 1, 0, 0)
    assert Contact.objects.filter(merged_into__isnull=True).count() == 1  # no new contact
    survivor.refresh_from_db()
    assert survivor.city == "Douala"  # what the survivor lacked is filled
    assert survivor.name == "Awa"  # what it had stays
    assert survivor.phone == "+237699111111"  # its main number is not replaced by the merged-away one
    assert _identities() == before


def test_a_merged_away_whatsapp_number_or_email_finds_the_survivor_too(run_import):
    survivor = _merged_pair()

    job = run_import("nom;whatsapp;email;quartier\n"
                     "Awa;677222222;;Akwa\n"
                     "Awa;;AWA.WORK@example.cm;Bonapriso\n")

    assert _counts(job) == (0, 1, 1, 0)  # the first row fills the quarter, the second finds it filled
    assert Contact.objects.filter(merged_into__isnull=True).count() == 1
    survivor.refresh_from_db()
    assert survivor.neighbourhood == "Akwa"


def test_a_row_whose_numbers_belong_to_two_contacts_through_a_merge_is_reported(run_import):
    survivor = _merged_pair()
    boris = contact_upsert(phone="699333333", name="Boris").contact

    job = run_import("nom;téléphone;email\nQui ?;699333333;awa.work@example.cm\n")

    assert _counts(job) == (0, 0, 0, 1)
    message = ImportRowError.objects.get(job=job).message
    assert f"#{boris.pk}" in message
    assert f"#{survivor.pk}" in message
    assert Contact.objects.get(pk=boris.pk).email is None


def test_imported_contacts_get_identity_rows_that_the_lookups_find(run_import):
    job = run_import("nom;téléphone;whatsapp;email\n"
                     "Mireille;699 12 34 56;677 00 11 22;Mireille@Example.cm\n"
                     "Hervé;;690000001;\n")

    assert _counts(job) == (2, 0, 0, 0)
    mireille = Contact.objects.get(phone="+237699123456")
    herve = Contact.objects.get(phone="+237690000001")
    assert contact_id_by_phone("+237699123456") == mireille.pk
    assert contact_id_by_whatsapp("+237677001122") == mireille.pk
    assert contact_id_by_email("mireille@example.cm") == mireille.pk
    assert contact_id_by_whatsapp("+237690000001") == herve.pk
    assert set(ContactIdentity.objects.filter(contact=mireille).values_list("kind", "value")) == {
        ("phone", "+237699123456"), ("whatsapp", "+237677001122"), ("email", "mireille@example.cm")}
    # a WhatsApp-only row is known by that number as phone and as WhatsApp, as contact_upsert makes it
    assert set(ContactIdentity.objects.filter(contact=herve).values_list("kind", "value")) == {
        ("phone", "+237690000001"), ("whatsapp", "+237690000001")}


def test_an_import_gives_identity_rows_to_a_contact_it_fills_and_a_reimport_changes_nothing(run_import):
    # An old contact written without identity rows (an import from before they existed).
    old = Contact.objects.create(phone="+237699123456", referral_code="OLDCODE2")
    text = "nom;téléphone;whatsapp;email\nMireille;699123456;677001122;mireille@example.cm\n"

    first = run_import(text)
    after_first = _identities()
    contacts_after_first = list(Contact.objects.order_by("pk").values())
    second = run_import(text)

    assert _counts(first) == (0, 1, 0, 0)
    assert after_first == {(old.pk, "phone", "+237699123456"), (old.pk, "whatsapp", "+237677001122"),
                           (old.pk, "email", "mireille@example.cm")}
    assert _counts(second) == (0, 0, 1, 0)
    assert _identities() == after_first
    assert list(Contact.objects.order_by("pk").values()) == contacts_after_first


def test_a_row_with_the_whatsapp_number_of_a_contact_goes_to_that_contact(run_import):
    awa = contact_upsert(phone="699111111", whatsapp="677222222").contact

    job = run_import("nom;téléphone;whatsapp\nAwa Mballa;699333333;677 22 22 22\n")

    # as contact_upsert would: the WhatsApp number is Awa's, so is the row (her name was blank)
    assert _counts(job) == (0, 1, 0, 0)
    assert Contact.objects.count() == 1
    awa.refresh_from_db()
    assert (awa.name, awa.phone) == ("Awa Mballa", "+237699111111")  # an import never replaces a number
    assert ContactIdentity.objects.get(kind="whatsapp", value="+237677222222").contact_id == awa.pk


def test_a_contact_without_rows_that_a_row_leaves_unchanged_gets_its_rows_but_not_a_number_held_by_another(
        run_import):
    holder = contact_upsert(phone="699444444", whatsapp="677222222").contact
    # Old data: written without identity rows, its WhatsApp number (not in the file) also holder's.
    old = Contact.objects.create(phone="+237699123456", whatsapp="+237677222222", email="mireille@example.cm",
                                 name="Mireille", city="Douala", referral_code="OLDCODE3")

    job = run_import("nom;téléphone;ville\nMireille;699 12 34 56;Douala\n")

    assert _counts(job) == (0, 0, 1, 0)
    assert set(ContactIdentity.objects.filter(contact=old).values_list("kind", "value")) == {
        ("phone", "+237699123456"), ("email", "mireille@example.cm")}
    assert contact_id_by_whatsapp("+237677222222") == holder.pk
    assert contact_id_by_email("mireille@example.cm") == old.pk
