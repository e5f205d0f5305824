"""Provider calls for one outbound message: pick the client of the channel and send.

Clients are kept per thread (one ``requests.Session`` each) and rebuilt when the settings
that configure them change (tests point them at fake servers). Every call raises the
``integrations.errors`` types; this module decides nothing about retries.
"""

from __future__ import annotations

import threading
from typing import Any

from django.conf import settings

from api.contacts.enums import Channel
from integrations.errors import NotConfigured, PermanentError
from integrations.meta.messenger import MessengerClient
from integrations.meta.whatsapp import WhatsAppClient
from integrations.telegram import TelegramClient

_local = threading.local()


def _cached(name: str, key: tuple, build: Any) -> Any:
    cache: dict[str, tuple[tuple, Any]] = getattr(_local, "clients", None) or {}
    _local.clients = cache
    entry = cache.get(name)
    if entry is None or entry[0] != key:
        entry = (key, build())
        cache[name] = entry
    return entry[1]


def telegram_client() -> Any:
    """The Telegram client of this thread, configured from ``TELEGRAM_*`` settings."""
    token, base = settings.TELEGRAM_BOT_TOKEN, settings.TELEGRAM_API_BASE_URL
    if not token:
        raise NotConfigured("telegram: no bot token configured")
    return _cached("telegram", (token, base), lambda: TelegramClient(token, base_url=base))


def messenger_client() -> Any:
    """The Messenger client of this thread, configured from ``META_*`` settings."""
    token, base = settings.META_PAGE_ACCESS_TOKEN, settings.META_GRAPH_BASE_URL
    if not token:
        raise NotConfigured("messenger: no page access token configured")
    return _cached("messenger", (token, base, settings.META_APP_SECRET),
                   lambda: MessengerClient(token, app_secret=settings.META_APP_SECRET or None, base_url=base))


def whatsapp_client() -> Any:
    """The WhatsApp Cloud API client of this thread, configured from ``WHATSAPP_*`` and ``META_*`` settings."""
    token, number = settings.WHATSAPP_ACCESS_TOKEN, settings.WHATSAPP_PHONE_NUMBER_ID
    base = settings.META_GRAPH_BASE_URL
    if not token or not number:
        raise NotConfigured("whatsapp: no access token or phone number id configured")
    return _cached("whatsapp", (token, number, base),
                   lambda: WhatsAppClient(token, number, app_secret=settings.META_APP_SECRET or None, base_url=base))


def deliver(*, channel: str, recipient: str, text: str, image_url: str = "",
            reply_markup: dict[str, Any] | None = None) -> str:
    """Send one message and return the provider's message id (as a string).

    Not idempotent on the provider's side: the caller records the attempt (state ``sending``)
    before calling, so that a crash in the middle is never followed by a blind resend.
    """
    if channel == Channel.TELEGRAM:
        client = telegram_client()
        chat: int | str = int(recipient) if recipient.lstrip("-").isdigit() else recipient
        if image_url:
            sent = client.send_photo(chat, image_url, caption=text or None, reply_markup=reply_markup)
        else:
            sent = client.send_message(chat, text, reply_markup=reply_markup)
        return str(sent.message_id)
    if channel == Channel.MESSENGER:
        client = messenger_client()
        # UPDATE: a message the Page initiates inside the person's messaging window (checked before).
        if image_url:
            client.send_image(recipient, image_url, messaging_type="UPDATE")
        return str(client.send_text(recipient, text, messaging_type="UPDATE").message_id)
    if channel == Channel.WHATSAPP:
        client = whatsapp_client()
        return str(client.send_text(recipient, text).message_id)
    raise PermanentError(f"no sender for channel {channel!r}")
