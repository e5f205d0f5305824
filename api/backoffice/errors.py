"""Services' errors shown as form errors: the rule stays in the service, the form only places it.

The services write English (the REST API's wording, which never changes); the back office shows each
message in the page's language, in one place here: a fixed message through the catalogue
(locale/fr/LC_MESSAGES/django.po), a message that carries values (an amount, an order number, the
allowed statuses…) through ``_SHAPES``, one pattern per English shape whose values are put into the
translated template, choice codes under their staff names (``labels``), amounts as FCFA.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from django import forms
from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext_lazy as _

from api.backoffice import labels
from api.common.errors import ApplicationError

# French (or English) wording for the error codes a staff member meets on these screens, whatever the
# service's message says. Codes not listed keep the service's own message, translated below
# (``invalid_transition`` among them: its messages name the steps allowed, or the order's status).
_CODE_MESSAGES = {
    "already_exists": _("A customer with this phone or e-mail already exists."),
    "identity_conflict": _("These details belong to two different customers: merge them first."),
    "erased_identity": _("This person asked to be forgotten."),
    "duplicate_payment": _("This transaction was already recorded."),
    "order_closed": _("This order is closed: no payment can be recorded."),
    "nothing_to_refund": _("Nothing is left to refund on this order."),
    "already_merged": _("This customer was already merged into another card."),
    "not_found": _("This record no longer exists: reload the page."),
}

_INDEX = re.compile(r"\[\d+\]")
_THIN_SPACE = "\u202f"
# The order of the label kinds a bare choice code is looked up in (a code of several kinds, such as
# ``pending``, is named as the first one says: on these screens it is an order's status).
_CODE_KINDS = ("order_status", "payment_method", "segment", "stage", "channel", "report_channel", "cost_kind",
               "campaign_status", "task_kind", "complaint_state", "rfm_group", "sequence_purpose",
               "audience_filter")


def _amount(raw: str) -> str:
    """``1000000`` → ``1 000 000`` (the template names the unit, FCFA)."""
    return f"{int(raw):,}".replace(",", _THIN_SPACE)


def _code_name(code: str) -> str:
    """A choice code under its staff name (``confirmed`` → ``Confirmée``); an unknown code as it is."""
    code = code.strip().strip("'\"")
    for kind in _CODE_KINDS:
        if code in labels.LABELS.get(kind, {}):
            return labels.label(kind, code)
    return code


def _code_names(raw: str) -> str:
    """``confirmed, cancelled`` → ``Confirmée, Annulée``; the service's "none (final status)" too."""
    if raw == "none (final status)":
        return gettext("none (final status)")
    return ", ".join(_code_name(code) for code in raw.strip("[]").split(",") if code.strip())


def _unquoted(raw: str) -> str:
    """A value the service quoted with ``repr`` (``'xyz'``), without its quotes."""
    return raw[1:-1] if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"" else raw


@dataclass(frozen=True)
class _Shape:
    """One English message shape: its pattern, the msgid of its template (``%(group)s`` for each named
    group) and how a captured value is shown (as it is unless named in ``values``)."""

    pattern: re.Pattern[str]
    template: str
    values: Mapping[str, Callable[[str], str]] = field(default_factory=dict)


def _shape(pattern: str, template: str, **values: Callable[[str], str]) -> _Shape:
    return _Shape(re.compile(pattern, re.DOTALL), template, values)


# Every formatted message a staff member can meet through the back office's screens, by service.
# Keep each pattern anchored: a message that matches none is looked up in the catalogue as it is.
_SHAPES: tuple[_Shape, ...] = (
    # api.orders: order_create, order_status_change, payment_record, order_refund, coupons.
    _shape(r"^Coupon (?P<code>\S+): (?P<reason>.+)$", gettext_noop("Coupon %(code)s: %(reason)s"),
           reason=lambda reason: service_message(reason)),
    _shape(r"^An order is at most (?P<most>\d+) XAF; split it\.$",
           gettext_noop("An order is at most %(most)s XAF; split it."), most=_amount),
    _shape(r"^The discount must be between 0 and the subtotal \((?P<subtotal>\d+)\)\.$",
           gettext_noop("The discount must be between 0 and the subtotal (%(subtotal)s XAF)."), subtotal=_amount),
    # Django's own wording, which its catalogue translates.
    _shape(r"^Ensure this value is greater than or equal to (?P<limit_value>-?\d+)\.$",
           gettext_noop("Ensure this value is greater than or equal to %(limit_value)s.")),
    _shape(r"^Choose one of (?P<choices>.+)\.$", gettext_noop("Choose one of %(choices)s."), choices=_code_names),
    _shape(r"^(?P<name>.+) is not sold any more\.$", gettext_noop("%(name)s is not sold any more.")),
    _shape(r"^No product #(?P<id>\d+)\.$", gettext_noop("No product #%(id)s.")),
    _shape(r"^No gift box #(?P<id>\d+)\.$", gettext_noop("No gift box #%(id)s.")),
    _shape(r"^No order #(?P<id>\d+)\.$", gettext_noop("No order #%(id)s.")),
    _shape(r"^Allowed: (?P<names>.+)\.$", gettext_noop("This order cannot take this step now. Allowed: %(names)s."),
           names=_code_names),
    _shape(r"^An order cannot go from (?P<current>\w+) to (?P<wanted>\w+)\. Allowed from \w+: (?P<names>.+)\.$",
           gettext_noop("An order cannot go from %(current)s to %(wanted)s. Allowed: %(names)s."),
           current=_code_name, wanted=_code_name, names=_code_names),
    _shape(r"^Only (?P<due>\d+) XAF is due on (?P<number>\S+)\.$",
           gettext_noop("Only %(due)s XAF is due on %(number)s."), due=_amount),
    _shape(r"^Order (?P<number>\S+) is (?P<status>\w+): no payment can be recorded\.$",
           gettext_noop("Order %(number)s is %(status)s: no payment can be recorded."), status=_code_name),
    _shape(r"^The (?P<method>\w+) transaction (?P<reference>.+) was already recorded\.$",
           gettext_noop("The %(method)s transaction %(reference)s was already recorded."), method=_code_name),
    _shape(r"^Only a delivered order can be refunded; (?P<number>\S+) is (?P<status>\w+)\.$",
           gettext_noop("Only a delivered order can be refunded; %(number)s is %(status)s."), status=_code_name),
    _shape(r"^Nothing is left to refund on (?P<number>\S+)\.$", gettext_noop("Nothing is left to refund on %(number)s.")),
    _shape(r"^Between (?P<low>\d+) and (?P<high>\d+) XAF can be refunded\.$",
           gettext_noop("Between %(low)s and %(high)s XAF can be refunded."), low=_amount, high=_amount),
    # api.contacts: quick add, edit, merge, erase, notes, tasks, import (and its row report).
    _shape(r"^(?P<value>.*) is not a valid phone number\.$", gettext_noop("%(value)s is not a valid phone number.")),
    _shape(r"^No contact #(?P<id>\d+)\.$", gettext_noop("No contact #%(id)s.")),
    _shape(r"^No contact #(?P<id>\d+) to be referred by\.$", gettext_noop("No contact #%(id)s to be referred by.")),
    _shape(r"^No task #(?P<id>\d+)\.$", gettext_noop("No task #%(id)s.")),
    _shape(r"^No import job #(?P<id>\d+)\.$", gettext_noop("No import job #%(id)s.")),
    _shape(r"^Contact #(?P<id>\d+) was erased\.$", gettext_noop("Contact #%(id)s was erased.")),
    _shape(r"^Contact #(?P<id>\d+) was merged or erased\.$", gettext_noop("Contact #%(id)s was merged or erased.")),
    _shape(r"^Contact #(?P<id>\d+) was merged or erased; it cannot be edited\.$",
           gettext_noop("Contact #%(id)s was merged or erased; it cannot be edited.")),
    _shape(r"^Cannot move the (?P<what>.+) of #(?P<source>\d+) to #(?P<target>\d+): it would break one of their "
           r"unique rules\.$",
           gettext_noop("Cannot move the %(what)s of #%(source)s to #%(target)s: it would break one of their unique "
                        "rules.")),
    _shape(r"^(?P<field>\w+): (?P<value>'.*'|\".*\") is not one of (?P<choices>.+)\.$",
           gettext_noop("%(value)s is not one of %(choices)s."), value=_unquoted, choices=_code_names),
    _shape(r"^(?P<value>'.*'|\".*\") is not one of (?P<choices>.+)\.$",
           gettext_noop("%(value)s is not one of %(choices)s."), value=_unquoted, choices=_code_names),
    _shape(r"^(?P<value>'.*'|\".*\") is not a valid choice\.$", gettext_noop("%(value)s is not a valid choice."),
           value=_unquoted),
    _shape(r"^The file cannot be read as CSV: (?P<reason>.+)\.$",
           gettext_noop("The file cannot be read as CSV: %(reason)s.")),
    _shape(r"^Not a readable CSV file: (?P<reason>.+)\.$", gettext_noop("Not a readable CSV file: %(reason)s.")),
    _shape(r"^Headers found: (?P<headers>.*)$", gettext_noop("Headers found: %(headers)s")),
    _shape(r"^The phone, WhatsApp number and e-mail of this row belong to two contacts: (?P<names>.+)\.$",
           gettext_noop("The phone, WhatsApp number and e-mail of this row belong to two contacts: %(names)s.")),
    _shape(r"^Unknown segment (?P<value>'.*'|\".*\"): use host, healthy, reseller \(or ébahir, sain, business\)\.$",
           gettext_noop("Unknown segment %(value)s: use host, healthy, reseller (or ébahir, sain, business)."),
           value=_unquoted),
    _shape(r"^At most (?P<most>\d+) characters\.$", gettext_noop("At most %(most)s characters.")),
    # Why an import stopped (``ImportJob.failure``); the last error is the worker's own, as it was raised.
    _shape(r"^The rows after row (?P<row>\d+) failed (?P<times>\d+) times in a row; the import stopped there "
           r"\(rows before it are imported\)\. Last error: (?P<error>.*)$",
           gettext_noop("The rows after row %(row)s failed %(times)s times in a row; the import stopped there (rows "
                        "before it are imported). Last error: %(error)s")),
    _shape(r"^Attempt (?P<attempt>\d+) of (?P<most>\d+) failed: (?P<error>.*)$",
           gettext_noop("Attempt %(attempt)s of %(most)s failed: %(error)s")),
    # api.campaigns: campaign_create, coupon_create, cost_create.
    _shape(r"^The code (?P<code>\S+) is already used\.$", gettext_noop("The code %(code)s is already used.")),
    _shape(r"^At most (?P<most>\d+) XAF\.$", gettext_noop("At most %(most)s XAF."), most=_amount),
    _shape(r"^Between 0 and (?P<most>\d+) XAF\.$", gettext_noop("Between 0 and %(most)s XAF."), most=_amount),
    _shape(r"^(?P<value>'.*'|\".*\") is not a cost kind\.$", gettext_noop("%(value)s is not a cost kind."),
           value=_unquoted),
    _shape(r"^(?P<value>'.*'|\".*\") is not a decimal amount\.$", gettext_noop("%(value)s is not a decimal amount."),
           value=_unquoted),
    _shape(r"^No campaign #(?P<id>\d+)\.$", gettext_noop("No campaign #%(id)s.")),
    # api.nurture: broadcasts and sequences, and the audience filters of api.contacts.
    _shape(r"^No sequence #(?P<id>\d+)\.$", gettext_noop("No sequence #%(id)s.")),
    _shape(r"^No step (?P<position>\d+) in sequence #(?P<id>\d+)\.$",
           gettext_noop("No step %(position)s in sequence #%(id)s.")),
    _shape(r"^No broadcast #(?P<id>\d+)\.$", gettext_noop("No broadcast #%(id)s.")),
    _shape(r"^Unknown: \[(?P<channels>.*)\]$", gettext_noop("Unknown: %(channels)s"), channels=_code_names),
    _shape(r"^Unknown audience filter: (?P<names>.+)\.$", gettext_noop("Unknown audience filter: %(names)s.")),
    _shape(r"^Unknown channel (?P<value>'.*'|\".*\")\.$", gettext_noop("Unknown channel %(value)s."), value=_unquoted),
    _shape(r"^One of: (?P<choices>.+)\.$", gettext_noop("One of: %(choices)s."), choices=_code_names),
    _shape(r"^Unknown (?P<name>rfm_group|segment|lifecycle_stage): (?P<values>.+)\.$",
           gettext_noop("Unknown %(name)s: %(values)s."), name=_code_name, values=_code_names),
    # api.common: the shared checks of numbers and choices.
    _shape(r"^Enter a whole number from (?P<low>-?\d+) to (?P<high>-?\d+)\.$",
           gettext_noop("Enter a whole number from %(low)s to %(high)s.")),
    _shape(r"^Select one of: (?P<choices>.+)\.$", gettext_noop("Select one of: %(choices)s."), choices=_code_names),
)


def service_message(message: str) -> str:
    """``message``, written by a service in English, in the active language: through the first shape of
    ``_SHAPES`` it matches (its values filled in its translated template), else the catalogue. Where
    there is no translation (English), the service's own message, word for word."""
    for shape in _SHAPES:
        found = shape.pattern.match(message)
        if found is None:
            continue
        translated = gettext(shape.template)
        if translated == shape.template:
            return message
        values = {name: shape.values.get(name, str)(value) for name, value in found.groupdict().items()}
        return translated % values
    return gettext(message)


def add_service_error(form: forms.Form, error: ApplicationError, fields: Mapping[str, str] | None = None) -> None:
    """Put ``error`` on ``form``: each entry of ``error.errors`` on the form field its path maps to
    (``fields``: service path, exact or with list indexes dropped, to form field; same name by
    default), the rest as a non-field error. Assumes the caller rolled back whatever the service did.

    The services write English (their API wording); each message is shown in the page's language
    (``service_message``), or replaced by the wording of its code (``_CODE_MESSAGES``)."""
    fields = fields or {}
    placed = False
    for entry in error.errors:
        path = entry.get("field") or ""
        name = fields.get(path) or fields.get(_INDEX.sub("", path)) or path
        if name and name in form.fields:
            message = (_CODE_MESSAGES.get(entry.get("code", "")) or _CODE_MESSAGES.get(error.code)
                       or service_message(entry.get("message") or error.message))
            form.add_error(name, message)
            placed = True
    if not placed:
        form.add_error(None, _CODE_MESSAGES.get(error.code) or service_message(error.message))
