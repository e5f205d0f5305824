"""Who may use the back office: active staff accounts, signed in with Django's session."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _
from django_htmx.http import HttpResponseClientRedirect


def is_staff(user: Any) -> bool:
    return bool(user.is_authenticated and user.is_active and user.is_staff)


class StaffAuthenticationForm(AuthenticationForm):
    """Django's sign-in form that also refuses accounts that are not staff."""

    def confirm_login_allowed(self, user: Any) -> None:
        super().confirm_login_allowed(user)
        if not user.is_staff:
            raise forms.ValidationError(_("This account is not a staff account."), code="not_staff")


class StaffRequiredMixin:
    """Send anyone who is not signed in as staff to the sign-in page (htmx follows with a full redirect)."""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not is_staff(request.user):
            login = redirect_to_login(request.get_full_path())
            if getattr(request, "htmx", False):
                return HttpResponseClientRedirect(login.url)
            return login
        return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]
