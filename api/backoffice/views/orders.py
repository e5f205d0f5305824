"""Commandes: take an order on the phone, move it along, record payments and refunds, share its number."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _

from api.backoffice.forms import OrderForm, PaymentForm, RefundForm, StatusForm
from api.backoffice.views.base import StaffPageView, call_service
from api.common.errors import NotFoundError
from api.contacts.selectors import contact_get
from api.orders.enums import OrderStatus
from api.orders.selectors import (
    gift_box_list,
    order_get,
    order_list,
    order_next_statuses,
    payment_instructions,
    product_list,
)
from api.orders.services import order_create, order_refund, order_status_change, payment_record

RECENT_ORDERS = 30
# Statuses from which the order page offers the refund form (``order_refund`` decides the rest).
REFUNDABLE = (OrderStatus.DELIVERED, OrderStatus.REFUNDED)


def _priced(name: str, price_xaf: int) -> str:
    """``Coffret Découverte — 10 000 FCFA``: a catalogue entry as the order form lists it."""
    return f"{name} — {price_xaf:,} FCFA".replace(",", "\u202f")


def _catalog() -> list[tuple[str, list[tuple[str, str]]]]:
    """What an order line may hold, by group: the active coffrets, then the active products sold
    on their own, each with its price. An empty group is left out."""
    boxes = [(f"box:{box.pk}", _priced(box.name, box.price_xaf))
             for box in gift_box_list(active_only=True).prefetch_related(None).only("pk", "name", "price_xaf")
             .order_by("name")]
    products = [(f"product:{p.pk}", _priced(p.name, p.price_xaf))
                for p in product_list(active_only=True).only("pk", "name", "price_xaf").order_by("name")]
    groups = [(str(_("Gift boxes")), boxes), (str(_("Products")), products)]
    return [(name, items) for name, items in groups if items]


def whatsapp_share_url(order: Any) -> str:
    """A wa.me link that opens WhatsApp with the order number and how to pay, to the buyer when known."""
    text = quote(payment_instructions(order)["text"])
    phone = (order.contact.whatsapp or order.contact.phone or "").lstrip("+") if order.contact_id else ""
    return f"https://wa.me/{phone}?text={text}"


class OrderListView(StaffPageView):
    """The latest orders, newest first."""

    template_name = "backoffice/orders/list.html"
    section = "orders"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["orders"] = list(order_list().order_by("-created_at", "-pk")[:RECENT_ORDERS])
        return context


class OrderCreateView(StaffPageView):
    """The order form; the buyer is ``?client=<id>`` or a phone and a name (found or created by
    ``order_create``); the order's totals, coupon and number come from ``order_create``."""

    template_name = "backoffice/orders/new.html"
    section = "orders"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        initial: dict[str, Any] = {}
        customer = self._customer(request.GET.get("client"))
        if customer is not None:
            initial["contact_id"] = customer.pk
        form = OrderForm(initial=initial, catalog=_catalog())
        return self.render_to_response(self.get_context_data(form=form, customer=customer))

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        form = OrderForm(request.POST, catalog=_catalog())
        order = None
        if form.is_valid():
            data = form.cleaned_data
            lines, where = form.lines()
            buyer: dict[str, Any] = {"contact_id": data["contact_id"]}
            if data["contact_id"] is None:
                buyer = {"customer": {"phone": data["customer_phone"], "name": data["customer_name"]}
                         if data["customer_phone"] else None}
            order = call_service(
                form, order_create, fields=where, actor=request.user, lines=lines, **buyer,
                coupon_code=data["coupon_code"].strip(), delivery_fee_xaf=data["delivery_fee_xaf"] or 0,
                payment_method=data["payment_method"], self_reported_source=data["self_reported_source"],
                delivery_address=data["delivery_address"], neighbourhood=data["neighbourhood"], note=data["note"])
        if order is None:
            customer = self._customer(request.POST.get("contact_id"))
            return self.render_to_response(self.get_context_data(form=form, customer=customer), status=400)
        messages.success(request, _("Order %(number)s taken.") % {"number": order.number})
        return redirect("backoffice:order-detail", pk=order.pk)

    @staticmethod
    def _customer(raw: str | None) -> Any:
        if not raw or not raw.isdigit():
            return None
        try:
            return contact_get(int(raw))
        except NotFoundError:
            return None


class OrderDetailView(StaffPageView):
    """The order page: lines, totals, history; only the next statuses the orders app allows; a
    payment form; a refund form once delivered (the delivery fee kept by default)."""

    template_name = "backoffice/orders/detail.html"
    section = "orders"
    # Which form a POST carries (its ``action`` field) and the service that handles it.
    actions = ("status", "payment", "refund")

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return self.render_page()

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        action = request.POST.get("action", "")
        if action not in self.actions:
            return self.render_page(status=400)
        try:
            order = order_get(order_id=self.kwargs["pk"])
        except NotFoundError:
            return self.not_found()
        form, done = getattr(self, f"handle_{action}")(order)
        if done:
            return redirect("backoffice:order-detail", pk=order.pk)
        return self.render_page(**{f"{action}_form": form}, status=400)

    def handle_status(self, order: Any) -> tuple[StatusForm, bool]:
        form = StatusForm(self.request.POST, allowed=self.next_statuses(order))
        done = form.is_valid() and call_service(
            form, order_status_change, order_id=order.pk, status=form.cleaned_data["status"],
            note=form.cleaned_data["note"], actor=self.request.user) is not None
        if done:
            messages.success(self.request, _("Order moved on."))
        return form, done

    def handle_payment(self, order: Any) -> tuple[PaymentForm, bool]:
        form = PaymentForm(self.request.POST)
        done = form.is_valid() and call_service(
            form, payment_record, order_id=order.pk, amount_xaf=form.cleaned_data["amount_xaf"],
            method=form.cleaned_data["method"], provider_reference=form.cleaned_data["provider_reference"].strip(),
            actor=self.request.user) is not None
        if done:
            messages.success(self.request, _("Payment recorded."))
        return form, done

    def handle_refund(self, order: Any) -> tuple[RefundForm, bool]:
        form = RefundForm(self.request.POST)
        done = form.is_valid() and call_service(
            form, order_refund, order_id=order.pk, amount_xaf=form.cleaned_data["amount_xaf"],
            keep_delivery_fee=form.cleaned_data["keep_delivery_fee"], reason=form.cleaned_data["reason"],
            actor=self.request.user) is not None
        if done:
            messages.success(self.request, _("Refund recorded."))
        return form, done

    @staticmethod
    def next_statuses(order: Any) -> tuple[str, ...]:
        """The orders app's next statuses, without ``refunded``: a refund has its own form."""
        return tuple(s for s in order_next_statuses(order) if s != OrderStatus.REFUNDED)

    def not_found(self) -> HttpResponse:
        return TemplateResponse(self.request, "backoffice/not_found.html", {"section": self.section}, status=404)

    def render_page(self, status: int = 200, **forms: Any) -> HttpResponse:
        try:
            order = order_get(order_id=self.kwargs["pk"])
        except NotFoundError:
            return self.not_found()
        allowed = self.next_statuses(order)
        due = max(0, order.total_xaf - order.paid_xaf)
        context = self.get_context_data(
            order=order, allowed=allowed, due=due, share_url=whatsapp_share_url(order),
            lines=list(order.lines.all()), history=sorted(order.history.all(), key=lambda h: h.at, reverse=True),
            payments=list(order.payments.all()), refunds=list(order.refunds.all()),
            status_form=forms.get("status_form") or StatusForm(allowed=allowed),
            payment_form=forms.get("payment_form") or PaymentForm(initial={"amount_xaf": due}),
            refund_form=forms.get("refund_form") or RefundForm(),
            refundable=order.status in REFUNDABLE,
        )
        return self.render_to_response(context, status=status)
