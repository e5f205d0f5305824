"""``import_job_row_errors``: an import's row report as staff screens read it."""

from __future__ import annotations

import pytest

from api.contacts import services
from api.contacts.selectors import import_job_row_errors

pytestmark = pytest.mark.django_db


def test_the_row_report_comes_by_line_and_stops_at_the_limit():
    data = "nom;téléphone;email\nA;12;\nB;699000001;pas-un-email\nC;699000002;c@example.cm\nD;;\n".encode()
    job = services.import_job_create(file_name="clients.csv", data=data)
    services.import_job_run(job_id=job.pk)

    report = import_job_row_errors(job.pk)

    assert [(e["row"], e["column"]) for e in report] == [(2, "téléphone"), (3, "email"), (5, "")]
    assert "12" in report[0]["message"]
    assert import_job_row_errors(job.pk, limit=1) == report[:1]
    assert import_job_row_errors(job.pk + 1) == []
