"""The attribution and report endpoints answer what the schema documents (regressions found by schemathesis)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator

from api.attribution.models import AttributionRun, RfmScore
from tests.attribution import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return SchemaGenerator().get_schema(request=None, public=True)


def _ok_schema(schema: dict[str, Any], path: str) -> dict[str, Any]:
    ref = schema["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    return schema["components"]["schemas"][ref.rsplit("/", 1)[1]]


@pytest.mark.parametrize("path", ["/api/v1/attribution/runs", "/api/v1/reports/rfm"])
def test_paginated_lists_are_documented_as_the_page_they_return(staff_client, schema, path):
    # Both returned {"next", "previous", "results"} but were documented as a bare array.
    now = timezone.now()
    AttributionRun.objects.create(kind="full", state="succeeded", started_at=now, finished_at=now)
    AttributionRun.objects.create(kind="incremental", state="succeeded", started_at=now + timedelta(seconds=1))
    documented = _ok_schema(schema, path)
    assert documented["type"] == "object"
    assert {"next", "previous", "results"} <= set(documented["properties"])
    parameters = {p["name"] for p in schema["paths"][path]["get"].get("parameters", [])}
    assert {"cursor", "page_size"} <= parameters
    response = staff_client.get(path, {"page_size": 1})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == set(documented["properties"])
    assert isinstance(body["results"], list)
    if path.endswith("runs"):
        assert len(body["results"]) == 1
        assert body["next"]


def test_rfm_list_pages_and_filters(staff_client):
    RfmScore.objects.all().delete()
    assert staff_client.get("/api/v1/reports/rfm", {"group": "champions", "min_f_score": 1}).json() == {
        "next": None, "previous": None, "results": []}


@pytest.mark.parametrize(("path", "field", "value"), [
    ("/api/v1/reports/rfm", "contact_id", "99999999999999999999"),
    ("/api/v1/reports/rfm", "contact_id", "0"),
    ("/api/v1/attribution/credits", "order_id", "99999999999999999999"),
    ("/api/v1/attribution/credits", "order_id", "-1"),
    ("/api/v1/reports/weekly", "week", "9999-12-31"),
    ("/api/v1/reports/weekly", "week", "0001-01-01"),
    ("/api/v1/reports/weekly", "week", "1899-06-01"),
    ("/api/v1/reports/weekly.csv", "week", "9999-12-31"),
    ("/api/v1/reports/weekly.html", "week", "0001-01-03"),
    ("/api/v1/reports/model-comparison", "week", "9999-12-31"),
    ("/api/v1/reports/funnel", "until", "0001-01-01"),
    ("/api/v1/reports/funnel", "until", "9999-12-31"),
])
def test_out_of_range_query_values_are_a_400_naming_the_field(staff_client, path, field, value):
    # Weeks around year 1 or 9999 overflowed date arithmetic (a 500 before the generic safety net).
    response = staff_client.get(path, {field: value})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "validation_error"
    assert [e["field"] for e in body["errors"]] == [field]


def test_weeks_inside_the_range_still_report(staff_client):
    f.campaign("fb1", "facebook_ads")
    assert staff_client.get("/api/v1/reports/weekly", {"week": "2000-01-01"}).status_code == 200
    assert staff_client.get("/api/v1/reports/funnel", {"until": "2000-01-03", "weeks": 104}).status_code == 200
