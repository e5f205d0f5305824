"""Benchmark: first ad-spend backfill of 500 Facebook campaigns x 90 days against the fake Graph API.

    .venv/bin/python bench/facebook_sync.py [--campaigns 500] [--days 90] [--page-size-max 100]
                                            [--budget 600] [--window 60]

Runs the real service (``api.campaigns.services.facebook_ads_sync``: campaign list, async report run,
paged reads, conversion, bulk writes) on a throw-away SQLite database, then runs it again (the hourly
re-sync of the last days). Prints the HTTP calls made against the minimum for the server's page size,
the wall time (and how much of it was spent sleeping: async-report polls and usage pacing), and the
rows written. Not a test: figures only.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ["CONFIOTES_DATA_DIR"] = tempfile.mkdtemp(prefix="bench-facebook-")
os.environ.pop("DATABASE_URL", None)  # never write into a real database
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "api.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--campaigns", type=int, default=500)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--page-size-max", type=int, default=100, help="Largest page the fake server returns.")
    parser.add_argument("--budget", type=int, default=600, help="Calls allowed per window by the fake server.")
    parser.add_argument("--window", type=float, default=60.0, help="Rate-limit window of the fake server (s).")
    parser.add_argument("--async-polls", type=int, default=2, help="Status polls before a report is ready.")
    parser.add_argument("--mapped-share", type=float, default=0.8, help="Share of FB campaigns mapped to ours.")
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.utils import timezone

    from api.campaigns import conf, services
    from api.campaigns.models import CampaignCost, FacebookAdDay, FacebookCampaign
    from tests.fakes.graph_server import FakeGraph

    call_command("migrate", verbosity=0)
    settings.META_ACCESS_TOKEN, settings.META_AD_ACCOUNT_ID, settings.META_APP_SECRET = "tok", "act_1", ""
    today = timezone.localdate()
    conf.FACEBOOK_ADS_BACKFILL_DAYS = args.days

    slept = {"total": 0.0, "calls": 0}

    def sleep(seconds: float) -> None:
        slept["total"] += seconds
        slept["calls"] += 1
        time.sleep(seconds)

    # The fake's clock can jump an hour ahead: the re-sync runs when the next hourly tick would.
    shift = {"seconds": 0.0}

    def clock() -> float:
        return time.monotonic() + shift["seconds"]

    with FakeGraph(access_token="tok", campaigns=args.campaigns, days=args.days,
                   start=today - timedelta(days=args.days - 1), page_size_max=args.page_size_max,
                   budget=args.budget, window_seconds=args.window, async_polls=args.async_polls,
                   clock=clock) as fake:
        settings.META_GRAPH_BASE_URL = fake.base_url
        # Map most Facebook campaigns to local campaigns, ten to a campaign.
        mapped = fake.campaigns[: int(len(fake.campaigns) * args.mapped_share)]
        for index in range(0, len(mapped), 10):
            services.campaign_create(name=f"Bench {index // 10}", code=f"BENCH-{index // 10:04d}",
                                     channel="facebook_ads",
                                     facebook_campaign_ids=[c["id"] for c in mapped[index:index + 10]])

        started = time.perf_counter()
        first = services.facebook_ads_sync(today=today, sleep=sleep)
        wall = time.perf_counter() - started
        calls, throttled, first_sleep = fake.request_count, fake.throttled_count, slept["total"]

        rows = args.campaigns * args.days
        page = args.page_size_max
        minimum = math.ceil(args.campaigns / page) + 1 + args.async_polls + math.ceil(rows / page)
        print(f"Backfill of {args.campaigns} campaigns x {args.days} days ({rows} insight rows), "
              f"server page size {page}, budget {args.budget} calls / {args.window:.0f} s")
        print(f"  HTTP calls: {calls} (minimum {minimum}: {math.ceil(args.campaigns / page)} campaign pages + "
              f"1 report run + {args.async_polls} polls + {math.ceil(rows / page)} insight pages); "
              f"{(calls - minimum) * 100 / minimum:+.1f} % over the minimum; throttled by the server: {throttled}")
        print(f"  wall time: {wall:.1f} s, of which sleeping {first_sleep:.1f} s "
              f"(async-report polls and usage pacing, {slept['calls']} sleeps)")
        print(f"  rows written: {FacebookCampaign.objects.count()} Facebook campaigns, "
              f"{FacebookAdDay.objects.count()} Facebook ad days, {CampaignCost.objects.count()} cost rows "
              f"({first['costs_created']} created)")

        before = sorted(CampaignCost.objects.values_list("id", "amount_xaf", "updated_at"))
        shift["seconds"] = 3600.0  # the next hourly run: the server's usage window has drained
        slept["total"] = 0.0
        started = time.perf_counter()
        second = services.facebook_ads_sync(today=today, sleep=sleep)
        wall2 = time.perf_counter() - started
        unchanged = sorted(CampaignCost.objects.values_list("id", "amount_xaf", "updated_at")) == before
        print(f"Re-sync of the last {conf.FACEBOOK_ADS_RESYNC_DAYS} days an hour later: "
              f"{fake.request_count - calls} HTTP calls, {wall2:.1f} s (sleeping {slept['total']:.1f} s), rows created/updated: days {second['days_created']}/{second['days_updated']}, "
              f"costs {second['costs_created']}/{second['costs_updated']}; cost rows unchanged: {unchanged}")


if __name__ == "__main__":
    main()
