"""Benchmark of the partner polling API against a bare Django floor, with gunicorn and wrk.

Starts the app with gunicorn on 127.0.0.1 over PostgreSQL holding 10,000 orders across 50
partners, and drives with wrk (32 connections, Api-Key authenticated, requests spread over all
partners and orders):

- ``list``: ``GET /api/v1/partner/orders?updated_since=…&page_size=20`` (20 orders a page);
- ``get``: ``GET /api/v1/partner/orders/{number}``;
- ``get-304``: the same with ``If-None-Match`` of the current ETag;
- ``floor-get`` / ``floor-list``: bare Django views (no DRF: no serializers, no content
  negotiation, no throttling) that look the key up by hash, read the same rows and return the
  same JSON with ``JsonResponse``. They live here, in a bench-only URLconf, not in the product.

Each endpoint gets a warm-up first (``--warmup``, 5 s), which fills the cache of rendered order
documents: the steady state of resellers polling orders that mostly have not changed.

Prints requests/s, p50 and p99 latency of each, and each DRF endpoint's throughput as a share
of its floor. Target: at least 50% of the floor, p99 under 50 ms, on the two-core machine.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench_orders .venv/bin/python bench/partner_poll.py

The database is a scratch one: it is created when missing and its orders are replaced.

Last measured 2026-11-25 on the quiet two-core machine (nothing else running; the load average
of about 4 is the benchmark itself), gunicorn.conf.py (sync, 4 workers), 5 s warm-up, 10 s each:

    endpoint      req/s   p50 ms   p99 ms   of floor
    list           1326     23.2     36.3       400%
    floor-list      332     93.1    139.3
    get            1839     17.2     21.4       290%
    get-304        1969     15.9     26.0       310%
    floor-get       634     49.7     67.1

(a second run: list 1323 / 34.6 ms, get 1742 / 28.7 ms, get-304 1916 / 24.6 ms; after the cache
clean-up of 2026-11-26: list 1358 / 33.8 ms, get 1843 / 21.1 ms, get-304 1834 / 30.3 ms). Before this
session's work (gthread 2x4, every request serialized from three queries) the same machine gave
list 122 req/s with p99 364 ms and get 415 req/s with p99 207 ms.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH_DB_URL = "postgresql://postgres@127.0.0.1:5432/bench_orders"
PARTNERS = 50
ORDERS = 10_000
PAGE_SIZE = 20


# --- What gunicorn serves: the real URLs plus the floor views ----------------------------------


def _floor_key(request: Any) -> Any:
    from api.orders.models import PartnerApiKey

    header = request.META.get("HTTP_AUTHORIZATION", "")
    if not header.startswith("Api-Key "):
        return None
    digest = hashlib.sha256(header[8:].encode()).hexdigest()
    return PartnerApiKey.objects.filter(key_hash=digest, revoked_at__isnull=True).only("partner_id").first()


def _floor_order_dict(order: Any) -> dict[str, Any]:
    return {
        "number": order.number, "partner_reference": order.partner_reference, "status": order.status,
        "payment_status": order.payment_status, "customer_name": order.contact.display_name,
        "customer_phone": order.contact.phone, "delivery_address": order.delivery_address,
        "neighbourhood": order.neighbourhood, "subtotal_xaf": order.subtotal_xaf, "discount_xaf": order.discount_xaf,
        "delivery_fee_xaf": order.delivery_fee_xaf, "total_xaf": order.total_xaf, "paid_xaf": order.paid_xaf,
        "refunded_xaf": order.refunded_xaf,
        "lines": [{"gift_box_id": line.gift_box_id, "gift_box_name": line.gift_box.name if line.gift_box else "",
                   "quantity": line.quantity, "unit_price_xaf": line.unit_price_xaf,
                   "line_total_xaf": line.line_total_xaf} for line in order.lines.all()],
        "created_at": order.created_at.isoformat(), "updated_at": order.updated_at.isoformat(),
    }


def floor_get(request: Any, number: str) -> Any:
    from django.db.models import Prefetch
    from django.http import JsonResponse

    from api.orders.models import Order, OrderLine

    key = _floor_key(request)
    if key is None:
        return JsonResponse({"code": "authentication_failed"}, status=401)
    order = (Order.objects.select_related("contact")
             .prefetch_related(Prefetch("lines", OrderLine.objects.select_related("gift_box")))
             .filter(partner_id=key.partner_id, number=number).first())
    if order is None:
        return JsonResponse({"code": "not_found"}, status=404)
    return JsonResponse(_floor_order_dict(order))


def floor_list(request: Any) -> Any:
    from django.db.models import Prefetch
    from django.http import JsonResponse
    from django.utils.dateparse import parse_datetime

    from api.orders.models import Order, OrderLine

    key = _floor_key(request)
    if key is None:
        return JsonResponse({"code": "authentication_failed"}, status=401)
    since = parse_datetime(request.GET["updated_since"])
    rows = list(Order.objects.filter(partner_id=key.partner_id, updated_at__gte=since)
                .select_related("contact").prefetch_related(Prefetch("lines", OrderLine.objects.select_related("gift_box")))
                .order_by("updated_at", "id")[: int(request.GET.get("page_size", PAGE_SIZE)) + 1])
    return JsonResponse({"results": [_floor_order_dict(o) for o in rows[:PAGE_SIZE]], "next_cursor": None,
                         "has_more": len(rows) > PAGE_SIZE})


def __getattr__(name: str) -> Any:
    """``urlpatterns`` of the bench URLconf, built once Django is set up (PEP 562)."""
    if name == "urlpatterns":
        from django.urls import path

        from api.urls import urlpatterns as real

        return [path("floor/orders", floor_list), path("floor/orders/<str:number>", floor_get), *real]
    raise AttributeError(name)


def wsgi_app() -> Any:
    """gunicorn's application factory: the real WSGI app with this module as URLconf."""
    import django
    from django.conf import settings

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "api.settings")
    django.setup()
    settings.ROOT_URLCONF = "partner_poll"  # bench process only: add the floor views beside the real URLs
    from django.core.wsgi import get_wsgi_application

    return get_wsgi_application()


# --- Data ---------------------------------------------------------------------------------------


def _ensure_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def seed(rng: random.Random) -> list[dict[str, Any]]:
    """10,000 orders across 50 partners (replacing earlier bench orders) and one fresh key per partner."""
    from django.core.management import call_command
    from django.db import transaction
    from django.utils import timezone

    from api.contacts.models import Contact
    from api.orders.models import (
        GiftBox,
        GiftBoxItem,
        IdempotencyKey,
        Order,
        OrderCounter,
        OrderLine,
        Partner,
        PartnerApiKey,
        Product,
        WebhookDelivery,
    )
    from api.orders.selectors import order_etag
    from api.orders.services import partner_api_key_create

    call_command("migrate", verbosity=0)
    with transaction.atomic():
        for model in (WebhookDelivery, IdempotencyKey, OrderLine, Order, OrderCounter, PartnerApiKey, Partner,
                      GiftBoxItem, GiftBox, Product):
            model.objects.all().delete()
        products = Product.objects.bulk_create([
            Product(sku=f"BENCH-{i}", name=f"Sirop {i}", price_xaf=3000 + 500 * i, unit_cost_xaf=1000) for i in range(6)])
        boxes = GiftBox.objects.bulk_create([
            GiftBox(sku=f"BENCH-BOX-{i}", name=f"Coffret {i}", price_xaf=10000 + 5000 * i) for i in range(4)])
        GiftBoxItem.objects.bulk_create([GiftBoxItem(gift_box=b, product=products[(i + j) % 6], quantity=1)
                                         for i, b in enumerate(boxes) for j in range(3)])
        partners = Partner.objects.bulk_create([Partner(name=f"Bench partner {i}", discount_percent=10 + i % 10,
                                                        webhook_secret=secrets.token_urlsafe(16))
                                                for i in range(PARTNERS)])
        existing = list(Contact.objects.filter(phone__startswith="+23768").values_list("id", flat=True)[:2000])
        if len(existing) < 2000:
            Contact.objects.bulk_create([
                Contact(name=f"Client bench {i}", phone=f"+2376800{i:05d}", referral_code=f"BENCH{i:05d}")
                for i in range(2000)], ignore_conflicts=True)
            existing = list(Contact.objects.filter(phone__startswith="+23768").values_list("id", flat=True)[:2000])
        now = timezone.now()
        orders = []
        for n in range(ORDERS):
            updated = now - timedelta(seconds=rng.randint(60, 30 * 86400))
            orders.append(Order(number=f"CF-2026-{n + 1:06d}", contact_id=rng.choice(existing),
                                partner=partners[n % PARTNERS], partner_reference=f"P-{n}",
                                status=rng.choice(["pending", "confirmed", "preparing", "delivered"]),
                                subtotal_xaf=20000, discount_xaf=2000, total_xaf=18000,
                                delivery_address="Akwa, Douala", neighbourhood="Akwa", sales_channel="partner",
                                created_at=updated - timedelta(days=1), updated_at=updated))
        Order.objects.bulk_create(orders, batch_size=2000)
        OrderLine.objects.bulk_create([
            OrderLine(order=o, gift_box=boxes[(i + k) % 4], quantity=1 + k, unit_price_xaf=10000,
                      line_total_xaf=10000 * (1 + k)) for i, o in enumerate(orders) for k in range(1 + i % 2)],
            batch_size=5000)
        OrderCounter.objects.create(year=2026, last=ORDERS)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    keys = {p.pk: partner_api_key_create(partner_id=p.pk, name="bench")[1] for p in partners}
    by_partner: dict[int, list[Order]] = {}
    for order in Order.objects.order_by("updated_at"):
        by_partner.setdefault(order.partner_id, []).append(order)
    entries = []
    for partner_id, rows in by_partner.items():
        for i, order in enumerate(rows):
            # updated_since such that a page of 20 is full: 20 changes or more follow it
            since = rows[min(i, len(rows) - PAGE_SIZE - 1)].updated_at.isoformat()
            entries.append({"key": keys[partner_id], "number": order.number, "etag": order_etag(order),
                            "since": since})
    return entries


# --- Load --------------------------------------------------------------------------------------

LUA = r"""
local entries = { %(entries)s }
local mode = "%(mode)s"
local counter = 0
function setup(thread) counter = counter + 1; thread:set("tid", counter) end
function init(args) math.randomseed(os.time() * 1000 + (tid or 0) * 7919) end
function request()
  local e = entries[math.random(#entries)]
  local headers = { ["Authorization"] = "Api-Key " .. e[1] }
  if mode == "inm" then headers["If-None-Match"] = e[3] end
  return wrk.format("GET", e[2], headers)
end
function done(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format("RESULT %%d %%d %%d %%d %%d %%d\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), summary.errors.status, errors))
end
"""


def _lua_string(value: str) -> str:
    return json.dumps(value)  # a JSON string literal is a valid Lua string literal for these characters


def write_script(entries: list[dict[str, Any]], *, kind: str, floor: bool, inm: bool, sample: int = 4000) -> str:
    rows = []
    for e in entries[:sample]:
        if kind == "list":
            path = ("/floor/orders" if floor else "/api/v1/partner/orders") + \
                f"?updated_since={urllib.request.quote(e['since'])}&page_size={PAGE_SIZE}"
        else:
            path = ("/floor/orders/" if floor else "/api/v1/partner/orders/") + e["number"]
        rows.append("{" + ",".join(_lua_string(v) for v in (e["key"], path, e["etag"])) + "}")
    script = LUA % {"entries": ",\n".join(rows), "mode": "inm" if inm else "plain"}
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    return handle.name


def run_wrk(base: str, script: str, *, seconds: int, connections: int) -> dict[str, float]:
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s", "-s", script, base],
                         capture_output=True, text=True, check=True).stdout
    match = re.search(r"RESULT (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)", out)
    if not match:
        raise RuntimeError(f"wrk printed no result:\n{out}")
    requests, duration_us, p50, p99, bad_status, errors = map(int, match.groups())
    return {"rps": requests / (duration_us / 1e6), "p50_ms": p50 / 1000, "p99_ms": p99 / 1000,
            "bad_status": bad_status, "errors": errors, "requests": requests}


def _check(base: str, path: str, key: str, expect: int, etag: str | None = None) -> None:
    request = urllib.request.Request(base + path, headers={"Authorization": f"Api-Key {key}",
                                                           **({"If-None-Match": etag} if etag else {})})
    try:
        status = urllib.request.urlopen(request, timeout=10).status  # noqa: S310 - loopback
    except urllib.error.HTTPError as exc:
        status = exc.code
    if status != expect:
        raise RuntimeError(f"{path} answered {status}, expected {expect}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=5,
                        help="seconds of load before each measurement (fills the order document cache)")
    parser.add_argument("--connections", type=int, default=32)
    # gunicorn runs with the project's gunicorn.conf.py (sync workers, two per core); these override it.
    parser.add_argument("--workers", type=int)
    parser.add_argument("--threads", type=int)
    parser.add_argument("--worker-class")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--only", help="comma-separated scenarios to run, e.g. get,floor-get (default: all)")
    args = parser.parse_args()

    os.environ.setdefault("DATABASE_URL", BENCH_DB_URL)
    if os.environ["DATABASE_URL"].startswith("sqlite"):
        sys.exit("Give a PostgreSQL DATABASE_URL (a scratch database).")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "api.settings")
    sys.path.insert(0, str(ROOT))
    _ensure_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    started = time.monotonic()
    entries = seed(random.Random(11))
    random.Random(3).shuffle(entries)
    print(f"seeded {ORDERS} orders across {PARTNERS} partners in {time.monotonic() - started:.1f} s")

    env = {**os.environ, "PARTNER_THROTTLE_RATE": "1000000000/min",  # measure the code, not the limit
           "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/3"), "DJANGO_DEBUG": "0",
           "LOG_LEVEL": "ERROR"}
    base = f"http://127.0.0.1:{args.port}"
    overrides = [*(["--workers", str(args.workers)] if args.workers else []),
                 *(["--threads", str(args.threads)] if args.threads else []),
                 *(["--worker-class", args.worker_class] if args.worker_class else [])]
    server = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "partner_poll:wsgi_app()", "--chdir", str(ROOT),
         "--pythonpath", f"{ROOT},{ROOT / 'bench'}", "--config", str(ROOT / "gunicorn.conf.py"),
         "--bind", f"127.0.0.1:{args.port}", *overrides, "--log-level", "warning", "--keep-alive", "30"],
        env=env, start_new_session=True)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/api/v1/health", timeout=1)  # noqa: S310 - loopback
                break
            except Exception:
                time.sleep(0.2)
        sample = entries[0]
        _check(base, f"/api/v1/partner/orders/{sample['number']}", sample["key"], 200)
        _check(base, f"/api/v1/partner/orders/{sample['number']}", sample["key"], 304, sample["etag"])
        _check(base, f"/floor/orders/{sample['number']}", sample["key"], 200)
        other = next(e for e in entries if e["key"] != sample["key"])
        _check(base, f"/api/v1/partner/orders/{sample['number']}", other["key"], 404)

        scenarios = [("list", "list", False, False), ("floor-list", "list", True, False),
                     ("get", "get", False, False), ("get-304", "get", False, True),
                     ("floor-get", "get", True, False)]
        if args.only:
            scenarios = [s for s in scenarios if s[0] in args.only.split(",")]
        results = {}
        for name, kind, floor, inm in scenarios:
            script = write_script(entries, kind=kind, floor=floor, inm=inm)
            run_wrk(base, script, seconds=args.warmup, connections=args.connections)  # warm up
            results[name] = run_wrk(base, script, seconds=args.seconds, connections=args.connections)
            os.unlink(script)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)

    print(f"\ngunicorn.conf.py {' '.join(overrides) or '(sync, 2 workers per core)'}, wrk 2 threads, "
          f"{args.connections} connections, {args.warmup} s warm-up then "
          f"{args.seconds} s each, {os.cpu_count()} CPUs")
    print(f"{'endpoint':<12}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}{'of floor':>10}")
    floors = {"list": "floor-list", "get": "floor-get", "get-304": "floor-get"}
    for name, r in results.items():
        share = f"{r['rps'] / results[floors[name]]['rps']:.0%}" if floors.get(name) in results else ""
        print(f"{name:<12}{r['rps']:>10.0f}{r['p50_ms']:>10.1f}{r['p99_ms']:>10.1f}"
              f"{r['bad_status'] + r['errors']:>8}{share:>10}")


if __name__ == "__main__":
    main()
