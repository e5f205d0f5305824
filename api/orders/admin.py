"""Catalog, orders and partners in the Django admin (superusers only).

Products and new orders are saved through ``product_create`` / ``product_update`` and
``order_create``: an order's prices, unit costs, totals, number, history and events come from the
service, never from what is typed. An order is then moved along, paid or refunded in the back office
or the API (its page here is read-only), and everything else is shown read-only; writes stay with
the services and workers that own them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from api.common.admin import ReadOnlyAdmin, ReadOnlyInline, ServiceAdmin, ServiceForm
from api.orders import models, services
from api.orders.enums import OrderEventDeliveryState

# How many lines the admin's order form offers (``item_n`` and ``quantity_n`` of ``OrderForm``); an
# order with more is taken in the back office.
ORDER_FORM_LINES = 3
PRODUCT_FIELDS = ["sku", "name", "kind", "volume_ml", "tier", "price_xaf", "unit_cost_xaf", "active"]
ORDER_FIELDS = ["contact", "payment_method", "delivery_fee_xaf", "delivery_address", "neighbourhood", "coupon_code",
                "campaign_code", "self_reported_source", "is_sample", "note"]


class ProductForm(ServiceForm):
    """A catalog product, saved by ``product_create`` (add) or ``product_update`` (the changed fields)."""

    class Meta:
        model = models.Product
        fields = PRODUCT_FIELDS

    def save_through_service(self, data: dict[str, Any]) -> models.Product:
        values = {name: data[name] for name in PRODUCT_FIELDS if name in data}
        if self.instance.pk is None:
            return services.product_create(**values)
        changed = {name: values[name] for name in self.changed_data if name in values}
        return services.product_update(product_id=self.instance.pk, **changed) if changed else self.instance


@admin.register(models.Product)
class ProductAdmin(ServiceAdmin):
    form = ProductForm
    list_display = ["sku", "name", "kind", "tier", "price_xaf", "unit_cost_xaf", "active"]
    list_filter = ["kind", "tier", "active"]
    search_fields = ["sku", "name"]


class GiftBoxItemInline(ReadOnlyInline):
    model = models.GiftBoxItem


@admin.register(models.GiftBox)
class GiftBoxAdmin(ReadOnlyAdmin):
    """Gift boxes and their content are edited through the API (``gift_box_create`` / ``gift_box_update``)."""

    list_display = ["sku", "name", "tier", "price_xaf", "active"]
    list_filter = ["tier", "active"]
    inlines = [GiftBoxItemInline]


def _catalog_choices() -> list[tuple[str, str]]:
    """What an order line may hold: the active products and gift boxes (read on each form)."""
    products = [(f"product:{p.pk}", f"{p.name} — {p.price_xaf} XAF")
                for p in models.Product.objects.filter(active=True).order_by("name")]
    boxes = [(f"box:{b.pk}", f"{b.name} — {b.price_xaf} XAF")
             for b in models.GiftBox.objects.filter(active=True).order_by("name")]
    return [("", "---------"), *products, *boxes]


class OrderForm(ServiceForm):
    """A new order: the buyer, up to ``ORDER_FORM_LINES`` catalog items with their quantities, and
    the delivery and payment details, saved by ``order_create`` (which prices every line)."""

    # The line slots (the admin needs declared fields); the choices are read each time a form is built.
    item_1 = forms.ChoiceField(label="Item 1", choices=_catalog_choices)
    quantity_1 = forms.IntegerField(label="Quantity 1", min_value=1, initial=1)
    item_2 = forms.ChoiceField(label="Item 2", choices=_catalog_choices, required=False)
    quantity_2 = forms.IntegerField(label="Quantity 2", min_value=1, required=False)
    item_3 = forms.ChoiceField(label="Item 3", choices=_catalog_choices, required=False)
    quantity_3 = forms.IntegerField(label="Quantity 3", min_value=1, required=False)

    class Meta:
        model = models.Order
        fields = ORDER_FIELDS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._line_fields: dict[str, str] = {}

    def lines(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        """The filled line slots as ``order_create`` lines; remembers which slot each line came from."""
        lines: list[dict[str, Any]] = []
        self._line_fields = {}
        for n in range(1, ORDER_FORM_LINES + 1):
            item = data.get(f"item_{n}")
            if not item:
                continue
            kind, _, pk = item.partition(":")
            where = f"lines[{len(lines)}]"
            self._line_fields.update({where: f"item_{n}", f"{where}.product_id": f"item_{n}",
                                      f"{where}.gift_box_id": f"item_{n}", f"{where}.quantity": f"quantity_{n}"})
            key = "product_id" if kind == "product" else "gift_box_id"
            lines.append({key: int(pk), "quantity": data.get(f"quantity_{n}") or 1})
        return lines

    def service_error_fields(self) -> Mapping[str, str]:
        return {"contact_id": "contact", "lines": "item_1", **self._line_fields}

    def save_through_service(self, data: dict[str, Any]) -> models.Order:
        return services.order_create(
            contact_id=data["contact"].pk, lines=self.lines(data), actor=self.actor,
            payment_method=data["payment_method"], delivery_fee_xaf=data["delivery_fee_xaf"] or 0,
            delivery_address=data["delivery_address"], neighbourhood=data["neighbourhood"],
            coupon_code=data["coupon_code"].strip(), campaign_code=data["campaign_code"].strip(),
            self_reported_source=data["self_reported_source"], is_sample=data["is_sample"], note=data["note"],
            sales_channel="admin")


class OrderLineInline(ReadOnlyInline):
    model = models.OrderLine
    fields = ["product", "gift_box", "quantity", "unit_price_xaf", "unit_cost_xaf", "line_total_xaf", "batch",
              "best_before"]


class StatusHistoryInline(ReadOnlyInline):
    model = models.OrderStatusHistory
    fields = ["from_status", "to_status", "at", "by", "by_partner", "note"]


@admin.register(models.Order)
class OrderAdmin(ServiceAdmin):
    """New orders through ``order_create``; an existing order is read-only here: status, payments and
    refunds go through the back office or the API so that history and events follow."""

    form = OrderForm
    list_display = ["number", "contact", "partner", "status", "payment_status", "total_xaf", "created_at"]
    list_filter = ["status", "payment_status", "is_sample"]
    list_select_related = ["contact", "partner"]
    search_fields = ["number", "contact__name", "contact__phone"]
    raw_id_fields = ["contact"]
    inlines = [OrderLineInline, StatusHistoryInline]

    def get_fields(self, request: HttpRequest, obj: models.Order | None = None) -> Any:
        if obj is None:
            slots = [f"{kind}_{n}" for n in range(1, ORDER_FORM_LINES + 1) for kind in ("item", "quantity")]
            return [ORDER_FIELDS[0], *slots, *ORDER_FIELDS[1:]]
        return super().get_fields(request, obj)

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is not None:  # the read-only page of an existing order: the model's own fields
            kwargs["form"] = forms.ModelForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_inlines(self, request: HttpRequest, obj: models.Order | None) -> list[Any]:
        return self.inlines if obj is not None else []

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(models.Partner)
class PartnerAdmin(ReadOnlyAdmin):
    """Partners are created and changed through the API (``partner_create`` / ``partner_update``),
    which also forgets the cached keys."""

    list_display = ["name", "contact_person", "discount_percent", "active"]
    exclude = ["webhook_secret"]


@admin.register(models.PartnerApiKey)
class PartnerApiKeyAdmin(ReadOnlyAdmin):
    """Keys are made through the API (the raw key is shown once); revoking one is an action here."""

    list_display = ["prefix", "partner", "name", "created_at", "last_used_at", "revoked_at"]
    list_select_related = ["partner"]
    exclude = ["key_hash"]
    actions = ["revoke"]

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request: HttpRequest, queryset: Any) -> None:
        """Revoke each selected key that is still active, through ``partner_api_key_revoke``."""
        for key_id, partner_id in queryset.filter(revoked_at__isnull=True).values_list("pk", "partner_id"):
            services.partner_api_key_revoke(partner_id=partner_id, key_id=key_id)


@admin.register(models.Complaint)
class ComplaintAdmin(ReadOnlyAdmin):
    list_display = ["id", "contact", "order", "state", "owner", "created_at"]
    list_filter = ["state"]
    list_select_related = ["contact", "order", "owner"]


@admin.register(models.WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ["id", "partner", "event", "state", "attempts", "next_attempt_at", "last_status_code"]
    list_filter = ["state", "event"]
    list_select_related = ["partner"]


@admin.register(models.OrderEventDelivery)
class OrderEventDeliveryAdmin(ReadOnlyAdmin):
    """Order events by listener: the failed ones are the list to watch (also counted in /api/v1/health)."""

    list_display = ["id", "event", "listener", "state", "attempts", "next_attempt_at", "last_error", "delivered_at"]
    list_filter = ["state", "listener"]
    list_select_related = ["event"]
    actions = ["retry"]

    @admin.action(description="Deliver the selected failed events again")
    def retry(self, request: HttpRequest, queryset: Any) -> None:
        """Queue each selected failed delivery again, through ``order_event_delivery_retry``."""
        for delivery_id in queryset.filter(state=OrderEventDeliveryState.FAILED).values_list("pk", flat=True):
            services.order_event_delivery_retry(delivery_id=delivery_id)


@admin.register(models.OrderEventRecord)
class OrderEventRecordAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "order_id", "created_at"]
    list_filter = ["kind"]
    search_fields = ["order_id"]


@admin.register(models.Payment, models.Refund, models.Feedback)
class OrderMoneyAdmin(ReadOnlyAdmin):
    """Payments, refunds and feedback are recorded on the order (``payment_record``, ``order_refund``,
    ``feedback_record``), which keeps its totals and events in step."""

    list_select_related = ["order"]
