"""Provider calls for one outbound message: pick the client of the channel and send.

Clients are kept per thread (one ``requests.Session`` each) and rebuilt when the settings
that configure them change (tests point them at fake servers). Every call raises the
``integrations.errors`` types; this module decides nothing about retries.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

from django.conf import settings

from api.contacts.enums import Channel
from integrations.errors import NotConfigured, PermanentError
from integrations.meta.messenger import MessengerClient
from integrations.meta.whatsapp import WhatsAppClient
from integrations.telegram import TelegramClient, inline_keyboard

_local = threading.local()
# WhatsApp refusals recorded on the message with a reason of their own, never retried.
_WHATSAPP_REFUSALS = {"131049", "131047"}

# Buttons under a message, in a shape of our own that every channel can render (``deliver``):
# ``{"buttons": [[id, title], ...], "list_label": "..."}``. The id comes back when the person taps
# (Telegram callback_data, WhatsApp reply id, Messenger quick-reply payload); the title is shown.
# WhatsApp takes up to 3 reply buttons; more become a list opened by ``list_label``.
WHATSAPP_MAX_REPLY_BUTTONS = 3
DEFAULT_LIST_LABEL = "Choisir"


def buttons_markup(choices: list[tuple[str, str]], *, list_label: str = DEFAULT_LIST_LABEL) -> dict[str, Any]:
    """The channel-neutral ``reply_markup`` of an outbound message offering ``choices`` as ``(id, title)``."""
    return {"buttons": [[choice_id, title] for choice_id, title in choices], "list_label": list_label}


def markup_buttons(reply_markup: dict[str, Any] | None) -> list[tuple[str, str]]:
    """The ``(id, title)`` choices of a neutral ``reply_markup`` (``[]`` for none or a Telegram-only markup)."""
    rows = (reply_markup or {}).get("buttons") if isinstance(reply_markup, dict) else None
    return [(str(row[0]), str(row[1])) for row in rows or [] if isinstance(row, list | tuple) and len(row) == 2]


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
    base = settings.WHATSAPP_API_BASE_URL or settings.META_GRAPH_BASE_URL
    if not token or not number:
        raise NotConfigured("whatsapp: no access token or phone number id configured")
    return _cached("whatsapp", (token, number, base),
                   lambda: WhatsAppClient(token, number, app_secret=settings.META_APP_SECRET or None, base_url=base))


def _records_whatsapp_refusals(send: Callable[..., str]) -> Callable[..., str]:
    """WhatsApp 131049 (Meta's per-person marketing limit) and 131047 (window closed) end the message
    ``message_id`` with a reason of their own and its ``failure_code``, never retried; the error still
    propagates, and the dispatcher's own failure record then finds the row already ended."""

    @functools.wraps(send)
    def wrapper(**kwargs: Any) -> str:
        try:
            return send(**kwargs)
        except PermanentError as exc:
            code = str(getattr(exc, "provider_code", None) or "")
            message_id = kwargs.get("message_id")
            if kwargs.get("channel") == Channel.WHATSAPP and message_id is not None and code in _WHATSAPP_REFUSALS:
                from api.nurture.services.delivery import outbound_send_refused  # services import this module

                outbound_send_refused(message_id=message_id, error_code=code, error_title=exc.message)
            raise

    return wrapper


@_records_whatsapp_refusals
def deliver(*, channel: str, recipient: str, text: str, image_url: str = "",
            reply_markup: dict[str, Any] | None = None, template_name: str = "", template_language: str = "",
            template_parameters: list[str] | None = None, message_id: int | None = None) -> str:
    """Send one message and return the provider's message id (as a string).

    Not idempotent on the provider's side: the caller records the attempt (state ``sending``)
    before calling, so that a crash in the middle is never followed by a blind resend.
    On WhatsApp, ``template_name`` (set only when the 24-hour window is closed) sends that approved
    template instead of the text; a refusal that must not be retried (131049, 131047) ends row
    ``message_id`` with its own reason (``services.delivery.outbound_send_refused``) before re-raising.
    """
    if channel == Channel.TELEGRAM:
        client = telegram_client()
        chat: int | str = int(recipient) if recipient.lstrip("-").isdigit() else recipient
        choices = markup_buttons(reply_markup)
        if choices:  # the neutral shape becomes an inline keyboard, one button a row
            reply_markup = inline_keyboard([[(title, choice_id)] for choice_id, title in choices])
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
        choices = markup_buttons(reply_markup)
        if choices:
            return str(client.send_quick_replies(recipient, text, choices, messaging_type="UPDATE").message_id)
        return str(client.send_text(recipient, text, messaging_type="UPDATE").message_id)
    if channel == Channel.WHATSAPP and template_name:
        return _deliver_whatsapp_template(recipient, template_name, template_language, template_parameters)
    if channel == Channel.WHATSAPP:
        client = whatsapp_client()
        choices = markup_buttons(reply_markup)
        if choices and len(choices) <= WHATSAPP_MAX_REPLY_BUTTONS:
            return str(client.send_buttons(recipient, text, choices).message_id)
        if choices:
            label = str((reply_markup or {}).get("list_label") or DEFAULT_LIST_LABEL)
            return str(client.send_list(recipient, text, label, choices).message_id)
        return str(client.send_text(recipient, text).message_id)
    raise PermanentError(f"no sender for channel {channel!r}")


def _deliver_whatsapp_template(recipient: str, name: str, language: str, parameters: list[str] | None) -> str:
    """Send an approved WhatsApp template with its body variables (outside the 24-hour window)."""
    from api.nurture.services.templates import template_components  # services import this module

    return str(whatsapp_client().send_template(recipient, name, language,
                                               template_components(parameters)).message_id)
