"""What every back office screen shares: staff only, and service calls whose errors land on a form."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from django import forms
from django.core.exceptions import ValidationError
from django.db import transaction
from django.views.generic import TemplateView

from api.backoffice.access import StaffRequiredMixin
from api.backoffice.errors import add_service_error
from api.common.errors import ApplicationError

T = TypeVar("T")


class StaffPageView(StaffRequiredMixin, TemplateView):
    """A page for signed-in staff; ``section`` lights its entry in the menu."""

    section = ""

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["section"] = self.section
        return context


def call_service(form: forms.Form, service: Callable[..., T], *, fields: Mapping[str, str] | None = None,
                 **kwargs: Any) -> T | None:
    """Call ``service(**kwargs)`` in a savepoint; on an application error roll back what it did,
    put the error on ``form`` and return None. The rule and its message stay in the service; a
    service's ``full_clean()`` refusal (a Django ``ValidationError``) lands on the form the same way."""
    try:
        with transaction.atomic():
            return service(**kwargs)
    except ApplicationError as error:
        add_service_error(form, error, fields)
        return None
    except ValidationError as error:  # a service's ``full_clean()``: the model's own (translated) messages
        for field, messages in error.message_dict.items():
            name = (fields or {}).get(field, field)
            form.add_error(name if name in form.fields else None, messages)
        return None
