"""The single DRF exception handler: every 4xx and 5xx gets the same JSON shape.

``{"code": "validation_error", "message": "...", "errors": [{"field": "lines[2].quantity",
"code": "min_value", "message": "..."}]}``. A 500 never carries a stack trace or a setting.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DEFAULT_DB_ALIAS, DataError
from django.http import Http404, JsonResponse, UnreadablePostError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import set_rollback

from api.common.errors import ApplicationError

logger = logging.getLogger("api.errors")

_DRF_CODES = {
    exceptions.ValidationError: "validation_error",
    exceptions.ParseError: "parse_error",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
}


def flatten_errors(detail: Any, path: str = "") -> list[dict[str, Any]]:
    """Flatten DRF's nested error detail into ``[{field, code, message}]`` with paths like ``lines[2].quantity``."""
    out: list[dict[str, Any]] = []
    if isinstance(detail, dict):
        for key, value in detail.items():
            if key in ("non_field_errors", "__all__"):
                child = path
            elif isinstance(key, int) or (isinstance(key, str) and key.isdigit()):
                child = f"{path}[{key}]"  # DRF reports list items as a dict keyed by index
            else:
                child = f"{path}.{key}" if path else str(key)
            out.extend(flatten_errors(value, child))
    elif isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            for item in detail:
                out.append({"field": path or None, "code": getattr(item, "code", "invalid"), "message": str(item)})
        else:
            for index, item in enumerate(detail):
                if item in ({}, []):
                    continue  # a valid item of a list of nested objects
                out.extend(flatten_errors(item, f"{path}[{index}]"))
    else:
        out.append({"field": path or None, "code": getattr(detail, "code", "invalid"), "message": str(detail)})
    return out


def error_body(code: str, message: str, errors: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    """The common error shape."""
    body: dict[str, Any] = {"code": code, "message": message, "errors": errors or []}
    body.update(extra)
    return body


def _roll_back(context: dict[str, Any]) -> None:
    """Roll the request's transaction back, unless the view runs outside one (``non_atomic_requests``).

    DRF's ``set_rollback`` only asks whether *some* atomic block is open; for a non-atomic view that
    block belongs to someone else (a test case's transaction, a caller's), which must not be doomed.
    """
    match = getattr(context.get("request"), "resolver_match", None)
    if match is not None and DEFAULT_DB_ALIAS in getattr(match.func, "_non_atomic_requests", ()):
        return
    set_rollback()


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """Render any exception raised in a DRF view as the common error shape."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(detail=as_serializer_error(exc))

    if isinstance(exc, RequestDataTooBig):
        # Normally refused earlier by RequestSizeLimitMiddleware; a client's fault either way, so a 413
        # and no traceback (each one at ERROR level let anyone flood the logs).
        _roll_back(context)
        return Response(error_body("payload_too_large", "The request body is too large."),
                        status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, TooManyFieldsSent | TooManyFilesSent | UnreadablePostError):
        _roll_back(context)
        return Response(error_body("bad_request", "The request body cannot be read."),
                        status=status.HTTP_400_BAD_REQUEST)

    if isinstance(exc, OverflowError | DataError):
        # A number or date outside what the database column can hold (an id of 30 digits, year 0)
        # is the client's mistake, not ours: 400, and the transaction is rolled back.
        _roll_back(context)
        return Response(error_body("invalid_input", "A value is outside the range this API accepts."),
                        status=status.HTTP_400_BAD_REQUEST)

    if isinstance(exc, ApplicationError):
        _roll_back(context)
        return Response(error_body(exc.code, exc.message, exc.errors, **exc.extra), status=exc.status_code)

    if isinstance(exc, exceptions.APIException):
        headers: dict[str, str] = {}
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header  # type: ignore[attr-defined]
        extra: dict[str, Any] = {}
        wait = getattr(exc, "wait", None)
        if isinstance(exc, exceptions.Throttled) and wait is not None:
            headers["Retry-After"] = str(int(wait))
            extra["retry_after"] = int(wait)
        code = next((c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), None) or str(
            exc.default_code
        )
        if isinstance(exc, exceptions.ValidationError):
            errors = flatten_errors(exc.detail)
            message = "The request is invalid: " + "; ".join(
                f"{e['field']}: {e['message']}" if e["field"] else e["message"] for e in errors[:5]
            )
        else:
            errors = []
            message = str(exc.detail) if not isinstance(exc.detail, dict | list) else str(exc.default_detail)
        _roll_back(context)
        return Response(error_body(code, message, errors, **extra), status=exc.status_code, headers=headers)

    # Anything else is our bug: log it (secrets are scrubbed by the log filter), never show it.
    logger.exception("Unhandled error in %s", context.get("view").__class__.__name__ if context.get("view") else "?")
    _roll_back(context)
    return Response(
        error_body("server_error", "An internal error occurred. It has been logged."),
        status=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )


def json_404(request, exception=None):  # noqa: ARG001 - Django's handler signature
    """Django-level 404 (no URL matched) in the common shape."""
    return JsonResponse(error_body("not_found", "No such resource."), status=404)


def json_500(request):  # noqa: ARG001
    """Django-level 500 in the common shape, without any detail."""
    return JsonResponse(error_body("server_error", "An internal error occurred. It has been logged."), status=500)


def json_400(request, exception=None):  # noqa: ARG001
    return JsonResponse(error_body("bad_request", "Bad request."), status=400)


def json_403(request, exception=None):  # noqa: ARG001
    return JsonResponse(error_body("permission_denied", "You do not have permission to do this."), status=403)
