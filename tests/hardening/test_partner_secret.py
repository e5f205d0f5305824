"""A partner's webhook secret is shown once (creation, rotation) and never in lists or details; a
secret given at creation is used, or refused with a 400 when too weak; the documented schema of
the partner answers accepts what the API really answers."""

from __future__ import annotations

from typing import Any

import pytest
from drf_spectacular.generators import SchemaGenerator
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from api.orders.models import Partner
from integrations.webhooks import sign, verify

pytestmark = pytest.mark.django_db

OWN_SECRET = "akwa-own-signing-secret-0123456789-abcdef"  # 41 printable characters


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return SchemaGenerator().get_schema(request=None, public=True)


def _create(staff_client, **fields) -> dict[str, Any]:
    response = staff_client.post("/api/v1/partners", {"name": "Épicerie Akwa", **fields}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def test_the_secret_is_shown_at_creation_and_never_in_lists_or_details(staff_client):
    created = _create(staff_client)
    secret = created["webhook_secret"]
    assert len(secret) >= 32

    listed = staff_client.get("/api/v1/partners")
    detail = staff_client.get(f"/api/v1/partners/{created['id']}")
    changed = staff_client.patch(f"/api/v1/partners/{created['id']}", {"discount_percent": 20}, format="json")
    for response in (listed, detail, changed):
        assert response.status_code == 200
        assert secret.encode() not in response.content
        assert b"webhook_secret" not in response.content
    assert detail.json()["name"] == "Épicerie Akwa"


def test_rotation_shows_the_new_secret_once_and_deliveries_are_signed_with_it(staff_client):
    created = _create(staff_client)
    old = created["webhook_secret"]

    rotated = staff_client.post(f"/api/v1/partners/{created['id']}/webhook-secret/rotate")

    assert rotated.status_code == 200
    new = rotated.json()["webhook_secret"]
    assert new != old
    assert rotated.json()["id"] == created["id"]
    detail = staff_client.get(f"/api/v1/partners/{created['id']}")
    assert new.encode() not in detail.content
    # what the worker signs with from now on: the partner verifies with the new secret only
    stored = Partner.objects.get(pk=created["id"]).webhook_secret
    signature = sign(stored, "1700000000", b"{}")
    assert verify(new, "1700000000", b"{}", signature)
    assert not verify(old, "1700000000", b"{}", signature)


def test_a_patch_that_rotates_shows_the_new_secret_once(staff_client):
    created = _create(staff_client)
    rotated = staff_client.patch(f"/api/v1/partners/{created['id']}", {"rotate_secret": True}, format="json")
    assert rotated.status_code == 200
    assert rotated.json()["webhook_secret"] not in ("", created["webhook_secret"])


def test_only_staff_may_rotate(staff_client, django_user_model):
    created = _create(staff_client)
    clerk = django_user_model.objects.create_user(username="clerk", password="x", is_staff=False)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=clerk).key}")
    response = client.post(f"/api/v1/partners/{created['id']}/webhook-secret/rotate")
    assert response.status_code == 403
    assert b"webhook_secret" not in response.content
    assert APIClient().post(f"/api/v1/partners/{created['id']}/webhook-secret/rotate").status_code == 401
    assert Partner.objects.get(pk=created["id"]).webhook_secret == created["webhook_secret"]


def test_a_secret_given_at_creation_is_used(staff_client):
    created = _create(staff_client, webhook_secret=OWN_SECRET)
    assert created["webhook_secret"] == OWN_SECRET
    assert Partner.objects.get(pk=created["id"]).webhook_secret == OWN_SECRET


@pytest.mark.parametrize("weak", ["too-short", "x" * 101, "thirty-two characters with spaces in it"])
def test_a_weak_secret_given_at_creation_is_a_400_and_creates_nothing(staff_client, weak):
    response = staff_client.post("/api/v1/partners", {"name": "Akwa", "webhook_secret": weak}, format="json")
    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["webhook_secret"]
    assert weak.encode() not in response.content
    assert not Partner.objects.exists()


# --- the documented schema ----------------------------------------------------------------------


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    return spec["components"]["schemas"][ref.rsplit("/", 1)[1]] if ref else schema


def _json_schema(spec: dict[str, Any], path: str, method: str, status: str) -> dict[str, Any]:
    content = spec["paths"][path][method]["responses"][status]["content"]["application/json"]
    return _resolve(spec, content["schema"])


def test_a_real_201_of_partner_creation_matches_its_documented_schema(staff_client, spec):
    # Blank e-mail and webhook URL were documented as a oneOf that "" matches twice: a real answer
    # failed validation in any validator that does not check formats (and many do not).
    created = _create(staff_client)
    assert (created["email"], created["webhook_url"]) == ("", "")
    with_values = _create(staff_client, name="Bastos", email="serge@example.cm", webhook_url="https://8.8.8.8/h")
    schema = _json_schema(spec, "/api/v1/partners", "post", "201")
    for body in (created, with_values):
        OAS30Validator(schema).validate(body)
        OAS30Validator(schema, format_checker=oas30_format_checker).validate(body)
    assert "webhook_secret" in schema["required"]
    detail = _json_schema(spec, "/api/v1/partners/{id}", "get", "200")
    assert "webhook_secret" not in detail["properties"]
    OAS30Validator(detail).validate(staff_client.get(f"/api/v1/partners/{created['id']}").json())


def _defaults(schema: Any) -> list[tuple[dict[str, Any], Any]]:
    """Every (schema, default) pair in a schema tree."""
    found = []
    if isinstance(schema, dict):
        if "default" in schema:
            found.append((schema, schema["default"]))
        for value in schema.values():
            found.extend(_defaults(value))
    elif isinstance(schema, list):
        for value in schema:
            found.extend(_defaults(value))
    return found


@pytest.mark.parametrize("component", ["PartnerInRequest", "PatchedPartnerUpdateRequest"])
def test_every_default_of_the_partner_input_is_valid_against_its_own_schema(spec, component):
    # e-mail's default "" sat beside ``format: email``
    defaults = _defaults(spec["components"]["schemas"][component])
    assert defaults
    for schema, default in defaults:
        OAS30Validator(schema, format_checker=oas30_format_checker).validate(default)
    blank = spec["components"]["schemas"][component]["properties"]
    for field in ("email", "webhook_url"):
        assert "oneOf" not in blank[field]
        OAS30Validator(blank[field], format_checker=oas30_format_checker).validate("")
