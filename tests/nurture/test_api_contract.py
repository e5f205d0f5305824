"""Regressions found by schemathesis: answers match the documented schema; bad filters and step values are a 400."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlparse

import jsonschema
import pytest
from drf_spectacular.generators import SchemaGenerator

from api.nurture.services import outbound_enqueue
from tests.nurture.conftest import make_contact

pytestmark = pytest.mark.django_db

# What schemathesis enforces: RFC 3339 ``full-time`` (an offset is required) and an absolute URI.
_RFC3339_TIME = re.compile(r"^\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_FORMATS = jsonschema.FormatChecker()
_FORMATS.checks("time")(lambda value: not isinstance(value, str) or bool(_RFC3339_TIME.match(value)))
_FORMATS.checks("uri")(lambda value: not isinstance(value, str) or bool(urlparse(value).scheme))


def _nullable_to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0 ``nullable: true`` -> JSON Schema ``anyOf [..., null]`` (as schemathesis reads it)."""
    if isinstance(node, list):
        return [_nullable_to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _nullable_to_json_schema(value) for key, value in node.items()}
    if node.pop("nullable", False):
        return {"anyOf": [node, {"type": "null"}]}
    return node


@pytest.fixture(scope="module")
def components() -> dict[str, Any]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return _nullable_to_json_schema(schema["components"])


def _assert_conforms(components: dict[str, Any], name: str, value: Any) -> None:
    root = {"$ref": f"#/components/schemas/{name}", "components": components}
    jsonschema.Draft202012Validator(root, format_checker=_FORMATS).validate(value)


def _sequence(staff_client, **step: Any) -> dict[str, Any]:
    response = staff_client.post("/api/v1/nurture/sequences", {
        "name": "Fenêtres", "channels": ["telegram"],
        "steps": [{"delay": "00:00:00", "text": "A", **step}, {"delay": "1 00:00:00", "text": "B"}]}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def test_step_windows_are_documented_as_they_are_answered(staff_client, components):
    """Step windows were documented as ``format: time`` (RFC 3339, offset required) but answered ``00:00:00``."""
    created = _sequence(staff_client, window_start="00:00", window_end="19:30:15", image_url="https://0.com")
    assert created["steps"][0]["window_start"] == "00:00:00"
    assert created["steps"][1]["window_start"] is None
    assert created["steps"][1]["image_url"] == ""
    _assert_conforms(components, "SequenceOutput", created)
    sequence_id = created["id"]
    _assert_conforms(components, "SequenceOutput",
                     staff_client.get(f"/api/v1/nurture/sequences/{sequence_id}").json())
    _assert_conforms(components, "SequenceOutput",
                     staff_client.patch(f"/api/v1/nurture/sequences/{sequence_id}", {}, format="json").json())
    _assert_conforms(components, "PaginatedSequenceOutputList",
                     staff_client.get("/api/v1/nurture/sequences", {"page_size": 0}).json())


def test_outbound_messages_are_documented_as_they_are_answered(staff_client, components):
    contact = make_contact(77, first_name="Awa")
    outbound_enqueue(idempotency_key="contract:1", recipient="77", text="Bonjour", contact_id=contact.pk,
                     channel="telegram")
    body = staff_client.get("/api/v1/nurture/outbound-messages").json()
    assert body["results"][0]["image_url"] == ""
    _assert_conforms(components, "PaginatedOutboundMessageOutputList", body)


@pytest.mark.parametrize(("path", "query", "field"), [
    ("/api/v1/nurture/outbound-messages", {"contact": "29281009246860972032", "cursor": "~"}, "contact"),
    ("/api/v1/nurture/outbound-messages", {"broadcast": str(2**63)}, "broadcast"),
    ("/api/v1/nurture/outbound-messages", {"contact": "1.5"}, "contact"),
    ("/api/v1/nurture/outbound-messages", {"contact": "-3"}, "contact"),
    ("/api/v1/nurture/outbound-messages", {"state": "lost"}, "state"),
    ("/api/v1/nurture/outbound-messages", {"reason": "a\x00b"}, "reason"),
    ("/api/v1/nurture/enrollments", {"sequence": "99999999999999999999"}, "sequence"),
    ("/api/v1/nurture/enrollments", {"contact": "x"}, "contact"),
])
def test_bad_list_filters_are_a_400_naming_the_parameter(staff_client, path, query, field):
    """A contact id too large for the database was a 500."""
    response = staff_client.get(path, query)
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "validation_error"
    assert [e["field"] for e in body["errors"]] == [field]


def test_id_filters_take_the_ids_every_app_takes(staff_client):
    """Up to 2**53 (safe in JavaScript), as in the other apps; beyond is a 400 naming the parameter."""
    for path, name in (("/api/v1/nurture/outbound-messages", "contact"), ("/api/v1/nurture/enrollments", "sequence")):
        response = staff_client.get(path, {name: str(2**53), "state": ""})
        assert response.status_code == 200, response.content
        assert response.json()["results"] == []
        refused = staff_client.get(path, {name: str(2**53 + 1)})
        assert refused.status_code == 400
        assert [e["field"] for e in refused.json()["errors"]] == [name]


@pytest.mark.parametrize(("step", "field"), [
    ({"window_start": "00:00:00Z"}, "steps[0].window_start"),  # an offset was silently dropped
    ({"window_end": "10:00+01:00"}, "steps[0].window_end"),
    ({"window_start": "25:00"}, "steps[0].window_start"),
    ({"delay": "-1 00:00:00"}, "steps[0].delay"),  # a negative delay was stored
    ({"delay": "999999 00:00:00"}, "steps[0].delay"),
])
def test_bad_step_values_are_refused(staff_client, step, field):
    response = staff_client.post("/api/v1/nurture/sequences", {
        "name": "X", "steps": [{"delay": "01:00:00", "text": "A", **step}]}, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "validation_error"
    assert [e["field"] for e in response.json()["errors"]] == [field]


@pytest.mark.parametrize("send_at", ["1130-08-06T14:04:00Z", "0195-10-29T07:04:49.60Z", "2100-01-01T00:00:00Z"])
def test_a_broadcast_centuries_away_is_refused(staff_client, send_at):
    """Year 1130 was stored and answered as ``...+00:38:48`` (Douala's local mean time), not an RFC 3339 date-time."""
    response = staff_client.post("/api/v1/nurture/broadcasts", {"name": "X", "text": "Y", "send_at": send_at},
                                 format="json")
    assert response.status_code == 400, response.content
    assert [e["field"] for e in response.json()["errors"]] == ["send_at"]
