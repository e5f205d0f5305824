"""The check bin/spec-check puts on every response of the client flows catches each way of leaving the spec."""

from __future__ import annotations

import httpx
import pytest

from tests.spec.client_flows import ResponseChecker, SpecMismatch

SPEC = {
    "openapi": "3.0.3",
    "paths": {
        "/api/v1/orders/{number}": {"get": {"responses": {
            "200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Order"}}}},
            "304": {"description": "Unchanged."},
        }}},
        "/api/v1/orders/export": {"get": {"responses": {"200": {"content": {"text/csv": {}}}}}},
    },
    "components": {"schemas": {"Order": {"type": "object", "required": ["number", "placed_at"], "properties": {
        "number": {"type": "string"},
        "placed_at": {"type": "string", "format": "date-time"},
        "email": {"type": "string", "format": "email", "nullable": True},
    }}}},
}


def _get(path, status, **answer):
    """GET ``path`` from a server that answers ``status`` with ``answer``, through a checked httpx client."""
    transport = httpx.MockTransport(lambda request: httpx.Response(status, **answer))
    with httpx.Client(transport=transport, base_url="http://127.0.0.1",
                      event_hooks={"response": [ResponseChecker(SPEC)]}) as client:
        return client.get(path)


def test_an_answer_as_the_spec_declares_it_passes():
    assert _get("/api/v1/orders/CF-1", 200, json={"number": "CF-1", "placed_at": "2026-12-01T10:00:00Z",
                                                  "email": None}).status_code == 200
    assert _get("/api/v1/orders/CF-1", 304).status_code == 304
    assert _get("/api/v1/orders/export", 200, text="number\nCF-1\n",
                headers={"content-type": "text/csv; charset=utf-8"}).status_code == 200


@pytest.mark.parametrize(("path", "status", "answer", "problem"), [
    ("/api/v1/orders/CF-1", 200, {"json": {"number": "CF-1"}}, "'placed_at' is a required property"),
    ("/api/v1/orders/CF-1", 200, {"json": {"number": "CF-1", "placed_at": "yesterday"}}, "date-time"),
    ("/api/v1/orders/CF-1", 200, {"json": {"number": "CF-1", "placed_at": "2026-12-01T10:00:00Z",
                                           "email": "not an address"}}, "email"),
    ("/api/v1/orders/CF-1", 404, {"json": {"code": "not_found"}}, "status not declared"),
    ("/api/v1/orders/CF-1", 200, {"text": "<html>", "headers": {"content-type": "text/html"}},
     "content type 'text/html' not declared"),
    ("/api/v1/orders/CF-1", 304, {"text": "stale body"}, "declares no body"),
    ("/api/v1/customers", 200, {"json": {}}, "not in the spec"),
])
def test_an_answer_the_spec_does_not_declare_fails(path, status, answer, problem):
    with pytest.raises(SpecMismatch, match=problem):
        _get(path, status, **answer)


def test_a_literal_path_is_not_read_as_a_template():
    # /orders/export must be checked as the CSV export, not as the order numbered "export"
    assert _get("/api/v1/orders/export", 200, text="number\n",
                headers={"content-type": "text/csv"}).status_code == 200
