"""The contacts vocabulary other apps may use: the choices stored in the contacts app's rows."""

from __future__ import annotations

from django.db import models


class Channel(models.TextChoices):
    """Every way Confiotes talks with a person; the vocabulary shared by all apps."""

    TELEGRAM = "telegram", "Telegram"
    MESSENGER = "messenger", "Facebook Messenger"
    WHATSAPP = "whatsapp", "WhatsApp"
    INSTAGRAM = "instagram", "Instagram"
    EMAIL = "email", "E-mail"
    SMS = "sms", "SMS"
    PHONE = "phone", "Phone call"
    IN_PERSON = "in_person", "In person"


class Segment(models.TextChoices):
    """The three target segments of the marketing plan (and ``unknown``)."""

    HOST = "host", "Host (buys to impress guests)"
    HEALTHY = "healthy", "Healthy (natural local food for the family)"
    RESELLER = "reseller", "Reseller (buys to resell)"
    UNKNOWN = "unknown", "Unknown"


class LifecycleStage(models.TextChoices):
    SUSPECT = "suspect", "Suspect"
    PROSPECT = "prospect", "Prospect"
    CUSTOMER = "customer", "Customer"
    REPEAT_CUSTOMER = "repeat_customer", "Repeat customer"
    AMBASSADOR = "ambassador", "Ambassador"
    INACTIVE = "inactive", "Inactive"

