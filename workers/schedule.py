"""The one beat schedule of Confiotes.

Every entry says why it runs and carries an ``expires`` so that kicks that pile up
while workers are down are dropped instead of run in a burst: the next tick finds
the due rows in the database anyway.
"""

from __future__ import annotations

from datetime import timedelta

from celery.schedules import crontab  # noqa: F401 - used by entries added by later apps

BEAT_SCHEDULE: dict[str, dict] = {
    # Proves that beat and at least one worker are alive; read by /api/v1/health.
    "worker-heartbeat": {
        "task": "workers.tasks.system.heartbeat",
        "schedule": timedelta(seconds=30),
        "options": {"expires": 25},
    },
    # Resumes CSV imports whose worker was killed or whose kick was lost (rows are the truth).
    "contacts-resume-stalled-imports": {
        "task": "workers.tasks.contacts.import_jobs_resume_stalled",
        "schedule": timedelta(minutes=1),
        "options": {"expires": 55},
    },
    # Daily Facebook Page audience (page_follows, page_media_view): yesterday's values are final by
    # early morning Douala time; the sync re-reads the last days, so a missed day is caught up.
    "campaigns-facebook-page-sync": {
        "task": "workers.tasks.campaigns.facebook_page_sync",
        "schedule": crontab(hour=4, minute=15),
        "options": {"expires": 6 * 3600},
    },
    # Hourly Facebook ad spend -> campaign costs (backfills on the first run, then re-reads the last
    # days because Meta restates recent figures). A kick older than the next one is useless.
    "campaigns-facebook-ads-sync": {
        "task": "workers.tasks.campaigns.facebook_ads_sync",
        "schedule": crontab(minute=20),
        "options": {"expires": 50 * 60},
    },
    # Sends due outbound messages (sequences, broadcasts, bot replies, staff notes). A run lasts up
    # to NURTURE_DISPATCH_MAX_SECONDS; overlapping runs claim disjoint rows, so a kick every 5 s
    # keeps bot replies prompt. A stale kick is useless: the next one finds the rows.
    "nurture-outbound-dispatch": {
        "task": "workers.tasks.nurture.outbound_dispatch",
        "schedule": timedelta(seconds=5),
        "options": {"expires": 4},
    },
    # Trigger "new contact": introduction sequence for contacts created since the cursor row.
    "nurture-new-contacts-enroll": {
        "task": "workers.tasks.nurture.new_contacts_enroll",
        "schedule": timedelta(minutes=1),
        "options": {"expires": 55},
    },
    # Queues the messages of broadcasts whose send time has come.
    "nurture-broadcasts-start": {
        "task": "workers.tasks.nurture.broadcasts_start",
        "schedule": timedelta(seconds=30),
        "options": {"expires": 25},
    },
    # Broadcasts whose every message has an outcome become "finished" (progress shows it); a minute
    # of lag is fine for staff, and a missed tick is caught up by the next one.
    "nurture-broadcasts-finish": {
        "task": "workers.tasks.nurture.broadcasts_finish",
        "schedule": timedelta(minutes=1),
        "options": {"expires": 55},
    },
    # WhatsApp message templates (status changes: approved, paused, rejected) read hourly from the
    # business account, so a paused template skips before Meta refuses it; staff can sync on demand.
    # A no-op until WhatsApp is configured.
    "nurture-whatsapp-templates-sync": {
        "task": "workers.tasks.nurture.whatsapp_templates_sync",
        "schedule": crontab(minute=35),
        "options": {"expires": 50 * 60},
    },
    # Monthly personal messages and replenishment reminders, mid-morning Douala time (inside the
    # default 09:00-20:00 sending window); closes finished enrollments.
    "nurture-daily": {
        "task": "workers.tasks.nurture.daily",
        "schedule": crontab(hour=9, minute=30),
        "options": {"expires": 6 * 3600},
    },
    # Birthday wishes of the day (Douala time) to those who consented on a channel; the messages wait
    # for the 09:00-20:00 window. Once per contact and year (idempotency key), so a second run is a no-op.
    "nurture-birthdays": {
        "task": "workers.tasks.nurture.birthdays",
        "schedule": crontab(hour=8, minute=50),
        "options": {"expires": 6 * 3600},
    },
    # Sends due partner webhooks from the outbox (rows are claimed with SKIP LOCKED and a lease,
    # so overlapping runs never send one row twice); a slow partner only delays its own rows.
    "orders-partner-webhooks-send": {
        "task": "workers.tasks.orders.send_partner_webhooks",
        "schedule": timedelta(seconds=10),
        "options": {"expires": 9},
    },
    # Delivers order events still due: those of a process killed between the commit and the delivery,
    # a lost kick, or a listener to try again after its backoff. Claims are disjoint (SKIP LOCKED and a
    # lease), so overlapping runs are harmless; a stale kick is useless, the next tick finds the rows.
    "orders-order-events-deliver": {
        "task": "workers.tasks.orders.deliver_order_events",
        "schedule": timedelta(seconds=15),
        "options": {"expires": 14},
    },
    # Deletes Idempotency-Key rows past their retention (ORDERS_IDEMPOTENCY_TTL_HOURS, at least 24 h).
    "orders-idempotency-keys-purge": {
        "task": "workers.tasks.orders.purge_idempotency_keys",
        "schedule": crontab(hour=3, minute=40),
        "options": {"expires": 6 * 3600},
    },
    # Attribution credits for orders, refunds and touchpoints changed since the last run's watermark.
    # Runs are idempotent and skip while another is in progress; a stale kick is useless.
    "attribution-incremental": {
        "task": "workers.tasks.attribution.run_incremental",
        "schedule": timedelta(minutes=5),
        "options": {"expires": 4 * 60},
    },
    # Nightly, after the RFM scores (02:30) and the lifecycle sweep (03:10): the stored CRM indicators of the
    # last 13 weeks whose inputs moved (a backdated order, an old order cancelled, the day's RFM types of
    # purchase). The week in progress and the last complete one are also refreshed after every incremental
    # attribution run (workers.tasks.attribution.run_incremental).
    "attribution-indicators-nightly": {
        "task": "workers.tasks.attribution.indicators_refresh",
        "schedule": crontab(hour=4, minute=30),
        "kwargs": {"weeks": 13},
        "options": {"expires": 6 * 3600},
    },
    # RFM quintiles over the last RFM_PERIOD_DAYS, recomputed nightly after the day's orders (Douala time).
    "attribution-rfm-nightly": {
        "task": "workers.tasks.attribution.rfm_recompute",
        "schedule": crontab(hour=2, minute=30),
        "options": {"expires": 6 * 3600},
    },
    # Suspects who engaged (wrote, tasted, clicked, answered the source question) become prospects: the
    # touches written in the last LIFECYCLE_RECENT_HOURS are read again each time, so a lost kick is
    # harmless; every 2 minutes keeps the stage fresh for staff. A stale kick is useless.
    "attribution-lifecycle-engagements": {
        "task": "workers.tasks.attribution.lifecycle_engagements",
        "schedule": timedelta(minutes=2),
        "options": {"expires": 100},
    },
    # Nightly: the engagement rules over every touch of the window (catches a longer outage), then
    # contacts without order or touch for LIFECYCLE_INACTIVE_AFTER_DAYS become inactive.
    "attribution-lifecycle-sweep": {
        "task": "workers.tasks.attribution.lifecycle_sweep",
        "schedule": crontab(hour=3, minute=10),
        "options": {"expires": 6 * 3600},
    },
    # Daily backup of the database (and the data folder's generated key) into <data folder>/backups, keeping
    # the newest copy of each of the last BACKUP_KEEP_DAILY days. 01:30 Douala: no staff at work, outside the
    # 09:00-20:00 sending window, before the nightly recomputes (02:30-04:15). Like the other nightly entries a
    # kick expires after six hours, so that workers back from an outage do not start a copy in the working day.
    "common-backup-daily": {
        "task": "workers.tasks.system.backup_daily",
        "schedule": crontab(hour=1, minute=30),
        "options": {"expires": 6 * 3600},
    },
    # Monday 08:00 Douala: last week's ROI summary with the ROAS chart to the staff Telegram chat
    # (a no-op until the bot and the chat are configured; at most once per week by its row).
    "attribution-weekly-summary": {
        "task": "workers.tasks.attribution.weekly_summary",
        "schedule": crontab(hour=8, minute=0, day_of_week=1),
        "options": {"expires": 6 * 3600},
    },
}
