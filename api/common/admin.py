"""What every app's admin shares: superusers only, and writes through the services or none at all.

Staff work in the back office (/app/); the Django admin stays for superusers to look at the rows. A
model's admin either saves through its app's service (``ServiceAdmin`` with a ``ServiceForm``: the
service validates, normalises and writes; its ``ApplicationError`` becomes form errors, never a 500)
or is read-only (``ReadOnlyAdmin``): a plain model save would skip the rules the services hold
(E.164 phones, referral codes, order totals and events).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest

from api.common.errors import ApplicationError

_INDEX = re.compile(r"\[\d+\]")


def _superusers_only(request: HttpRequest) -> bool:
    """The admin site's door: active superusers. Other staff get the sign-in page's refusal."""
    user: Any = request.user
    return bool(user.is_active and user.is_superuser)


# The default site is kept (the settings name ``django.contrib.admin``) and only its door changes, so
# every app's ``admin.site.register`` still lands on it.
admin.site.has_permission = _superusers_only  # type: ignore[method-assign]


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows to look at: no add, change or delete (their writes belong to a service or a worker)."""

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):
    """Related rows shown on a page, never edited there."""

    extra = 0
    can_delete = False

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # Every shown field, the non-editable ones (``created_at``) included: a form cannot hold those.
        return list(self.fields or [f.name for f in self.model._meta.fields])

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def form_add_service_error(form: forms.BaseForm, error: ApplicationError, fields: Mapping[str, str]) -> None:
    """Put ``error`` on ``form``: each entry of ``error.errors`` on the field its path names (through
    ``fields``, exact or with list indexes dropped; else the same name), the rest on the whole form."""
    placed = False
    for entry in error.errors:
        path = entry.get("field") or ""
        name = fields.get(path) or fields.get(_INDEX.sub("", path)) or path
        if name in form.fields:
            form.add_error(name, entry.get("message") or error.message)
            placed = True
    if not placed:
        form.add_error(None, error.message)


class ServiceForm(forms.ModelForm):
    """A model form whose model validation and save are one service call.

    Once the fields are clean, ``save_through_service`` runs in a savepoint during validation (the
    service decides what is valid, so its refusal must come back as form errors): on an
    ``ApplicationError`` (or the ``ValidationError`` of a service's ``full_clean()``) the savepoint
    is rolled back and the error lands on the form; otherwise ``instance`` is the saved row.
    ``actor`` is the signed-in user (set by ``ServiceAdmin``).
    """

    actor: ClassVar[Any] = None
    # Service error paths (``lines[0].product_id``, ``contact_id``) to form field names.
    service_fields: ClassVar[dict[str, str]] = {}

    def save_through_service(self, data: dict[str, Any]) -> Any:
        """Call the app's service with the cleaned ``data``; return the row it created or changed."""
        raise NotImplementedError

    def service_error_fields(self) -> Mapping[str, str]:
        """Where the last service call's error paths go on this form (``service_fields`` by default)."""
        return self.service_fields

    def _post_clean(self) -> None:
        # Replaces ModelForm's own model validation (full_clean, unique checks): the service's is the one.
        if self.errors:
            return
        try:
            with transaction.atomic():
                self.instance = self.save_through_service(self.cleaned_data)
        except ApplicationError as error:
            form_add_service_error(self, error, self.service_error_fields())
        except ValidationError as error:  # a service's ``full_clean()``: the model's own field messages
            for field, messages in error.message_dict.items():
                self.add_error(field if field in self.fields else None, messages)


class ServiceAdmin(admin.ModelAdmin):
    """An admin whose add and change pages save through a ``ServiceForm`` (set ``form``). The row is
    saved when the form validates, so nothing is saved again here; deleting stays with the services."""

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form: Any = super().get_form(request, obj, change=change, **kwargs)
        form.actor = request.user  # a fresh class per request: modelform_factory made it
        return form

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        """Nothing to do: the form's service call saved ``obj``."""

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        """Nothing to do: the service wrote the related rows; inlines here are read-only."""

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
