"""The back office's forms. They only collect and type what staff enter: every business rule
(phone formats, amounts, allowed statuses) is checked by the service the view calls, whose errors
``errors.add_service_error`` places on the form."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from api.backoffice import labels
from api.contacts.enums import Segment
from api.orders.enums import PaymentMethod

ORDER_LINES = 3
WHERE_FROM_HELP = _("How did you hear of us? Always ask: the weekly ROI depends on it.")


class ContactSearchForm(forms.Form):
    q = forms.CharField(label=_("Name or phone"), required=False, max_length=100,
                        widget=forms.TextInput(attrs={"type": "search", "autocomplete": "off",
                                                      "placeholder": _("e.g. Ngo Biyong or 699 12 34 56")}))


class ContactQuickAddForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)
    phone = forms.CharField(label=_("Phone"), max_length=40,
                            widget=forms.TextInput(attrs={"type": "tel", "inputmode": "tel",
                                                          "placeholder": "699 12 34 56"}))
    city = forms.CharField(label=_("City"), max_length=100, required=False)
    neighbourhood = forms.CharField(label=_("Neighbourhood"), max_length=100, required=False)
    segment = forms.ChoiceField(label=_("Segment"), choices=labels.choices("segment"), initial=Segment.UNKNOWN)
    self_reported_source = forms.CharField(label=_("Where did they hear of us?"), max_length=200, required=False,
                                           help_text=WHERE_FROM_HELP)


class NoteForm(forms.Form):
    text = forms.CharField(label=_("Note"), max_length=5000, widget=forms.Textarea(attrs={"rows": 2}))


class ContactIdsField(forms.Field):
    """Contact ids sent as repeated hidden inputs (``avec=7&avec=9``)."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value: Any) -> list[int]:
        if not value:
            return []
        values = value if isinstance(value, list | tuple) else [value]
        try:
            return [int(v) for v in values]
        except (TypeError, ValueError):
            raise forms.ValidationError(_("Choose customers from the list."), code="invalid") from None


class MergeForm(forms.Form):
    """Which customer stays (``garder``) and who is folded into them (``avec``); ``contact_merge``
    decides whether it may be done."""

    garder = forms.IntegerField(widget=forms.HiddenInput)
    avec = ContactIdsField(label=_("Merged into them"), required=False)


class ImportUploadForm(forms.Form):
    file = forms.FileField(label=_("CSV file"), help_text=_(
        "Columns in French or English: nom, téléphone, whatsapp, email, ville, quartier, segment, source, tags, "
        "note. Separated by ; or , (an Excel export works)."),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}))
    consent_given = forms.BooleanField(
        label=_("These people agreed again to hear from us"), required=False,
        help_text=_("Only then are people who asked to be forgotten added back."))


class EraseForm(forms.Form):
    confirm = forms.BooleanField(label=_("I understand: this person's details are deleted for good."))


class OrderForm(forms.Form):
    """One order taken on the phone: the buyer (a found contact or a phone and a name), up to
    ``ORDER_LINES`` lines, coupon, delivery fee and where the customer heard of the shop."""

    contact_id = forms.IntegerField(required=False, widget=forms.HiddenInput)
    customer_phone = forms.CharField(label=_("Customer's phone"), max_length=40, required=False,
                                     widget=forms.TextInput(attrs={"type": "tel", "inputmode": "tel"}))
    customer_name = forms.CharField(label=_("Customer's name"), max_length=200, required=False)
    coupon_code = forms.CharField(label=_("Coupon"), max_length=60, required=False)
    delivery_fee_xaf = forms.IntegerField(label=_("Delivery fee (FCFA)"), initial=0, required=False,
                                          widget=forms.NumberInput(attrs={"inputmode": "numeric"}))
    payment_method = forms.ChoiceField(label=_("Payment"), initial=PaymentMethod.CASH,
                                       choices=labels.choices("payment_method", labels.COUNTER_PAYMENT_METHODS))
    self_reported_source = forms.CharField(label=_("Where did they hear of us?"), max_length=200, required=False,
                                           help_text=WHERE_FROM_HELP)
    delivery_address = forms.CharField(label=_("Delivery address"), max_length=300, required=False)
    neighbourhood = forms.CharField(label=_("Neighbourhood"), max_length=100, required=False)
    note = forms.CharField(label=_("Note"), max_length=1000, required=False,
                           widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args: Any, catalog: list[tuple[str, Any]], **kwargs: Any) -> None:
        """``catalog``: (``box:<id>`` or ``product:<id>``, name and price) pairs to choose from, or
        (group name, pairs) groups of them."""
        super().__init__(*args, **kwargs)
        options = [("", "—"), *catalog]
        for i in range(ORDER_LINES):
            self.fields[f"item_{i}"] = forms.ChoiceField(label=_("Item"), choices=options, required=i == 0)
            self.fields[f"quantity_{i}"] = forms.IntegerField(
                label=_("Quantity"), initial=1, required=False, widget=forms.NumberInput(attrs={"inputmode": "numeric"}))

    def line_fields(self) -> list[tuple[forms.BoundField, forms.BoundField]]:
        return [(self[f"item_{i}"], self[f"quantity_{i}"]) for i in range(ORDER_LINES)]

    def lines(self) -> tuple[list[dict[str, Any]], dict[str, str]]:
        """The service's ``lines`` and where each line's errors go on this form."""
        lines: list[dict[str, Any]] = []
        # contact_upsert names the buyer's phone ``phone``; order_create names the buyer ``contact_id``.
        where: dict[str, str] = {"lines": "item_0", "contact_id": "customer_phone", "phone": "customer_phone",
                                 "customer.phone": "customer_phone"}
        for i in range(ORDER_LINES):
            item = self.cleaned_data.get(f"item_{i}")
            if not item:
                continue
            kind, _sep, pk = item.partition(":")
            n = len(lines)
            where.update({f"lines[{n}]": f"item_{i}", f"lines[{n}].product_id": f"item_{i}",
                          f"lines[{n}].gift_box_id": f"item_{i}", f"lines[{n}].quantity": f"quantity_{i}"})
            quantity = self.cleaned_data.get(f"quantity_{i}")
            lines.append({"gift_box_id" if kind == "box" else "product_id": int(pk),
                          "quantity": 1 if quantity is None else quantity})
        return lines, where


class StatusForm(forms.Form):
    status = forms.ChoiceField(label=_("Next step"))
    note = forms.CharField(label=_("Note"), max_length=500, required=False)

    def __init__(self, *args: Any, allowed: tuple[str, ...], **kwargs: Any) -> None:
        """``allowed``: the next statuses the orders app allows from the order's status."""
        super().__init__(*args, **kwargs)
        status = self.fields["status"]
        assert isinstance(status, forms.ChoiceField)
        status.choices = labels.choices("order_status", allowed)


class PaymentForm(forms.Form):
    amount_xaf = forms.IntegerField(label=_("Amount (FCFA)"), widget=forms.NumberInput(attrs={"inputmode": "numeric"}))
    method = forms.ChoiceField(label=_("Method"), choices=labels.choices("payment_method",
                                                                          labels.COUNTER_PAYMENT_METHODS))
    provider_reference = forms.CharField(label=_("Transaction reference (Orange Money, MTN MoMo)"), max_length=100,
                                         required=False)


class RefundForm(forms.Form):
    amount_xaf = forms.IntegerField(label=_("Amount (FCFA), empty for everything refundable"), required=False,
                                    widget=forms.NumberInput(attrs={"inputmode": "numeric"}))
    keep_delivery_fee = forms.BooleanField(label=_("Keep the delivery fee"), initial=True, required=False)
    reason = forms.CharField(label=_("Reason"), max_length=500, required=False)
