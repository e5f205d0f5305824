"""The orders vocabulary other apps may use: the choices stored in the orders app's rows."""

from __future__ import annotations

from django.db import models


class ProductKind(models.TextChoices):
    SYRUP = "syrup", "Syrup"
    LIQUEUR = "liqueur", "Liqueur"
    OTHER = "other", "Other"


class Tier(models.TextChoices):
    STANDARD = "standard", "Standard"
    PREMIUM = "premium", "Premium"
    ULTRA = "ultra", "Ultra-premium"


class OrderStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    CONFIRMED = "confirmed", "Confirmed"
    PREPARING = "preparing", "Preparing"
    READY = "ready", "Ready"
    OUT_FOR_DELIVERY = "out_for_delivery", "Out for delivery"
    DELIVERED = "delivered", "Delivered"
    CANCELLED = "cancelled", "Cancelled"
    REFUNDED = "refunded", "Refunded"


class PaymentMethod(models.TextChoices):
    CASH = "cash", "Cash"
    ORANGE_MONEY = "orange_money", "Orange Money"
    MTN_MOMO = "mtn_momo", "MTN Mobile Money"
    BANK_TRANSFER = "bank_transfer", "Bank transfer"
    CARD = "card", "Card"


class PaymentStatus(models.TextChoices):
    UNPAID = "unpaid", "Unpaid"
    PARTIAL = "partial", "Partially paid"
    PAID = "paid", "Paid"
    REFUNDED = "refunded", "Refunded"


class ComplaintState(models.TextChoices):
    OPEN = "open", "Open"
    IN_PROGRESS = "in_progress", "In progress"
    RESOLVED = "resolved", "Resolved"
    CLOSED = "closed", "Closed"


class DeliveryState(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class OrderEventKind(models.TextChoices):
    """What happened to an order, as told to other apps' listeners (``api.orders.events``)."""

    CREATED = "created", "Created"
    STATUS_CHANGED = "status_changed", "Status changed"
    PAID = "paid", "Paid"
    REFUNDED = "refunded", "Refunded"
    FEEDBACK = "feedback", "Feedback"


class OrderEventDeliveryState(models.TextChoices):
    """Where one order event stands with one listener (``api.orders.events``)."""

    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"
