"""The attribution vocabulary other apps may use: the choices stored in the attribution app's rows."""

from __future__ import annotations

from django.db import models


class AttributionModel(models.TextChoices):
    FIRST_TOUCH = "first_touch", "First touch"
    LAST_TOUCH = "last_touch", "Last touch"
    LINEAR = "linear", "Linear"
    POSITION_BASED = "position_based", "Position-based (40/20/40)"
    TIME_DECAY = "time_decay", "Time decay"
    SELF_REPORTED = "self_reported", "Self-reported"


class RunKind(models.TextChoices):
    INCREMENTAL = "incremental", "Incremental"
    FULL = "full", "Full recompute"


class RunState(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class RfmGroup(models.TextChoices):
    CHAMPIONS = "champions", "Champions"
    LOYAL = "loyal", "Loyal"
    POTENTIAL_LOYALIST = "potential_loyalist", "Potential loyalist"
    NEW = "new", "New"
    PROMISING = "promising", "Promising"
    NEED_ATTENTION = "need_attention", "Need attention"
    AT_RISK = "at_risk", "At risk"
    CANNOT_LOSE = "cannot_lose", "Cannot lose them"
    HIBERNATING = "hibernating", "Hibernating"


class RewardKind(models.TextChoices):
    DISCOUNT = "discount", "Discount code"
    POINTS = "points", "Points"


class SummaryState(models.TextChoices):
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    UNKNOWN_OUTCOME = "unknown_outcome", "Unknown outcome (a send was interrupted)"
    FAILED = "failed", "Failed"

