from typing import Any

from django.contrib import admin

from api.orders import models, services
from api.orders.enums import OrderEventDeliveryState


class GiftBoxItemInline(admin.TabularInline):
    model = models.GiftBoxItem
    extra = 1


@admin.register(models.Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["sku", "name", "kind", "tier", "price_xaf", "unit_cost_xaf", "active"]
    list_filter = ["kind", "tier", "active"]
    search_fields = ["sku", "name"]


@admin.register(models.GiftBox)
class GiftBoxAdmin(admin.ModelAdmin):
    list_display = ["sku", "name", "tier", "price_xaf", "active"]
    list_filter = ["tier", "active"]
    inlines = [GiftBoxItemInline]


class OrderLineInline(admin.TabularInline):
    model = models.OrderLine
    extra = 0
    readonly_fields = ["unit_price_xaf", "line_total_xaf"]


class StatusHistoryInline(admin.TabularInline):
    model = models.OrderStatusHistory
    extra = 0
    can_delete = False
    readonly_fields = ["from_status", "to_status", "at", "by", "by_partner", "note"]


@admin.register(models.Order)
class OrderAdmin(admin.ModelAdmin):
    """Read-mostly: status, payments and refunds go through the API so that history and events follow."""

    list_display = ["number", "contact", "partner", "status", "payment_status", "total_xaf", "created_at"]
    list_filter = ["status", "payment_status", "is_sample"]
    search_fields = ["number", "contact__name", "contact__phone"]
    raw_id_fields = ["contact", "recipient", "partner", "created_by"]
    readonly_fields = ["number", "status", "payment_status", "subtotal_xaf", "total_xaf", "paid_xaf", "refunded_xaf"]
    inlines = [OrderLineInline, StatusHistoryInline]


@admin.register(models.Partner)
class PartnerAdmin(admin.ModelAdmin):
    list_display = ["name", "contact_person", "discount_percent", "active"]
    exclude = ["webhook_secret"]

    def save_model(self, request: Any, obj: models.Partner, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        services.partner_api_keys_forget(partner_id=obj.pk)


@admin.register(models.PartnerApiKey)
class PartnerApiKeyAdmin(admin.ModelAdmin):
    list_display = ["prefix", "partner", "name", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "key_hash", "last_used_at"]

    def save_model(self, request: Any, obj: models.PartnerApiKey, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        services.partner_api_keys_forget(partner_id=obj.partner_id)

    def delete_model(self, request: Any, obj: models.PartnerApiKey) -> None:
        services.partner_api_keys_forget(partner_id=obj.partner_id)
        super().delete_model(request, obj)


@admin.register(models.Complaint)
class ComplaintAdmin(admin.ModelAdmin):
    list_display = ["id", "contact", "order", "state", "owner", "created_at"]
    list_filter = ["state"]
    raw_id_fields = ["contact", "order"]


@admin.register(models.WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ["id", "partner", "event", "state", "attempts", "next_attempt_at", "last_status_code"]
    list_filter = ["state", "event"]


@admin.register(models.OrderEventDelivery)
class OrderEventDeliveryAdmin(admin.ModelAdmin):
    """Order events by listener: the failed ones are the list to watch (also counted in /api/v1/health)."""

    list_display = ["id", "event", "listener", "state", "attempts", "next_attempt_at", "last_error", "delivered_at"]
    list_filter = ["state", "listener"]
    list_select_related = ["event"]
    readonly_fields = ["event", "listener", "state", "attempts", "next_attempt_at", "last_error", "delivered_at",
                       "created_at"]
    actions = ["retry"]

    @admin.action(description="Deliver the selected failed events again")
    def retry(self, request: Any, queryset: Any) -> None:
        for delivery_id in queryset.filter(state=OrderEventDeliveryState.FAILED).values_list("pk", flat=True):
            services.order_event_delivery_retry(delivery_id=delivery_id)


@admin.register(models.OrderEventRecord)
class OrderEventRecordAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "order_id", "created_at"]
    list_filter = ["kind"]
    search_fields = ["order_id"]
    readonly_fields = ["kind", "order_id", "payload", "created_at"]


admin.site.register([models.Payment, models.Refund, models.Feedback])
