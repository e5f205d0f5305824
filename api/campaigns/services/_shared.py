"""Helpers the campaigns services share: the validation error they raise and the "not given" marker."""

from __future__ import annotations

import enum
from typing import Final, Literal

from api.common.errors import ApplicationError, field_error


class _Unset(enum.Enum):
    UNSET = "unset"


#: The default of an update service's argument: "leave this field as it is" (``None`` may be a value).
UNSET: Final = _Unset.UNSET
Unset = Literal[_Unset.UNSET]


def invalid(field_name: str | None, message: str, code: str = "invalid") -> ApplicationError:
    """A 400 ``validation_error`` naming one field, the shape every campaigns service raises."""
    return ApplicationError(message, code="validation_error", errors=[field_error(field_name, message, code)])
