"""Facebook syncs: the ad account's campaigns and daily spend, and the Page's audience, read from the Graph API.

Each sync keeps a ``SyncCursor`` row (where it stopped, how its last run went), reads everything
before it writes, and writes only what changed, so a second run with the same figures changes
nothing. ``facebook_sync_request`` asks the workers to run both now.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from api.campaigns import conf
from api.campaigns.models import FacebookAdDay, FacebookCampaign, PageAudienceDay, SyncCursor
from api.campaigns.services.facebook_costs import ads_costs_recompute
from api.campaigns.services.money import to_xaf
from api.common.businesstime import business_today
from api.common.kicks import task_kick_on_commit
from integrations.errors import RateLimited
from integrations.meta import GraphClient

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: The worker tasks that run the syncs (named, not imported: api never imports workers' tasks).
ADS_SYNC_TASK = "workers.tasks.campaigns.facebook_ads_sync"
PAGE_SYNC_TASK = "workers.tasks.campaigns.facebook_page_sync"
# Staff asked for fresh figures: the request stays worth running while a busy worker finishes other
# work for some minutes (a sync is idempotent), unlike a row kick that beat's next tick replaces.
_REQUEST_EXPIRES_SECONDS = 15 * 60


def facebook_sync_request() -> list[str]:
    """Queue the ad-spend and the Page audience syncs once the current transaction commits.

    Both also run on the beat schedule; the kicks carry no data and expire like every kick, so a
    broker that is down only delays the figures. Returns the names of the syncs queued.
    """
    task_kick_on_commit(ADS_SYNC_TASK, expires=_REQUEST_EXPIRES_SECONDS)
    task_kick_on_commit(PAGE_SYNC_TASK, expires=_REQUEST_EXPIRES_SECONDS)
    return ["facebook_ads", "facebook_page"]


def _graph_client(*, token: str, sleep: Callable[[float], None] | None) -> GraphClient:
    return GraphClient(token, app_secret=settings.META_APP_SECRET or None, base_url=settings.META_GRAPH_BASE_URL,
                       sleep=sleep or time.sleep)


def _paced(call: Callable[[], T], sleep: Callable[[float], None]) -> T:
    """Run ``call``; wait out a short throttle (``FACEBOOK_INLINE_WAIT_MAX_SECONDS``) and try again.

    A longer wait, or too many throttles in a row, re-raises ``RateLimited`` so the task is retried
    later with the provider's ``retry_after``; nothing half-read has been written.
    """
    for attempt in range(conf.FACEBOOK_INLINE_RETRIES + 1):
        try:
            return call()
        except RateLimited as exc:
            if exc.retry_after > conf.FACEBOOK_INLINE_WAIT_MAX_SECONDS or attempt == conf.FACEBOOK_INLINE_RETRIES:
                raise
            logger.info("facebook: throttled, waiting %.0fs before retrying", exc.retry_after)
            sleep(exc.retry_after)
    raise AssertionError("unreachable")  # pragma: no cover


def _cursor_failed(name: str, exc: Exception) -> None:
    # Integration errors never carry a credential (scrubbed by the clients); still keep it short.
    message = f"{exc.__class__.__name__}: {getattr(exc, 'message', str(exc))}"[:500]
    SyncCursor.objects.update_or_create(name=name, defaults={"last_error": message, "last_run_at": timezone.now()})


def _sync_since(cursor: SyncCursor | None, *, until: date, backfill_days: int, resync_days: int) -> date:
    if cursor is None or cursor.synced_until is None:
        return until - timedelta(days=backfill_days - 1)
    return min(cursor.synced_until + timedelta(days=1), until - timedelta(days=resync_days - 1))


def facebook_ads_sync(*, today: date | None = None, client: Any = None,
                      sleep: Callable[[float], None] | None = None) -> dict[str, Any]:
    """Read every campaign of the ad account and its daily spend, and write costs. Idempotent.

    The first run backfills ``FACEBOOK_ADS_BACKFILL_DAYS`` (an async report run for long ranges);
    later runs read from the day after the cursor, and at least the last ``FACEBOOK_ADS_RESYNC_DAYS``
    because Meta restates recent figures. Every Facebook campaign gets a ``FacebookCampaign`` row
    and its days ``FacebookAdDay`` rows; spend of mapped campaigns becomes ``ads`` costs. Only
    changed rows are written, so a second sync with the same figures changes nothing.
    All reads happen before any write; the writes run in one transaction with the cursor row locked.
    Raises ``RateLimited`` (retry later), ``TransientError``, ``PermanentError`` or
    ``ApplicationError`` (missing currency rate); the cursor's ``last_error`` says which.
    """
    account, token = settings.META_AD_ACCOUNT_ID, settings.META_ACCESS_TOKEN
    if not account or not token:
        return {"status": "not_configured"}
    name = f"facebook_ads:{account}"
    today = today or business_today()
    cursor = SyncCursor.objects.filter(name=name).first()
    since = _sync_since(cursor, until=today, backfill_days=conf.FACEBOOK_ADS_BACKFILL_DAYS,
                        resync_days=conf.FACEBOOK_ADS_RESYNC_DAYS)
    wait = sleep or time.sleep
    try:
        client = client or _graph_client(token=token, sleep=sleep)
        fb_campaigns = _paced(lambda: client.list_campaigns(account), wait)
        rows = _paced(lambda: client.ad_insights_daily(account, since, today), wait)
        converted = [(row, to_xaf(row.spend, row.currency)) for row in rows]
        with transaction.atomic():
            cursor, _ = SyncCursor.objects.get_or_create(name=name)
            cursor = SyncCursor.objects.select_for_update().get(pk=cursor.pk)
            stats = _ads_rows_store(fb_campaigns, converted, since=since, until=today)
            cursor.synced_until = max(today, cursor.synced_until or today)
            cursor.last_run_at = cursor.last_success_at = timezone.now()
            cursor.last_error = ""
            cursor.stats = {**stats, "since": since.isoformat(), "until": today.isoformat(),
                            "http_calls": getattr(client, "request_count", None)}
            cursor.save()
    except Exception as exc:
        _cursor_failed(name, exc)
        raise
    return {"status": "ok", **cursor.stats}


def _ads_rows_store(fb_campaigns: Sequence[Any], rows: Sequence[tuple[Any, int]], *, since: date,
                    until: date) -> dict[str, int]:
    known = {fb.facebook_id: fb for fb in FacebookCampaign.objects.all()}
    names: dict[str, tuple[str, str]] = {c.id: (c.name, c.status) for c in fb_campaigns}
    for row, _ in rows:
        names.setdefault(row.campaign_id, (row.campaign_name, known[row.campaign_id].status
                                           if row.campaign_id in known else ""))
    new_fb, changed_fb = [], []
    for fb_id, (fb_name, fb_status) in names.items():
        fb = known.get(fb_id)
        if fb is None:
            new_fb.append(FacebookCampaign(facebook_id=fb_id, name=fb_name, status=fb_status))
        elif (fb.name, fb.status) != (fb_name, fb_status):
            fb.name, fb.status, fb.updated_at = fb_name, fb_status, timezone.now()
            changed_fb.append(fb)
    FacebookCampaign.objects.bulk_create(new_fb, batch_size=1000)
    FacebookCampaign.objects.bulk_update(changed_fb, ["name", "status", "updated_at"], batch_size=1000)
    fb_ids = dict(FacebookCampaign.objects.values_list("facebook_id", "pk"))

    existing = {(d.facebook_campaign_id, d.day): d
                for d in FacebookAdDay.objects.filter(day__gte=since, day__lte=until)}
    new_days, changed_days = [], []
    for row, xaf in rows:
        values = {"spend": row.spend, "currency": row.currency, "spend_xaf": xaf, "impressions": row.impressions,
                  "reach": row.reach, "clicks": row.clicks, "actions": dict(row.actions)}
        current = existing.get((fb_ids[row.campaign_id], row.day))
        if current is None:
            new_days.append(FacebookAdDay(facebook_campaign_id=fb_ids[row.campaign_id], day=row.day, **values))
        elif any(getattr(current, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(current, k, v)
            current.updated_at = timezone.now()
            changed_days.append(current)
    # The range just read is complete: a day Meta no longer reports (restated to nothing) goes away.
    seen = {(fb_ids[row.campaign_id], row.day) for row, _ in rows}
    gone = [d.pk for key, d in existing.items() if key not in seen]
    FacebookAdDay.objects.filter(pk__in=gone).delete()
    FacebookAdDay.objects.bulk_create(new_days, batch_size=1000)
    FacebookAdDay.objects.bulk_update(changed_days, ["spend", "currency", "spend_xaf", "impressions", "reach",
                                                     "clicks", "actions", "updated_at"], batch_size=1000)
    costs = ads_costs_recompute(since=since, until=until)
    return {"facebook_campaigns_created": len(new_fb), "facebook_campaigns_updated": len(changed_fb),
            "days_created": len(new_days), "days_updated": len(changed_days), "days_deleted": len(gone),
            "costs_created": costs["created"], "costs_updated": costs["updated"], "costs_deleted": costs["deleted"],
            "rows_read": len(rows)}


def facebook_page_sync(*, today: date | None = None, client: Any = None,
                       sleep: Callable[[float], None] | None = None) -> dict[str, Any]:
    """Store the Page's audience metrics (``FACEBOOK_PAGE_METRICS``), one row per metric and day. Idempotent.

    Reads up to yesterday (today is incomplete): the first run backfills ``FACEBOOK_PAGE_BACKFILL_DAYS``,
    later runs re-read the last ``FACEBOOK_PAGE_RESYNC_DAYS``. Only new or changed values are written.
    """
    page_id = settings.META_PAGE_ID
    token = settings.META_PAGE_ACCESS_TOKEN or settings.META_ACCESS_TOKEN
    if not page_id or not token:
        return {"status": "not_configured"}
    name = f"facebook_page:{page_id}"
    until = (today or business_today()) - timedelta(days=1)
    cursor = SyncCursor.objects.filter(name=name).first()
    since = _sync_since(cursor, until=until, backfill_days=conf.FACEBOOK_PAGE_BACKFILL_DAYS,
                        resync_days=conf.FACEBOOK_PAGE_RESYNC_DAYS)
    try:
        client = client or _graph_client(token=token, sleep=sleep)
        rows = _paced(lambda: client.page_insights(page_id, conf.FACEBOOK_PAGE_METRICS, since=since, until=until),
                      sleep or time.sleep)
        with transaction.atomic():
            cursor, _ = SyncCursor.objects.get_or_create(name=name)
            cursor = SyncCursor.objects.select_for_update().get(pk=cursor.pk)
            existing = {(p.metric, p.day): p for p in
                        PageAudienceDay.objects.filter(page_id=page_id, day__gte=since, day__lte=until)}
            new, changed = [], []
            for row in rows:
                current = existing.get((row.metric, row.day))
                if current is None:
                    new.append(PageAudienceDay(page_id=page_id, metric=row.metric, day=row.day, value=row.value))
                elif current.value != row.value:
                    current.value, current.updated_at = row.value, timezone.now()
                    changed.append(current)
            PageAudienceDay.objects.bulk_create(new, batch_size=1000)
            PageAudienceDay.objects.bulk_update(changed, ["value", "updated_at"], batch_size=1000)
            cursor.synced_until = max(until, cursor.synced_until or until)
            cursor.last_run_at = cursor.last_success_at = timezone.now()
            cursor.last_error = ""
            cursor.stats = {"since": since.isoformat(), "until": until.isoformat(), "created": len(new),
                            "updated": len(changed), "rows_read": len(rows)}
            cursor.save()
    except Exception as exc:
        _cursor_failed(name, exc)
        raise
    return {"status": "ok", **cursor.stats}
