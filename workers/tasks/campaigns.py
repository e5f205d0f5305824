"""Facebook syncs: thin tasks that call the campaigns services.

Both are idempotent (the services write only what changed, under a locked cursor row) and
``acks_late``. A throttle (``RateLimited``) is retried after the wait Meta asked for; transient
failures retry with capped exponential backoff and jitter; permanent ones (bad token, missing
currency rate) are logged and recorded on the cursor row, not retried.
"""

from __future__ import annotations

import logging
import random

from celery import shared_task

from api.campaigns import services
from integrations.errors import RateLimited, TransientError

logger = logging.getLogger(__name__)

MAX_RETRIES = 6
BACKOFF_CAP_SECONDS = 15 * 60


def _retry_delay(task, exc: Exception) -> float:
    if isinstance(exc, RateLimited):
        return exc.retry_after + random.uniform(0, 5)  # noqa: S311 - jitter, not security
    return min(BACKOFF_CAP_SECONDS, 30 * 2 ** task.request.retries) * random.uniform(0.8, 1.2)  # noqa: S311


@shared_task(bind=True, name="workers.tasks.campaigns.facebook_ads_sync", acks_late=True,
             reject_on_worker_lost=True, max_retries=MAX_RETRIES)
def facebook_ads_sync(self) -> dict:
    """Sync the ad account's campaigns and daily spend into costs (see ``services.facebook_ads_sync``)."""
    try:
        return services.facebook_ads_sync()
    except (RateLimited, TransientError) as exc:
        raise self.retry(exc=exc, countdown=_retry_delay(self, exc)) from None


@shared_task(bind=True, name="workers.tasks.campaigns.facebook_page_sync", acks_late=True,
             reject_on_worker_lost=True, max_retries=MAX_RETRIES)
def facebook_page_sync(self) -> dict:
    """Store the Page's daily audience metrics (see ``services.facebook_page_sync``)."""
    try:
        return services.facebook_page_sync()
    except (RateLimited, TransientError) as exc:
        raise self.retry(exc=exc, countdown=_retry_delay(self, exc)) from None
