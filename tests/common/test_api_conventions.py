"""The conventions every endpoint follows: auth, one error shape, pagination."""

import pytest
from rest_framework.test import APIClient

from api.common.models import SystemFlag

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.common.urls")]


def test_unauthenticated_request_gets_401_in_the_common_shape(api_client):
    response = api_client.get("/api/v1/test/flags")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Token")
    assert response.json() == {
        "code": "not_authenticated",
        "message": "Authentication credentials were not provided.",
        "errors": [],
    }


def test_a_wrong_token_gets_401(api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    response = api_client.get("/api/v1/test/flags")
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


def test_a_non_staff_user_gets_403(db, django_user_model):
    from rest_framework.authtoken.models import Token

    user = django_user_model.objects.create_user(username="customer", password="x-123456")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    response = client.get("/api/v1/test/flags")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


def test_staff_gets_a_token_for_username_and_password(api_client, staff_user):
    response = api_client.post("/api/v1/auth/token", {"username": "staff", "password": "pw-staff-123"})
    assert response.status_code == 200
    token = response.json()["token"]
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert api_client.get("/api/v1/test/flags").status_code == 200


def test_validation_errors_name_the_path_of_each_nested_field(staff_client):
    response = staff_client.post(
        "/api/v1/test/echo-order",
        {"lines": [{"sku": "SIR-GIN", "quantity": 1}, {"sku": "LIQ-BAO", "quantity": 2}, {"quantity": 0}]},
        format="json",
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "validation_error"
    fields = {(e["field"], e["code"]) for e in body["errors"]}
    assert fields == {("phone", "required"), ("lines[2].sku", "required"), ("lines[2].quantity", "min_value")}
    assert "lines[2].quantity" in body["message"]


def test_malformed_json_is_a_400_parse_error(staff_client):
    response = staff_client.generic("POST", "/api/v1/test/echo-order", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


def test_an_application_error_rolls_back_and_keeps_its_code(staff_client):
    response = staff_client.post("/api/v1/test/conflict", {}, format="json")
    assert response.status_code == 409
    assert response.json() == {
        "code": "conflict",
        "message": "Cannot move from delivered to pending.",
        "errors": [],
        "allowed": ["refunded"],
    }
    assert not SystemFlag.objects.filter(key="written-before-conflict").exists()


def test_a_500_leaks_no_detail(staff_client):
    staff_client.raise_request_exception = False
    response = staff_client.get("/api/v1/test/crash")
    assert response.status_code == 500
    assert response.json() == {
        "code": "server_error",
        "message": "An internal error occurred. It has been logged.",
        "errors": [],
    }
    assert b"hunter2" not in response.content
    assert b"Traceback" not in response.content


def test_an_unknown_url_is_a_json_404(staff_client):
    response = staff_client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_lists_use_cursor_pagination_with_a_capped_page_size(staff_client):
    SystemFlag.objects.bulk_create([SystemFlag(key=f"k{i:03d}") for i in range(250)])
    response = staff_client.get("/api/v1/test/flags", {"page_size": 1000})
    body = response.json()
    assert response.status_code == 200
    assert len(body["results"]) == 200  # capped
    seen = [row["key"] for row in body["results"]]
    next_page = staff_client.get(body["next"]).json()
    seen += [row["key"] for row in next_page["results"]]
    assert seen == [f"k{i:03d}" for i in range(250)]  # nothing missed, nothing repeated
    assert next_page["next"] is None
    assert "cursor=" in body["next"]


def test_a_number_too_large_for_the_database_is_a_400_not_a_500(staff_client):
    response = staff_client.get("/api/v1/test/overflow", {"id": "29281009246860972032"})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_input"
