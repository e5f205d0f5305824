"""The one application error type that services raise.

A service raises ``ApplicationError`` (or a subclass) with a stable machine
``code``; the DRF exception handler turns it into the common error shape.
"""

from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    """A business rule refused the request. Rendered as ``{code, message, errors}``."""

    status_code = 400
    default_code = "invalid"

    def __init__(self, message: str, *, code: str | None = None, errors: list[dict[str, Any]] | None = None,
                 status_code: int | None = None, extra: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.errors = errors or []
        self.extra = extra or {}
        if status_code is not None:
            self.status_code = status_code


class NotFoundError(ApplicationError):
    status_code = 404
    default_code = "not_found"


class ConflictError(ApplicationError):
    """The request contradicts the current state (409): a duplicate identity, a forbidden transition."""

    status_code = 409
    default_code = "conflict"


def field_error(field: str | None, message: str, code: str = "invalid") -> dict[str, Any]:
    """One entry of the ``errors`` list of the common shape."""
    return {"field": field, "code": code, "message": message}
