"""Fixtures of the nurture tests: a fake Telegram on loopback wired into settings, contacts, a dispatcher."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.fakes.telegram_server import FakeTelegram

TOKEN = "123456:TEST-nurture-token"
STAFF_CHAT = "-100777"
SECRET = "s3cret-webhook-token"


@pytest.fixture(autouse=True)
def nurture_settings(settings):
    """No broker kicks in tests (the tests run the dispatcher), any hour is a sending hour, clean limiter."""
    settings.NURTURE_KICK_DISPATCHER = False
    settings.NURTURE_WINDOW_START = "00:00"
    settings.NURTURE_WINDOW_END = "00:00"
    settings.TELEGRAM_WEBHOOK_SECRET = SECRET
    settings.TELEGRAM_STAFF_CHAT_ID = STAFF_CHAT
    from api.nurture.ratelimit import forget_rate_limiter, get_rate_limiter

    forget_rate_limiter()
    get_rate_limiter().reset()
    yield settings
    limiter = get_rate_limiter()
    limiter.reset()
    if hasattr(limiter, "drop"):
        limiter.drop()  # the file is named after the per-process test database: do not leave it behind
    forget_rate_limiter()


@pytest.fixture
def fake_telegram(settings) -> Iterator[FakeTelegram]:
    with FakeTelegram(token=TOKEN, global_rate=30, per_chat_rate=1.0) as fake:
        settings.TELEGRAM_BOT_TOKEN = TOKEN
        settings.TELEGRAM_API_BASE_URL = fake.base_url
        yield fake


def make_contact(chat_id: int | None = None, *, first_name: str = "Awa", consent: bool = True,
                 **fields: Any) -> Any:
    """A contact with a Telegram chat (and Telegram consent unless ``consent=False``)."""
    from api.contacts.services import contact_upsert

    identity: dict[str, Any] = {}
    if chat_id is not None:
        identity["telegram_chat_id"] = str(chat_id)
    result = contact_upsert(first_name=first_name, consents=["telegram"] if consent and chat_id else None,
                            consent_how="test", **identity, **fields)
    return result.contact


def dispatch(**kwargs: Any) -> Any:
    from api.nurture.services import outbound_dispatch

    kwargs.setdefault("max_seconds", 20)
    return outbound_dispatch(**kwargs)


def marketing(contact: Any, text: str = "Bonjour {first_name}", key: str | None = None, **kwargs: Any) -> Any:
    from api.nurture.services import contact_recipient, outbound_enqueue

    kwargs.setdefault("channel", "telegram")
    return outbound_enqueue(idempotency_key=key or f"test:{contact.pk}:{text}", recipient=contact_recipient(
        contact, kwargs["channel"]), text=text, contact_id=contact.pk, **kwargs)


# --- the fake providers of the inbound pipeline tests (tests/nurture/meta_helpers.py) --------------------


@pytest.fixture
def staff_chat(settings) -> Iterator[FakeTelegram]:
    """The Telegram Bot API without rate limits (staff copies go to the staff chat on Telegram whatever the
    channel), and the Meta app secret the fakes sign their webhooks with."""
    from tests.nurture.meta_helpers import APP_SECRET

    with FakeTelegram(token=TOKEN, global_rate=None, per_chat_rate=None) as fake:
        settings.TELEGRAM_BOT_TOKEN = TOKEN
        settings.TELEGRAM_API_BASE_URL = fake.base_url
        settings.META_APP_SECRET = APP_SECRET
        yield fake


@pytest.fixture
def whatsapp(settings, api_client, staff_chat) -> Iterator[Any]:
    """The fake WhatsApp Cloud API, posting its signed webhooks to the app's Meta webhook URL."""
    from tests.fakes.whatsapp_server import FakeWhatsApp
    from tests.nurture.meta_helpers import APP_SECRET, meta_target

    with FakeWhatsApp(app_secret=APP_SECRET, webhook_target=meta_target(api_client)) as fake:
        settings.WHATSAPP_ACCESS_TOKEN = fake.access_token
        settings.WHATSAPP_PHONE_NUMBER_ID = fake.phone_number_id
        settings.META_GRAPH_BASE_URL = fake.base_url
        yield fake


@pytest.fixture
def messenger(settings, api_client, staff_chat) -> Iterator[Any]:
    """The fake Graph API (Messenger Send API), posting the Page's signed webhooks to the app."""
    from tests.fakes.graph_server import FakeGraph
    from tests.nurture.meta_helpers import APP_SECRET, meta_target

    with FakeGraph(access_token="page-token", app_secret=APP_SECRET, webhook_target=meta_target(api_client),
                   enforce_budget=False) as fake:
        settings.META_PAGE_ACCESS_TOKEN = "page-token"
        settings.META_GRAPH_BASE_URL = fake.base_url
        yield fake
