"""What the orders services share: the validation error of one field, and the "not given" marker
of the typed update services (``None`` is a value some fields take)."""

from __future__ import annotations

import enum

from api.common.errors import ApplicationError, field_error


class Unset(enum.Enum):
    """The type of ``UNSET``: an update argument the caller did not give."""

    UNSET = "unset"


UNSET = Unset.UNSET


def given(**values: object) -> dict[str, object]:
    """The keyword arguments that were given (not ``UNSET``), to set on a row."""
    return {name: value for name, value in values.items() if value is not UNSET}


def invalid(field: str | None, message: str, code: str = "invalid") -> ApplicationError:
    return ApplicationError(f"{field}: {message}" if field else message, code="validation_error",
                            errors=[field_error(field, message, code)])
