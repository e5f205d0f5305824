"""Services' errors shown as form errors: the rule stays in the service, the form only places it."""

from __future__ import annotations

import re
from collections.abc import Mapping

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from api.common.errors import ApplicationError

# French (or English) wording for the error codes a staff member meets on these screens. Codes
# not listed keep the service's own message, which is always shown as the service wrote it.
_CODE_MESSAGES = {
    "already_exists": _("A customer with this phone or e-mail already exists."),
    "identity_conflict": _("These details belong to two different customers: merge them first."),
    "erased_identity": _("This person asked to be forgotten."),
    "duplicate_payment": _("This transaction was already recorded."),
    "invalid_transition": _("This order cannot take this step now."),
    "order_closed": _("This order is closed: no payment can be recorded."),
    "nothing_to_refund": _("Nothing is left to refund on this order."),
    "already_merged": _("This customer was already merged into another card."),
    "not_found": _("This record no longer exists: reload the page."),
}

_INDEX = re.compile(r"\[\d+\]")


def add_service_error(form: forms.Form, error: ApplicationError, fields: Mapping[str, str] | None = None) -> None:
    """Put ``error`` on ``form``: each entry of ``error.errors`` on the form field its path maps to
    (``fields``: service path, exact or with list indexes dropped, to form field; same name by
    default), the rest as a non-field error. Assumes the caller rolled back whatever the service did.

    The services write English (their API wording); a message the catalogue knows is shown in the
    page's language, any other as the service wrote it."""
    fields = fields or {}
    placed = False
    for entry in error.errors:
        path = entry.get("field") or ""
        name = fields.get(path) or fields.get(_INDEX.sub("", path)) or path
        if name and name in form.fields:
            message = (_CODE_MESSAGES.get(entry.get("code", "")) or _CODE_MESSAGES.get(error.code)
                       or gettext(entry.get("message") or error.message))
            form.add_error(name, message)
            placed = True
    if not placed:
        form.add_error(None, _CODE_MESSAGES.get(error.code) or gettext(error.message))
