"""Poll Telegram with ``getUpdates`` instead of a webhook (local runs without a public address)."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand

from api.nurture import senders, services
from integrations.errors import IntegrationError, RateLimited


class Command(BaseCommand):
    help = ("Fetch bot updates with getUpdates (long polling) and process each once; the offset is stored "
            "in the database. With --dispatch, also sends due messages between polls (no worker needed).")

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--once", action="store_true", help="One getUpdates round, then exit.")
        parser.add_argument("--timeout", type=int, default=25, help="Long-polling timeout in seconds.")
        parser.add_argument("--delete-webhook", action="store_true",
                            help="Remove a webhook first (getUpdates fails while one is set).")
        parser.add_argument("--dispatch", action="store_true", help="Send due outbound messages between polls.")

    def handle(self, *args: Any, **options: Any) -> None:
        client = senders.telegram_client()
        if options["delete_webhook"]:
            client.delete_webhook()
        while True:
            try:
                count = services.telegram_poll_once(client=client, timeout=options["timeout"])
            except RateLimited as exc:
                time.sleep(exc.retry_after)
                count = 0
            except IntegrationError as exc:
                self.stderr.write(f"telegram: {exc}")
                if options["once"]:
                    raise
                time.sleep(5)
                count = 0
            if count:
                self.stdout.write(f"{count} update(s) processed")
            if options["dispatch"]:
                stats = services.outbound_dispatch(max_seconds=5)
                if stats.sent or stats.skipped or stats.failed:
                    self.stdout.write(f"sent {stats.sent}, skipped {stats.skipped}, failed {stats.failed}")
            if options["once"]:
                return
