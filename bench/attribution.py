"""Benchmark: attribution over two years of data on PostgreSQL, against the read floor.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench_attribution \\
        .venv/bin/python bench/attribution.py [--contacts 50000] [--touchpoints 1000000] [--orders 120000]
                                              [--campaigns 300] [--scale 1.0] [--requests 100]

Builds a scratch database (dropped at the end), writes the data with COPY, then times:

- the floor: reading the same touchpoints, orders, order lines and refunds once from PostgreSQL
  (``COPY (SELECT ...) TO STDOUT`` into nothing) on as many connections at once as the full
  recompute reads its facts on (``slices_pg.SliceReader.READERS``, 2: reader threads with their own
  connections on one exported snapshot, while the run's own connection computes and COPYs the
  credits). Each table is cut into that many ranges of pages (TID range scans, PostgreSQL 14+: every
  page read once) and each connection, in its own thread, reads its range of every table; best of
  3. The one-connection read of earlier figures is printed beside it, for comparison only;
- a full recompute of every model (``attribution_run(full=True)``) and the 104 weekly reports;
- an incremental run after 1,000 new orders;
- recomputing one week's CRM indicators (``services.week_indicators_store``, issue 18), five times;
- the weekly report API with the indicators (in-process test client, staff token), served from the
  indicators stored per week: p50 / p95 over ``--requests`` weeks; and the indicators endpoint alone.

Peak memory is the largest resident set size sampled every 20 ms during each phase.
Targets: full recompute <= 5x the read floor (the parallel one), incremental < 2 s, peak < 500 MB,
API p95 < 200 ms. The watermark settle delay is set to 0 so that the incremental run sees only the
new orders (in production it also re-reads the last two minutes of changes).

The full recompute logs its phases ("read, computed and copied", then "indexed and swapped"): the
first is the reading of the facts (on two more connections, alternate slices) overlapped with the
computing and the binary COPY into a fresh table; the second builds that table's indexes and puts
it in place of the old one, in the same transaction.

The CRM indicators (issue 18), measured 2026-12-03 ~08:33 UTC on the loaded two-core machine (load average
3.2 at the start, 3.4 at the end, other engineers' tests running): recomputing one week's indicators (with
5,000 campaign recipients) median 0.99 s, worst 1.13 s over 5 (target < 2 s; 0.45 s for the computation
alone at load 1.4); the refresh after a run (indicators + the 12 default reports into the cache) 1.10 s;
the weekly report API with the indicators, last complete week or week in progress, random model, served
from the stored figures: p50 18 ms, p95 27 ms (target < 100 ms); older weeks whose report is built on
request: p50 65 ms, p95 128 ms; the indicators endpoint alone p95 10 ms.

    createdb -h 127.0.0.1 -U postgres bench_attribution    # once
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench_attribution .venv/bin/python bench/attribution.py

Last measured 2026-12-03 (UTC) on the two-core machine, LOADED: other engineers' test suites ran
beside it the whole time, which slowed every phase 2.5-6.5x against the quiet figures below, and
unevenly (the floor and the recompute are timed a few seconds apart, under whatever load is then):

    load avg (1 min)   floor, 2 conn.   1 conn.   full recompute     104 reports   incremental   API p95   peak RSS
    5.5 -> 7.7         2.80 s           3.27 s    14.92 s = 5.3x     26.59 s       2.42 s        392 ms    176 MB
    5.2 -> 7.5         2.11 s           2.98 s    7.36 s = 3.5x      11.14 s       1.30 s        245 ms    175 MB

(against the one-connection floor: 4.6x and 2.5x.) So under this load the target is missed in one
run and met in the other: the figure is noise-bound and needs a quiet run to decide. The quiet
figures below had the one-connection floor. Here a second connection sped the read up 1.2-1.4x;
if that holds on a quiet machine (an estimate, not measured) the parallel floor there is about
0.38-0.45 s and the recompute's 2.23-2.32 s about 5-6x it, at or over the target.

Measured 2026-11-26 on a quiet 2-core machine (load average < 1), three runs in a row, with the
one-connection floor of then:

    floor   full recompute    104 reports   incremental   API p95   peak RSS
    0.53 s  2.23 s = 4.2x     4.46 s        0.47 s        62 ms     148 MB
    0.54 s  2.32 s = 4.3x     4.56 s        0.48 s        60 ms     150 MB
    0.53 s  2.24 s = 4.2x     4.55 s        0.48 s        62 ms     150 MB

(full recompute + reports 12.7-12.9x the floor; the full run: 1.58-1.69 s read, computed and copied,
0.61-0.64 s indexed and swapped.) The data is vacuumed and checkpointed before the timed phases.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "api.settings")

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE / 1e6


class PeakRss:
    """Sample the resident set size in a thread while the block runs."""

    def __enter__(self):
        self.peak = rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss_mb())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mb())


def copy_model(cursor, model, rows) -> int:
    """COPY ``rows`` (dicts of attname -> value) into ``model``'s table; other columns get their defaults."""
    from django.db import models
    from django.utils import timezone
    from psycopg.types.json import Jsonb

    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    base = {f.attname: f.get_default() for f in fields}
    for f in fields:  # auto_now(_add) columns have no default of their own
        if isinstance(f, models.DateTimeField) and base[f.attname] is None and not f.null:
            base[f.attname] = timezone.now()
    names = [f.attname for f in fields]
    columns = ", ".join(f'"{f.column}"' for f in fields)
    n = 0
    with cursor.copy(f'COPY "{model._meta.db_table}" ({columns}) FROM STDIN') as copy:
        for row in rows:
            values = base | row
            copy.write_row([Jsonb(v) if isinstance(v, dict | list) else v for v in (values[k] for k in names)])
            n += 1
    return n


def ids(cursor, model) -> list[int]:
    cursor.execute(f'SELECT id FROM "{model._meta.db_table}" ORDER BY id')
    return [r[0] for r in cursor.fetchall()]


def generate(args, rng: random.Random, now) -> dict:
    from django.db import connection

    from api.campaigns.enums import CampaignChannel
    from api.campaigns.models import Campaign, CampaignCost, Touchpoint
    from api.contacts.models import Contact
    from api.orders.models import Order, OrderLine, Product, Refund

    start = now - timedelta(days=730)
    channels = [c for c in CampaignChannel.values if c not in ("referral", "other")]
    touch_channels = ["messenger", "whatsapp", "telegram", "instagram", "in_person"]
    segments = ["host", "healthy", "reseller", "unknown"]
    sources = ["", "", "", "Facebook", "un ami", "la foire", "WhatsApp", "dégustation"]
    raw = connection.connection.cursor()
    t0 = time.perf_counter()
    copy_model(raw, Contact, ({
        "name": f"Bench {i}", "referral_code": f"B{i:08d}", "segment": rng.choice(segments),
        "self_reported_source": rng.choice(sources),
        "created_at": start + timedelta(seconds=rng.uniform(0, 730 * 86400)), "updated_at": now,
    } for i in range(args.contacts)))
    contact_ids = ids(raw, Contact)
    copy_model(raw, Campaign, ({
        "name": f"Campaign {i}", "code": f"BC{i:05d}", "channel": channels[i % len(channels)], "status": "active",
        "created_at": start, "updated_at": start,
    } for i in range(args.campaigns)))
    campaign_ids = ids(raw, Campaign)
    cost_rows = []
    for campaign_id in campaign_ids:
        first = rng.randrange(0, 730 - 60)
        for d in range(first, first + 60):
            cost_rows.append({"campaign_id": campaign_id, "day": (start + timedelta(days=d)).date(), "kind": "ads",
                              "amount_xaf": rng.randrange(500, 20_000), "created_at": now, "updated_at": now})
    copy_model(raw, CampaignCost, cost_rows)
    # Mostly ad referrals; a tenth link clicks and a tenth messages, which the CRM indicators count
    # (clicks per tracked link, answers to a campaign's messages).
    kinds = ["ad_referral"] * 8 + ["link_click", "inbound_message"]
    copy_model(raw, Touchpoint, ({
        "contact_id": rng.choice(contact_ids),
        "campaign_id": rng.choice(campaign_ids) if rng.random() < 0.8 else None,
        "channel": rng.choice(touch_channels), "kind": rng.choice(kinds),
        "occurred_at": start + timedelta(seconds=rng.uniform(0, 730 * 86400)), "created_at": now, "updated_at": now,
    } for _ in range(args.touchpoints)))
    copy_model(raw, Product, ({"sku": f"BP{i}", "name": f"Syrup {i}", "price_xaf": 3000 + 500 * i,
                               "unit_cost_xaf": 1000 + 200 * i, "created_at": now} for i in range(10)))
    product_ids = ids(raw, Product)
    buyers = contact_ids[: int(len(contact_ids) * 0.6)]
    orders_written = write_orders(raw, rng, args.orders, buyers, product_ids, start, now, now, prefix="BO")
    order_ids = ids(raw, Order)
    refunds = rng.sample(order_ids, k=len(order_ids) // 50)
    copy_model(raw, Refund, ({"order_id": oid, "amount_xaf": 1000, "created_at": now} for oid in refunds))
    connection.commit() if not connection.get_autocommit() else None
    # As a database is some time after a bulk load: vacuumed (hint bits and visibility map set, so the first
    # reader does not write every page back) and checkpointed (the checkpointer does not flush the load
    # during the timed phases).
    raw.execute("VACUUM ANALYZE")
    raw.execute("CHECKPOINT")
    return {"seconds": time.perf_counter() - t0, "contacts": len(contact_ids), "campaigns": len(campaign_ids),
            "costs": len(cost_rows), "touchpoints": args.touchpoints, "orders": orders_written,
            "refunds": len(refunds), "buyers": buyers, "products": product_ids,
            "lines": OrderLine.objects.count()}


def write_orders(raw, rng, count, buyers, product_ids, start, end, stamped, *, prefix: str) -> int:
    """``count`` orders (one line each) placed between ``start`` and ``end``, updated at ``stamped``."""
    from api.orders.models import Order, OrderLine

    span = (end - start).total_seconds()
    lines = []
    orders = []
    for i in range(count):
        quantity = rng.randint(1, 4)
        product = rng.randrange(len(product_ids))
        price, cost = 3000 + 500 * product, 1000 + 200 * product
        fee = rng.choice([0, 1000, 1500])
        total = price * quantity
        placed = start + timedelta(seconds=rng.uniform(0, span))
        orders.append({"number": f"{prefix}-{i:07d}", "contact_id": rng.choice(buyers),
                       "status": "cancelled" if rng.random() < 0.05 else "delivered", "subtotal_xaf": total,
                       "delivery_fee_xaf": fee, "total_xaf": total + fee, "created_at": placed, "updated_at": stamped,
                       "delivered_at": placed})
        lines.append((product_ids[product], quantity, price, cost))
    copy_model(raw, Order, orders)
    raw.execute('SELECT id FROM "orders_order" WHERE number LIKE %s ORDER BY number', [f"{prefix}-%"])
    new_ids = [r[0] for r in raw.fetchall()]
    copy_model(raw, OrderLine, ({"order_id": oid, "product_id": p, "quantity": q, "unit_price_xaf": price,
                                 "unit_cost_xaf": cost, "line_total_xaf": price * q}
                                for oid, (p, q, price, cost) in zip(new_ids, lines, strict=True)))
    return len(new_ids)


FLOOR_QUERIES = [  # (table, columns): the facts a full run reads
    ("campaigns_touchpoint", "id, contact_id, campaign_id, channel, kind, occurred_at"),
    ("orders_order", "id, contact_id, created_at, total_xaf, delivery_fee_xaf, status, is_sample, campaign_code, "
                     "coupon_code, self_reported_source"),
    ("orders_orderline", "order_id, quantity, unit_cost_xaf"),
    ("orders_refund", "id, order_id, amount_xaf, created_at"),
]


def read_floor(connections: int = 1) -> float:
    """Read the touchpoints, orders, lines and refunds once with COPY ... TO STDOUT, into nothing, on
    ``connections`` connections at once, each in its own thread.

    With more than one, each table is cut into that many ranges of pages (TID range scans: every page
    read once, by one connection) and connection ``k`` reads range ``k`` of every table, all on one exported
    snapshot, as the recompute's readers do (``slices_pg.SliceReader``). The connections are opened and
    the snapshot taken before the clock starts.
    """
    import psycopg
    from django.db import connection

    if connections == 1:
        raw = connection.connection.cursor()
        t0 = time.perf_counter()
        for table, columns in FLOOR_QUERIES:
            with raw.copy(f"COPY (SELECT {columns} FROM {table}) TO STDOUT") as copy:
                for _ in copy:
                    pass
        return time.perf_counter() - t0

    # Django's connection settings, without its cursor class and adapters (plain psycopg connections).
    params = {k: v for k, v in connection.get_connection_params().items() if k not in ("cursor_factory", "context")}
    leader = psycopg.connect(**params)
    readers = [psycopg.connect(**params) for _ in range(connections)]
    try:
        leader.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        snapshot = leader.execute("SELECT pg_export_snapshot()").fetchone()[0]
        pages = {table: leader.execute("SELECT pg_relation_size(%s) / current_setting('block_size')::int",
                                       [table]).fetchone()[0] for table, _ in FLOOR_QUERIES}
        for reader in readers:
            reader.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            reader.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")

        def ranges(k: int) -> list[str]:
            out = []
            for table, columns in FLOOR_QUERIES:
                lo, hi = pages[table] * k // connections, pages[table] * (k + 1) // connections
                upper = f" AND ctid < '({hi},0)'" if k < connections - 1 else ""  # the last takes any page added
                out.append(f"COPY (SELECT {columns} FROM {table} WHERE ctid >= '({lo},0)'{upper}) TO STDOUT")
            return out

        work = [ranges(k) for k in range(connections)]
        errors: list[BaseException] = []
        start = threading.Barrier(connections + 1)

        def read(reader, statements: list[str]) -> None:
            try:
                start.wait()
                cursor = reader.cursor()
                for statement in statements:
                    with cursor.copy(statement) as copy:
                        for _ in copy:
                            pass
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=read, args=(reader, statements), daemon=True)
                   for reader, statements in zip(readers, work, strict=True)]
        for thread in threads:
            thread.start()
        start.wait()
        t0 = time.perf_counter()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - t0
        if errors:
            raise errors[0]
        return elapsed
    finally:
        for conn in (leader, *readers):
            conn.close()


def floor_plan_check(connections: int) -> None:
    """Fail loudly if PostgreSQL would not read a page range with a TID range scan (PostgreSQL < 14)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN SELECT id FROM campaigns_touchpoint WHERE ctid >= '(0,0)' AND ctid < '(10,0)'")
        plan = " ".join(row[0] for row in cursor.fetchall())
    if connections > 1 and "Tid Range Scan" not in plan:
        raise SystemExit(f"the parallel floor needs TID range scans (PostgreSQL 14+); the plan is: {plan}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=50_000)
    parser.add_argument("--touchpoints", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=120_000)
    parser.add_argument("--campaigns", type=int, default=300)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every count (0.1 for a quick run)")
    parser.add_argument("--requests", type=int, default=100, help="report API requests for the p95")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the full recompute")
    args = parser.parse_args()
    for name in ("contacts", "touchpoints", "orders", "campaigns"):
        setattr(args, name, max(1, int(getattr(args, name) * args.scale)))

    import django

    django.setup()
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    if settings.IS_SQLITE:
        print("This benchmark needs PostgreSQL: set DATABASE_URL=postgresql://...", file=sys.stderr)
        return 2
    settings.DEBUG = False
    from api.attribution import conf, engine, selectors, services
    from api.attribution.services import slices_pg
    from api.common.businesstime import week_start

    conf.WATERMARK_SETTLE_SECONDS = 0
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        rng = random.Random(2026)
        now = timezone.now()
        data = generate(args, rng, now)
        print(f"data: {data['contacts']:,} contacts, {data['touchpoints']:,} touchpoints, {data['orders']:,} orders, "
              f"{data['campaigns']} campaigns, {data['costs']:,} cost rows, {data['refunds']:,} refunds "
              f"(written in {data['seconds']:.1f} s)")

        # The recompute reads its facts on SliceReader.READERS connections at once (threads of their own,
        # one snapshot) while this connection computes and COPYs the credits: the floor reads on as many.
        readers = slices_pg.SliceReader.READERS
        floor_plan_check(readers)
        print(f"load average at the start: {' / '.join(f'{x:.2f}' for x in os.getloadavg())} (1 / 5 / 15 min)")
        floor_one = min(read_floor() for _ in range(3))
        floor = min(read_floor(readers) for _ in range(3))
        print(f"read floor (COPY TO STDOUT of touchpoints, orders, lines, refunds; best of 3): "
              f"{floor:.2f} s on {readers} connections in parallel, as the recompute reads "
              f"({floor_one:.2f} s on one connection)")

        with PeakRss() as full_mem:
            import cProfile

            profiler = cProfile.Profile() if args.profile else None
            t0 = time.perf_counter()
            if profiler:
                profiler.enable()
            run = services.attribution_run(full=True)
            full = time.perf_counter() - t0
            if profiler:
                profiler.disable()
                import pstats

                pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        if run is None or run.state != "succeeded":
            raise SystemExit(f"full recompute failed: {run and run.error}")
        print(f"full recompute, {len(engine.MODELS)} models: {full:.2f} s for {run.orders_processed:,} orders, "
              f"{run.credits_written:,} credits; peak RSS {full_mem.peak:.0f} MB; "
              f"ratio to floor {full / floor:.1f}x (target <= 5x; {full / floor_one:.1f}x the one-connection floor)")

        this_week = week_start(timezone.localtime(now).date())
        weeks = [this_week - timedelta(weeks=i) for i in range(104)]
        with PeakRss() as reports_mem:
            t0 = time.perf_counter()
            for monday in weeks:
                selectors.weekly_roi_report(week=monday, model=conf.DEFAULT_MODEL)
            reports = time.perf_counter() - t0
        print(f"104 weekly reports: {reports:.2f} s ({reports / 104 * 1000:.0f} ms each); "
              f"peak RSS {reports_mem.peak:.0f} MB; full recompute + reports {(full + reports) / floor:.1f}x floor")

        raw = connection.connection.cursor()
        write_orders(raw, rng, 1000, data["buyers"], data["products"], now - timedelta(days=14), now,
                     timezone.now(), prefix="BN")
        with PeakRss() as inc_mem:
            t0 = time.perf_counter()
            inc = services.attribution_run()
            incremental = time.perf_counter() - t0
        if inc is None or inc.state != "succeeded":
            raise SystemExit(f"incremental run failed: {inc and inc.error}")
        print(f"incremental run after 1,000 new orders: {incremental:.2f} s ({inc.contacts_processed:,} contacts, "
              f"{inc.orders_processed:,} orders redone); peak RSS {inc_mem.peak:.0f} MB (target < 2 s)")

        # The CRM indicators of a week (issue 18): recomputing one week, then the report API served
        # from the stored weekly figures. The campaign messages' recipients come from nurture in
        # production; here a source of 5,000 recipients a week (ten campaigns) stands in for it.
        from api.campaigns.message_recipients import campaign_recipients_register

        codes = [f"BC{i:05d}" for i in range(min(10, data["campaigns"]))]
        recipients = rng.sample(data["buyers"], k=min(5000, len(data["buyers"])))

        def bench_recipients(start, end):
            return [(codes[i % len(codes)], contact_id, start + timedelta(hours=9)) for i, contact_id in
                    enumerate(recipients)]

        campaign_recipients_register(bench_recipients)
        last_week = this_week - timedelta(weeks=1)
        recompute_timings = []
        with PeakRss() as ind_mem:
            for monday in (last_week, this_week, last_week, last_week - timedelta(weeks=26), last_week):
                t0 = time.perf_counter()
                services.week_indicators_store(monday=monday)
                recompute_timings.append(time.perf_counter() - t0)
        recompute = max(recompute_timings)
        print(f"recompute one week's indicators: median {statistics.median(recompute_timings):.2f} s, worst "
              f"{recompute:.2f} s over {len(recompute_timings)} (target < 2 s); peak RSS {ind_mem.peak:.0f} MB")
        stored_weeks = weeks[:20]
        t0 = time.perf_counter()
        for monday in stored_weeks:
            services.week_indicators_get(monday=monday)
        print(f"stored the indicators of {len(stored_weeks)} weeks in {time.perf_counter() - t0:.1f} s")
        stored = services.week_indicators_get(monday=last_week).figures
        print(f"  last week: {stored['sales']} sales, basket {stored['average_basket_xaf']} XAF, frequency "
              f"{stored['purchase_frequency']}, attrition {stored['attrition_rate']}, reactivation "
              f"{stored['reactivation_rate']}, file decay {stored['file_decay']['decay_rate']}")

        from django.contrib.auth import get_user_model
        from rest_framework.authtoken.models import Token

        user = get_user_model().objects.create_user(username="bench", password="bench-pw-123", is_staff=True)
        token = Token.objects.create(user=user)
        client = Client(HTTP_AUTHORIZATION=f"Token {token.key}")
        client.get(f"/api/v1/reports/weekly?week={this_week}")  # warm-up

        def api_p95(mondays) -> tuple[float, float]:
            timings = []
            for _ in range(args.requests):
                monday = rng.choice(mondays)
                t0 = time.perf_counter()
                response = client.get(f"/api/v1/reports/weekly?week={monday}&model={rng.choice(engine.MODELS)}")
                timings.append((time.perf_counter() - t0) * 1000)
                assert response.status_code == 200, response.content[:200]
            timings.sort()
            return statistics.median(timings), timings[max(0, int(len(timings) * 0.95) - 1)]

        # What the worker does after each incremental run: the stored indicators, and the default weeks'
        # reports (last complete week, week in progress) under every model built into the report cache.
        t0 = time.perf_counter()
        services.reports_refresh()
        print(f"refresh after a run (indicators + 12 reports into the cache): {time.perf_counter() - t0:.2f} s")
        p50, p95 = api_p95([last_week, this_week])
        print(f"weekly report API with the indicators, served from the stored figures (last complete week or "
              f"week in progress, random model): p50 {p50:.0f} ms, p95 {p95:.0f} ms over {args.requests} requests "
              f"(target p95 < 100 ms)")
        cold50, cold95 = api_p95(stored_weeks[2:])
        print(f"  the same API on older weeks, indicators stored but the report built on request (mostly cache "
              f"misses): p50 {cold50:.0f} ms, p95 {cold95:.0f} ms")
        ind_timings = []
        for _ in range(args.requests):
            monday = rng.choice(stored_weeks)
            t0 = time.perf_counter()
            response = client.get(f"/api/v1/reports/indicators?week={monday}")
            ind_timings.append((time.perf_counter() - t0) * 1000)
            assert response.status_code == 200, response.content[:200]
        ind_timings.sort()
        ind_p95 = ind_timings[max(0, int(len(ind_timings) * 0.95) - 1)]
        print(f"indicators API: p50 {statistics.median(ind_timings):.0f} ms, p95 {ind_p95:.0f} ms")
        peak = max(full_mem.peak, reports_mem.peak, inc_mem.peak, ind_mem.peak)
        print(f"peak RSS over the timed phases: {peak:.0f} MB (target < 500 MB)")
        print(f"load average at the end: {' / '.join(f'{x:.2f}' for x in os.getloadavg())} (1 / 5 / 15 min)")
        verdict = [("full <= 5x floor", full <= 5 * floor), ("incremental < 2 s", incremental < 2),
                   ("peak < 500 MB", peak < 500), ("API p95 < 100 ms", p95 < 100),
                   ("indicators recompute < 2 s", recompute < 2)]
        print("targets: " + ", ".join(f"{name}: {'met' if ok else 'MISSED'}" for name, ok in verdict))
    finally:
        if not args.keep:
            connection.creation.destroy_test_db(old_name, verbosity=0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
