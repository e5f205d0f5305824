"""CSV import: French Excel files, a per-row error report, idempotent re-imports, resumption."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from api.contacts import services
from api.contacts.models import Contact, ContactNote, ImportJob, ImportRowError
from api.contacts.services import contact_erase, contact_upsert, import_job_create, import_job_run
from api.contacts.services.imports import jobs

pytestmark = pytest.mark.django_db

FRENCH_CP1252 = (
    "Nom;Téléphone;Ville;Quartier;Segment;D'où il vient;Étiquettes;Remarque;Colonne inconnue\r\n"
    "Mireille Ngo Bassa;699 12 34 56;Douala;Bonamoussadi;ébahir;Dégustation à Akwa;tontine, bissap;Aime le bissap;x\r\n"
    "Hervé Fotso;+237 677 00 11 22;Yaoundé;Bastos;sain;Salon MIC;;;\r\n"
    "Numéro faux;12345;Douala;;;;;;\r\n"
    "Sans identité;;Douala;;;;;;\r\n"
    "Aïcha Bello;00237 690 00 00 01;Garoua;;business;Bouche à oreille;revendeur;;\r\n"
    "Mireille N.;699123456;Douala;Akwa;;;fidèle;;\r\n"
    "Segment inconnu;699000002;Kribi;;martien;;;;\r\n"
).encode("cp1252")


def test_a_windows_1252_semicolon_file_with_french_headers_imports_with_a_row_report():
    job = import_job_create(file_name="clients.csv", data=FRENCH_CP1252)
    assert (job.encoding, job.delimiter, job.total_rows) == ("cp1252", ";", 7)

    job = import_job_run(job_id=job.pk)

    assert job.status == "done"
    assert (job.created_count, job.error_count, job.rows_done) == (3, 3, 7)
    mireille = Contact.objects.get(phone="+237699123456")
    assert (mireille.name, mireille.city, mireille.neighbourhood, mireille.segment) == (
        "Mireille Ngo Bassa", "Douala", "Bonamoussadi", "host")
    assert mireille.self_reported_source == "Dégustation à Akwa"
    assert sorted(mireille.tags.values_list("name", flat=True)) == ["bissap", "fidèle", "tontine"]
    assert ContactNote.objects.get(contact=mireille).text == "Aime le bissap"
    assert Contact.objects.get(phone="+237690000001").segment == "reseller"
    report = list(ImportRowError.objects.values_list("row", "column", flat=False).order_by("row"))
    assert [(r, c) for r, c in report] == [(4, "Téléphone"), (5, ""), (8, "Segment")]
    assert "12345" in ImportRowError.objects.get(row=4).message


def test_imported_contacts_get_distinct_referral_codes_without_look_alikes():
    rows = "".join(f"Client {i};6990{i:05d}\n" for i in range(300))
    job = import_job_run(job_id=import_job_create(file_name="a.csv", data=f"nom;téléphone\n{rows}".encode()).pk)
    assert job.created_count == 300
    codes = list(Contact.objects.values_list("referral_code", flat=True))
    assert len(set(codes)) == 300
    assert all(len(code) == 8 and set(code) <= set("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for code in codes)
    # Every symbol turns up (2,400 draws of 32 symbols): the draw covers the whole alphabet.
    assert set("".join(codes)) == set("ABCDEFGHJKLMNPQRSTUVWXYZ23456789")


def test_reimporting_the_same_file_changes_nothing():
    import_job_run(job_id=import_job_create(file_name="a.csv", data=FRENCH_CP1252).pk)
    before = list(Contact.objects.order_by("pk").values())
    notes = ContactNote.objects.count()

    again = import_job_run(job_id=import_job_create(file_name="a.csv", data=FRENCH_CP1252).pk)

    assert (again.created_count, again.updated_count) == (0, 0)
    assert again.unchanged_count == 4
    after = list(Contact.objects.order_by("pk").values())
    assert [{k: v for k, v in row.items() if k != "updated_at"} for row in after] == [
        {k: v for k, v in row.items() if k != "updated_at"} for row in before]
    assert ContactNote.objects.count() == notes


def test_utf8_with_bom_and_commas_and_english_headers():
    data = "\ufeffName,Phone,E-mail,City,Source\nJohn Ayuk,677 11 22 33,JOHN@example.cm,Buea,Facebook\n".encode()
    job = import_job_run(job_id=import_job_create(file_name="en.csv", data=data).pk)
    assert job.created_count == 1
    contact = Contact.objects.get()
    assert (contact.email, contact.city, contact.self_reported_source) == ("john@example.cm", "Buea", "Facebook")


def test_a_file_without_an_identity_column_is_refused():
    from api.common.errors import ApplicationError

    with pytest.raises(ApplicationError) as error:
        import_job_create(file_name="x.csv", data=b"nom;ville\nA;Douala\n")
    assert error.value.status_code == 400
    assert not ImportJob.objects.exists()


def _big_file(rows: int) -> bytes:
    lines = ["nom;telephone;ville;tags;note"]
    for i in range(rows):
        phone = f"6990{i:05d}" if i % 7 else "bad"
        lines.append(f"Client {i};{phone};Douala;t{i % 3};note {i}")
    return ("\n".join(lines) + "\n").encode()


def test_a_killed_worker_resumes_where_it_stopped_without_duplicates(monkeypatch):
    job = import_job_create(file_name="big.csv", data=_big_file(95))

    # The worker dies after two committed batches…
    stopped = import_job_run(job_id=job.pk, batch_size=20, max_batches=2)
    assert (stopped.status, stopped.rows_done) == ("running", 40)
    # …then another one crashes in the middle of the third batch (rolled back as a whole)…
    real_apply = jobs.import_batch_apply
    calls = {"n": 0}

    def crash_after_writing(*args, **kwargs):
        calls["n"] += 1
        real_apply(*args, **kwargs)
        raise RuntimeError("worker killed")

    monkeypatch.setattr(jobs, "import_batch_apply", crash_after_writing)
    with pytest.raises(RuntimeError):
        import_job_run(job_id=job.pk, batch_size=20)
    monkeypatch.setattr(jobs, "import_batch_apply", real_apply)
    assert ImportJob.objects.get(pk=job.pk).rows_done == 40

    # …and the next run finishes the job.
    done = import_job_run(job_id=job.pk, batch_size=20)

    bad = len([i for i in range(95) if i % 7 == 0])
    assert (done.status, done.rows_done, done.created_count, done.error_count) == ("done", 95, 95 - bad, bad)
    assert Contact.objects.count() == 95 - bad
    assert ContactNote.objects.count() == 95 - bad
    assert ImportRowError.objects.filter(job=job).count() == bad
    assert import_job_run(job_id=job.pk) is None  # a duplicated kick does nothing


def test_stalled_jobs_are_claimed_once():
    job = import_job_create(file_name="big.csv", data=_big_file(5))
    ImportJob.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    assert services.import_jobs_claim_stalled() == [job.pk]
    assert services.import_jobs_claim_stalled() == []


def test_an_erased_person_is_not_recreated_by_an_old_file_unless_consent_is_given():
    contact = contact_upsert(phone="699123456", name="Mireille").contact
    contact_erase(contact_id=contact.pk)

    job = import_job_run(job_id=import_job_create(file_name="old.csv", data=FRENCH_CP1252).pk)
    assert not Contact.objects.filter(phone="+237699123456").exists()
    assert ImportRowError.objects.filter(job=job, message__contains="forgotten").count() == 2

    job = import_job_run(job_id=import_job_create(file_name="old.csv", data=FRENCH_CP1252, consent_given=True).pk)
    assert Contact.objects.filter(phone="+237699123456").count() == 1


def test_upload_api_queues_the_job_and_reports_progress(staff_client, django_capture_on_commit_callbacks):
    upload = SimpleUploadedFile("clients.csv", FRENCH_CP1252, content_type="text/csv")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = staff_client.post("/api/v1/contacts/imports", {"file": upload}, format="multipart")
    assert response.status_code == 202, response.json()
    body = response.json()
    assert (body["status"], body["total_rows"], body["ignored_columns"]) == ("pending", 7, ["Colonne inconnue"])
    assert len(callbacks) == 1

    import_job_run(job_id=body["id"])
    report = staff_client.get(f"/api/v1/contacts/imports/{body['id']}").json()
    assert (report["status"], report["rows_done"], report["progress"]) == ("done", 7, 1.0)
    assert report["row_errors"][0] == {"row": 4, "column": "Téléphone",
                                       "message": "12345 is not a valid phone number."}


def test_upload_without_file_is_a_400(staff_client):
    response = staff_client.post("/api/v1/contacts/imports", {}, format="multipart")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "file"
