"""Every impossible date, date-time or number in any query parameter of any list or report is a 400
in the common error shape that names the parameter, never a 500.

The cases are read from the OpenAPI schema the API serves, so a filter added later is covered
without touching this file.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

# Well-formed but impossible, or not a value of the type at all.
BAD_VALUES = {
    "date": ["2026-02-30", "2026-13-01", "abc", "99999-01-01"],
    "date-time": ["2026-02-30T00:00:00Z", "2026-01-01T25:00:00", "2026-01-01T25:00:00+01:00",
                  "2026-01-01T10:00:00+99:00", "abc", "10000-01-01T00:00:00Z"],
    "integer": ["abc", "1.5", "9" * 40, "-1"],
}


def _cases() -> dict[str, list[tuple[str, str]]]:
    """``{path: [(parameter, bad value), ...]}`` for every GET operation with a date, time or number query parameter."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    cases: dict[str, list[tuple[str, str]]] = {}
    for path, operations in schema["paths"].items():
        for parameter in operations.get("get", {}).get("parameters", []):
            types = parameter.get("schema", {})
            kind = types.get("format") if types.get("type") == "string" else types.get("type")
            kind = "integer" if kind == "number" else kind
            if parameter["in"] == "query" and kind in BAD_VALUES:
                cases.setdefault(path, []).extend((parameter["name"], value) for value in BAD_VALUES[kind])
    return cases


CASES = _cases()


@pytest.fixture
def ids(db) -> dict[str, int]:
    """Rows that the paths with an id in them point at, so that the query parameters are what is judged."""
    from api.campaigns.services import campaign_create
    from api.contacts.services import contact_upsert
    from api.orders.services import partner_create

    contact = contact_upsert(phone="+237690112233", name="Mireille Ngo").contact
    campaign = campaign_create(name="Noël", code="NOEL26", channel="facebook_ads")
    partner = partner_create(name="Épicerie Akwa", contact_person="Serge", discount_percent=10)
    return {"contact_id": contact.pk, "id": campaign.pk, "partner": partner.pk}


@pytest.fixture
def clients(staff_client, ids) -> dict[str, APIClient]:
    from api.orders.services import partner_api_key_create

    _, raw = partner_api_key_create(partner_id=ids["partner"], name="test")
    partner = APIClient()
    partner.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    return {"staff": staff_client, "partner": partner}


def _url(path: str, ids: dict[str, int]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "id" and path.startswith("/api/v1/partners/"):
            return str(ids["partner"])
        return str(ids[name])

    return re.sub(r"\{(\w+)\}", value, path)


def test_the_schema_lists_the_filters_this_test_is_about():
    names = {(path, name) for path, pairs in CASES.items() for name, _ in pairs}
    assert {("/api/v1/contacts", "created_after"), ("/api/v1/partner/orders", "updated_since"),
            ("/api/v1/costs", "day_from"), ("/api/v1/reports/ltv", "limit"), ("/api/v1/complaints", "page"),
            ("/api/v1/orders", "page_size"), ("/api/v1/campaigns/{id}/qr.png", "scale")} <= names


# One test per path (each value of each parameter inside it): the rows it needs are made once per path.
@pytest.mark.parametrize("path", sorted(CASES))
def test_an_impossible_query_value_is_a_400_naming_the_parameter(clients, ids, path):
    client = clients["partner" if path.startswith("/api/v1/partner/") else "staff"]
    wrong = []
    for name, value in CASES[path]:
        response = client.get(_url(path, ids), {name: value})
        body: dict[str, Any] = response.json() if response["Content-Type"].startswith("application/json") else {}
        if response.status_code != 400 or name not in [error.get("field") for error in body.get("errors", [])]:
            wrong.append((name, value, response.status_code, response.content[:200]))
    assert wrong == []
