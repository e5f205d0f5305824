"""The Monday summary goes to the staff Telegram chat once per week, with the ROAS chart."""

from __future__ import annotations

import datetime

import pytest

from api.attribution import services
from api.attribution.models import WeeklySummary
from tests.attribution import factories as f
from tests.fakes.telegram_server import FakeTelegram

pytestmark = pytest.mark.django_db
TOKEN = "123456:TEST-summary"


def test_the_summary_is_sent_once_with_a_chart(settings):
    fb = f.campaign("fb1", "facebook_ads")
    f.cost(fb, "2026-11-16", 10_000)
    buyer = f.contact()
    f.touch(buyer, f.at("2026-11-15"), camp=fb)
    f.order(buyer, f.at("2026-11-18"), revenue=20_000, cost=8_000)
    services.attribution_run(full=True)
    with FakeTelegram(token=TOKEN) as fake:
        settings.TELEGRAM_BOT_TOKEN, settings.TELEGRAM_API_BASE_URL = TOKEN, fake.base_url
        settings.TELEGRAM_STAFF_CHAT_ID = "-100500"
        summary = services.weekly_summary_send(week=datetime.date(2026, 11, 18))
        again = services.weekly_summary_send(week=datetime.date(2026, 11, 16))
        sent = fake.sent_messages
    assert summary.state == "sent"
    assert again.pk == summary.pk
    assert len(sent) == 1
    assert sent[0].method == "sendPhoto"
    assert "16/11/2026" in sent[0].text
    assert "facebook_ads" in sent[0].text
    assert WeeklySummary.objects.get().week_start == datetime.date(2026, 11, 16)


def test_nothing_is_sent_without_a_chat(settings):
    settings.TELEGRAM_STAFF_CHAT_ID = ""
    assert services.weekly_summary_send() is None
    assert not WeeklySummary.objects.exists()


def test_an_interrupted_send_is_not_repeated(settings):
    settings.TELEGRAM_BOT_TOKEN, settings.TELEGRAM_STAFF_CHAT_ID = TOKEN, "-100500"
    WeeklySummary.objects.create(week_start=datetime.date(2026, 11, 16), state="sending")
    summary = services.weekly_summary_send(week=datetime.date(2026, 11, 16))
    assert summary.state == "unknown_outcome"
