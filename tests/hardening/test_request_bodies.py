"""Every request body gets a 4xx in the common error shape: too large (413, judged before it is read),
nested too deep (400), of a type the endpoint does not take (415). None of them writes a traceback,
and the unauthenticated endpoints check the body's size and signature or secret before parsing it."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.files.uploadhandler import MemoryFileUploadHandler, TemporaryFileUploadHandler

from api.common.parsers import MAX_JSON_DEPTH
from api.contacts.models import ImportJob
from api.contacts.services import IMPORT_MAX_BYTES
from api.contacts.views import ImportJobCreateView

pytestmark = pytest.mark.django_db

APP_SECRET = "meta-app-secret-for-tests"
TELEGRAM_SECRET = "telegram-webhook-secret-for-tests"
# Just past Django's DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB), the size that used to be a 500.
OVERSIZE = b'{"note": "' + b"x" * (2_621_440 + 10) + b'"}'


@pytest.fixture(autouse=True)
def _secrets(settings):
    settings.META_APP_SECRET = APP_SECRET
    settings.TELEGRAM_WEBHOOK_SECRET = TELEGRAM_SECRET


def _nested(depth: int) -> bytes:
    """A JSON object whose innermost value sits ``depth`` lists and objects deep."""
    return ('{"a": ' + "[" * (depth - 1) + "1" + "]" * (depth - 1) + "}").encode()


def _signed(body: bytes) -> dict[str, str]:
    return {"HTTP_X_HUB_SIGNATURE_256": "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()}


def _assert_common_shape(response, status: int, code: str) -> None:
    assert response.status_code == status, response.content[:300]
    body = response.json()
    assert set(body) >= {"code", "message", "errors"}
    assert body["code"] == code


def _errors_logged(caplog) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]


@pytest.mark.parametrize(("path", "who"), [
    ("/api/v1/auth/token", "anyone"),
    ("/api/v1/webhooks/meta", "anyone"),
    ("/api/v1/webhooks/telegram", "anyone"),
    ("/api/v1/contacts", "staff"),
])
def test_a_body_over_the_limit_is_a_413_without_a_traceback(api_client, staff_client, caplog, path, who):
    client = staff_client if who == "staff" else api_client
    response = client.generic("POST", path, OVERSIZE, content_type="application/json", **_signed(OVERSIZE))
    _assert_common_shape(response, 413, "payload_too_large")
    assert _errors_logged(caplog) == []


def test_the_size_is_judged_from_content_length_before_a_byte_is_read(rf):
    """The middleware refuses what the header announces; the body itself is never touched."""
    from api.common.middleware import RequestSizeLimitMiddleware

    class Unreadable:
        def read(self, *args):
            raise AssertionError("the body was read")

    request = rf.post("/api/v1/webhooks/meta", b"{}", content_type="application/json")
    request.META["CONTENT_LENGTH"] = str(10 * 1024 * 1024)
    request._stream = Unreadable()
    response = RequestSizeLimitMiddleware(lambda r: r.body)(request)
    assert response.status_code == 413
    assert json.loads(response.content)["code"] == "payload_too_large"


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 5000])
def test_json_nested_beyond_the_limit_is_a_400_on_every_kind_of_endpoint(api_client, staff_client, caplog, depth):
    body = _nested(depth)
    answers = {
        "staff": staff_client.generic("POST", "/api/v1/contacts", body, content_type="application/json"),
        "token": api_client.generic("POST", "/api/v1/auth/token", body, content_type="application/json"),
        "telegram": api_client.generic("POST", "/api/v1/webhooks/telegram", body, content_type="application/json",
                                       HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=TELEGRAM_SECRET),
        "meta": api_client.generic("POST", "/api/v1/webhooks/meta", body, content_type="application/json",
                                   **_signed(body)),
    }
    for response in answers.values():
        _assert_common_shape(response, 400, "parse_error")
    assert "deeper than 32" in answers["staff"].json()["message"]
    assert _errors_logged(caplog) == []


def test_json_at_the_depth_limit_is_still_read(staff_client):
    response = staff_client.generic("POST", "/api/v1/contacts", _nested(MAX_JSON_DEPTH), content_type="application/json")
    # Parsed, then judged by the serializer: not a parse error.
    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"


def test_unauthenticated_webhooks_judge_the_signature_or_secret_before_the_body(api_client):
    deep = _nested(5000)
    meta = api_client.generic("POST", "/api/v1/webhooks/meta", deep, content_type="application/json",
                              HTTP_X_HUB_SIGNATURE_256="sha256=" + "0" * 64)
    _assert_common_shape(meta, 403, "invalid_signature")
    telegram = api_client.generic("POST", "/api/v1/webhooks/telegram", deep, content_type="application/json",
                                  HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN="wrong")
    _assert_common_shape(telegram, 403, "permission_denied")


def test_a_signed_meta_event_is_still_processed(api_client):
    body = json.dumps({"object": "page", "entry": []}).encode()
    response = api_client.generic("POST", "/api/v1/webhooks/meta", body, content_type="application/json",
                                  **_signed(body))
    assert response.status_code == 200, response.content


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "multipart/form-data; boundary=x"])
def test_a_json_endpoint_takes_json_only(staff_client, content_type):
    response = staff_client.generic("POST", "/api/v1/contacts", b"phone=%2B237690112233", content_type=content_type)
    _assert_common_shape(response, 415, "unsupported_media_type")


class TestTheStaffToken:
    def test_staff_get_their_token(self, api_client, staff_user):
        response = api_client.post("/api/v1/auth/token", {"username": "staff", "password": "pw-staff-123"},
                                   format="json")
        assert response.status_code == 200
        assert len(response.json()["token"]) == 40

    def test_a_user_who_is_not_staff_gets_no_token_and_learns_nothing(self, api_client, django_user_model):
        from rest_framework.authtoken.models import Token

        django_user_model.objects.create_user(username="cliente", password="pw-cliente-123")
        refused = api_client.post("/api/v1/auth/token", {"username": "cliente", "password": "pw-cliente-123"},
                                  format="json")
        wrong = api_client.post("/api/v1/auth/token", {"username": "cliente", "password": "not-her-password"},
                                format="json")
        _assert_common_shape(refused, 400, "validation_error")
        assert refused.json() == wrong.json()  # a right password of a non-staff account reads like a wrong one
        assert not Token.objects.exists()

    def test_form_data_is_refused(self, api_client, staff_user):
        response = api_client.post("/api/v1/auth/token", {"username": "staff", "password": "pw-staff-123"},
                                   format="multipart")
        _assert_common_shape(response, 415, "unsupported_media_type")


class TestTheImportUpload:
    CSV = b"nom;telephone\nAwa;+237690112233\n"

    def test_the_upload_stops_at_the_limit_while_it_streams(self, staff_client, monkeypatch, caplog):
        monkeypatch.setattr(ImportJobCreateView, "upload_max_bytes", 4096)
        passed_on: list[int] = []
        for handler in (MemoryFileUploadHandler, TemporaryFileUploadHandler):
            original = handler.receive_data_chunk

            def spy(self, raw_data, start, original=original):
                passed_on.append(len(raw_data))
                return original(self, raw_data, start)

            monkeypatch.setattr(handler, "receive_data_chunk", spy)
        big = self.CSV + b"Awa;+237690112233\n" * 20_000  # about 360 kB, well under the middleware's bound
        upload = SimpleUploadedFile("contacts.csv", big, content_type="text/csv")
        response = staff_client.post("/api/v1/contacts/imports", {"file": upload}, format="multipart")
        _assert_common_shape(response, 413, "payload_too_large")
        assert "4096 bytes" in response.json()["message"]
        assert sum(passed_on) <= 4096  # nothing past the limit reached memory or a temporary file
        assert not ImportJob.objects.exists()
        assert _errors_logged(caplog) == []

    def test_an_upload_announced_over_the_limit_is_refused_before_it_streams(self, staff_client, monkeypatch):
        monkeypatch.setattr(ImportJobCreateView, "upload_max_bytes", 4096)
        upload = SimpleUploadedFile("contacts.csv", self.CSV * 400_000, content_type="text/csv")  # ~12 MB
        response = staff_client.post("/api/v1/contacts/imports", {"file": upload}, format="multipart")
        _assert_common_shape(response, 413, "payload_too_large")

    def test_a_file_under_the_limit_is_imported_and_the_limit_is_50_mb(self, staff_client):
        assert ImportJobCreateView.upload_max_bytes == IMPORT_MAX_BYTES == 50 * 1024 * 1024
        upload = SimpleUploadedFile("contacts.csv", self.CSV, content_type="text/csv")
        response = staff_client.post("/api/v1/contacts/imports", {"file": upload}, format="multipart")
        assert response.status_code == 202, response.content
        assert ImportJob.objects.get().total_rows == 1
