"""An import's totals add up: every row of the file is counted once, as created, updated, unchanged,
skipped (blank) or error, and a row whose field count is not the header's is an error naming its line.

Runs on SQLite (the row-by-row path) and on PostgreSQL (the set-based path, on plain files through
``COPY`` lines and on quoted files through the csv module).
"""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from api.contacts.models import Contact, ImportJob, ImportRowError
from api.contacts.services import contact_upsert, import_job_create, import_job_run

pytestmark = pytest.mark.django_db

# Header: line 1. Four fields per row.
UNEVEN = (
    "nom;téléphone;ville;email\n"
    "Awa Fotso;699 12 34 56;Douala;\n"  # 2: created
    "Brice Mbarga;677 00 11 22;Akwa; Douala;\n"  # 3: a separator inside a cell: 5 fields
    ";;;\n"  # 4: separators only: blank
    "Hervé;690 00 00 01\n"  # 5: cut short: 2 fields
    "\n"  # 6: an empty line: blank
    "Mireille Ngo;+237 690 11 22 33;Douala;\n"  # 7: the existing customer, given nothing new: unchanged
    "Faux;12345;Douala;\n"  # 8: a bad phone
    "  ;  ; ; \n"  # 9: spaces only: blank
    "Awa F.;699123456;;awa@example.cm\n"  # 10: row 2's person again, with an e-mail: unchanged (same file)
    ";;;;;;\n"  # 11: separators only, more of them than the header has: still blank
    "Cécile;655443322;Kribi;;\n"  # 12: one separator too many at the end: 5 fields
    "x\n"  # 13: one field
)


def _quoted(text: str) -> str:
    """The same rows with a quoted cell, so that the file is read by the csv module, not cut into lines."""
    return text.replace("Awa Fotso;", '"Awa Fotso";', 1)


def _totals(job: ImportJob) -> int:
    return job.created_count + job.updated_count + job.unchanged_count + job.skipped_count + job.error_count


@pytest.mark.parametrize("text", [UNEVEN, _quoted(UNEVEN)], ids=["plain", "quoted"])
def test_every_row_is_counted_once_and_uneven_rows_are_reported_by_line(text):
    contact_upsert(phone="+237690112233", name="Mireille Ngo", city="Douala")

    job = import_job_run(job_id=import_job_create(file_name="salon.csv", data=text.encode()).pk)

    assert job.status == ImportJob.Status.DONE
    assert job.total_rows == 12
    assert (job.created_count, job.updated_count, job.unchanged_count, job.skipped_count, job.error_count) == (
        1, 0, 2, 4, 5)
    assert _totals(job) == job.total_rows == job.rows_done
    report = list(ImportRowError.objects.filter(job=job).values_list("row", "column", "message"))
    assert report == [
        (3, "", "5 fields instead of 4."),
        (5, "", "2 fields instead of 4."),
        (8, "téléphone", "12345 is not a valid phone number."),
        (12, "", "5 fields instead of 4."),
        (13, "", "1 field instead of 4."),
    ]
    # Nothing of an uneven row is imported, not even its valid phone.
    assert not Contact.objects.filter(phone__in=["+237677001122", "+237690000001", "+237655443322"]).exists()
    assert Contact.objects.get(phone="+237699123456").email == "awa@example.cm"


@pytest.mark.parametrize("batch_size", [1, 3, 1000])
def test_the_totals_add_up_whatever_the_batches(batch_size):
    job = import_job_create(file_name="salon.csv", data=UNEVEN.encode())

    done = import_job_run(job_id=job.pk, batch_size=batch_size)

    # Row 10 fills the e-mail of row 2's person: unchanged in the same batch, updated in a later one.
    assert (done.created_count, done.updated_count + done.unchanged_count) == (2, 1)
    assert (done.skipped_count, done.error_count) == (4, 5)
    assert _totals(done) == done.total_rows == 12


def test_a_resumed_import_counts_each_row_once():
    job = import_job_create(file_name="salon.csv", data=UNEVEN.encode())
    half = import_job_run(job_id=job.pk, batch_size=4, max_batches=1)  # a worker killed after a batch
    assert (half.rows_done, half.skipped_count, _totals(half)) == (4, 1, 4)

    done = import_job_run(job_id=job.pk, batch_size=4)

    assert _totals(done) == done.total_rows == 12
    assert done.skipped_count == 4


def test_a_file_ending_with_blank_lines_counts_them():
    data = b"nom,phone\r\nAwa,699123456\r\n,\r\n\r\n"
    job = import_job_run(job_id=import_job_create(file_name="fin.csv", data=data).pk)
    assert (job.total_rows, job.created_count, job.skipped_count, job.error_count) == (3, 1, 2, 0)


def test_the_api_gives_the_blank_rows_and_the_uneven_rows(staff_client, django_capture_on_commit_callbacks):
    upload = SimpleUploadedFile("salon.csv", UNEVEN.encode(), content_type="text/csv")
    with django_capture_on_commit_callbacks():
        created = staff_client.post("/api/v1/contacts/imports", {"file": upload}, format="multipart")
    assert created.status_code == 202, created.json()
    assert created.json()["skipped_count"] == 0
    import_job_run(job_id=created.json()["id"])

    body = staff_client.get(f"/api/v1/contacts/imports/{created.json()['id']}").json()

    figures = [body[f] for f in ("created_count", "updated_count", "unchanged_count", "skipped_count", "error_count")]
    assert figures == [2, 0, 1, 4, 5]
    assert sum(figures) == body["total_rows"] == 12
    assert {"row": 3, "column": "", "message": "5 fields instead of 4."} in body["row_errors"]


def test_the_back_office_shows_the_blank_rows_and_names_the_uneven_ones(client, staff_user):
    job = import_job_run(job_id=import_job_create(file_name="salon.csv", data=UNEVEN.encode()).pk)
    client.force_login(staff_user)

    page = client.get(reverse("backoffice:contact-import-job", args=[job.pk]), HTTP_HX_REQUEST="true")
    fragment = page.content.decode()

    assert 'id="skipped">4<' in fragment
    assert 'id="errors">5<' in fragment
    assert "Ligne 3<br><small>5 champs au lieu de 4." in fragment
    assert "1 champ au lieu de 4." in fragment
