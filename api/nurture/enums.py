"""The nurture vocabulary other apps may use: the choices stored in the nurture app's rows."""

from __future__ import annotations

from django.db import models


class Purpose(models.TextChoices):
    """What a sequence is for; triggers look sequences up by purpose."""

    INTRODUCTION = "introduction", "Introduction (every new contact)"
    CAMPAIGN = "campaign", "Campaign (bot start with the campaign's code)"
    AFTER_SALE = "after_sale", "After sale (delivered order)"
    MONTHLY = "monthly", "Monthly personal message"
    MANUAL = "manual", "Manual (staff enroll)"

