"""Point Telegram at this server's webhook (``setWebhook`` with the secret token), or remove it."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from api.nurture import senders


class Command(BaseCommand):
    help = ("Register PUBLIC_BASE_URL/api/v1/webhooks/telegram as the bot's webhook with TELEGRAM_WEBHOOK_SECRET "
            "(Telegram then sends it in X-Telegram-Bot-Api-Secret-Token); --delete removes it (to use polling).")

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--delete", action="store_true", help="Remove the webhook instead.")

    def handle(self, *args: Any, **options: Any) -> None:
        client = senders.telegram_client()
        if options["delete"]:
            client.delete_webhook()
            self.stdout.write("webhook removed")
            return
        if not settings.TELEGRAM_WEBHOOK_SECRET:
            raise CommandError("Set TELEGRAM_WEBHOOK_SECRET first: the webhook refuses every request without it.")
        url = settings.PUBLIC_BASE_URL.rstrip("/") + "/api/v1/webhooks/telegram"
        client.set_webhook(url, secret_token=settings.TELEGRAM_WEBHOOK_SECRET,
                           allowed_updates=["message", "callback_query", "my_chat_member"])
        self.stdout.write(f"webhook set to {url}")
