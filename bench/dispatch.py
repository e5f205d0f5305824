"""Benchmark: 20,000 due Telegram messages through the fake Bot API limited to 500 messages per second.

    .venv/bin/python bench/dispatch.py [--messages 20000] [--rate 500] [--workers <CPUs>]

Runs on a scratch database of the configured engine (``DATABASE_URL``; SQLite by default) and the
configured limiter (Redis when ``REDIS_URL`` is set). Several dispatcher threads share the limiter,
as Celery workers do (one process each). Prints the achieved rate against the allowed one, the 429s received, and
duplicates and losses, both of which must be 0. Target: at least 90% of the allowed rate.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "api.settings")

TOKEN = "987654:BENCH-token"
BASE_CHAT = 9_000_000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=500.0, help="the fake's global limit, messages per second")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2,
                        help="dispatcher processes (default: one per CPU)")
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings
    from django.db import connection, connections
    from django.utils import timezone

    from tests.fakes.telegram_server import FakeTelegram

    settings.NURTURE_KICK_DISPATCHER = False
    settings.TELEGRAM_STAFF_CHAT_ID = ""
    settings.NURTURE_WINDOW_START = settings.NURTURE_WINDOW_END = "00:00"
    settings.TELEGRAM_GLOBAL_RATE_PER_SECOND = args.rate
    settings.DEBUG = False
    test_db = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        from api.contacts.models import Consent, Contact
        from api.contacts.services import referral_code_new
        from api.nurture.models import OutboundMessage
        from api.nurture.ratelimit import get_rate_limiter
        from api.nurture.services import outbound_dispatch

        get_rate_limiter().reset()
        n = args.messages
        print(f"database: {connection.vendor} ({test_db}); limiter: {type(get_rate_limiter()).__name__}")
        print(f"preparing {n} contacts and due messages ...", flush=True)
        now = timezone.now()
        Contact.objects.bulk_create([Contact(first_name=f"B{i}", telegram_chat_id=str(BASE_CHAT + i),
                                             referral_code=referral_code_new()) for i in range(n)], batch_size=1000)
        ids = dict(Contact.objects.values_list("telegram_chat_id", "id"))
        Consent.objects.bulk_create([Consent(contact_id=cid, channel="telegram", granted_at=now, granted_how="bench")
                                     for cid in ids.values()], batch_size=1000)
        OutboundMessage.objects.bulk_create([
            OutboundMessage(contact_id=ids[str(BASE_CHAT + i)], channel="telegram", recipient=str(BASE_CHAT + i),
                            text=f"Bench {i}", due_at=now, idempotency_key=f"bench:{i}") for i in range(n)],
            batch_size=1000)

        with FakeTelegram(token=TOKEN, global_rate=args.rate, per_chat_rate=1.0) as fake:
            settings.TELEGRAM_BOT_TOKEN = TOKEN
            settings.TELEGRAM_API_BASE_URL = fake.base_url
            def worker() -> None:
                from api.nurture.ratelimit import forget_rate_limiter

                forget_rate_limiter()  # a process of its own: its own Redis or SQLite connection
                try:
                    while OutboundMessage.objects.filter(state__in=["scheduled", "sending"]).exists():
                        outbound_dispatch(max_seconds=30, batch_size=50)
                        time.sleep(0.01)
                finally:
                    connections.close_all()

            connections.close_all()  # no connection may cross the fork
            started = time.monotonic()
            if os.environ.get("BENCH_PROFILE"):  # one dispatcher in this process, under cProfile
                import cProfile

                cProfile.runctx("worker()", globals(), locals(), os.environ["BENCH_PROFILE"])
            # Processes, as Celery's prefork workers: the ORM is CPU-bound Python, threads share one GIL.
            context = multiprocessing.get_context("fork")
            processes = [context.Process(target=worker) for _ in range(args.workers)]
            for process in processes:
                process.start()
            for process in processes:
                process.join()
            elapsed = time.monotonic() - started
            errors = [p.exitcode for p in processes if p.exitcode]
            sent = fake.sent_messages
            if errors:
                print(f"workers that failed (exit codes): {errors}")
            first, last = sent[0].monotonic, sent[-1].monotonic
            counts = Counter(m.chat_id for m in sent)
            duplicates = sum(c - 1 for c in counts.values() if c > 1)
            losses = n - len(counts)
            states = Counter(OutboundMessage.objects.values_list("state", flat=True))
            achieved = (len(sent) - 1) / (last - first) if last > first else float("nan")
            print(f"messages: {n}, workers: {args.workers}, wall time: {elapsed:.1f} s")
            print(f"achieved rate: {achieved:.0f} msg/s of {args.rate:.0f} allowed ({achieved / args.rate:.1%})")
            print(f"429 received: {fake.count_429} (sends inside a retry_after: {fake.count_retry_after_ignored})")
            print(f"duplicates: {duplicates}, losses: {losses}, row states: {dict(states)}")
            ok = duplicates == 0 and losses == 0 and achieved >= 0.9 * args.rate
            print("PASS" if ok else "FAIL")
            return 0 if ok else 1
    finally:
        from api.nurture.ratelimit import get_rate_limiter

        limiter = get_rate_limiter()
        if hasattr(limiter, "drop"):
            limiter.drop()
        connections.close_all()
        connection.creation.destroy_test_db(test_db, verbosity=0)


if __name__ == "__main__":
    sys.exit(main())
