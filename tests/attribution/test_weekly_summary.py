"""The Monday summary goes to the staff chat once per week, through the outbox, with a link to the report."""

from __future__ import annotations

import datetime

import pytest

from api.attribution import services
from api.attribution.models import WeeklySummary
from api.nurture.models import OutboundMessage
from api.nurture.services import outbound_dispatch
from tests.attribution import factories as f
from tests.fakes.telegram_server import FakeTelegram

pytestmark = pytest.mark.django_db
TOKEN = "123456:TEST-summary"


def test_the_summary_is_queued_once_as_a_staff_message_of_the_outbox(settings):
    fb = f.campaign("fb1", "facebook_ads")
    f.cost(fb, "2026-11-16", 10_000)
    buyer = f.contact()
    f.touch(buyer, f.at("2026-11-15"), camp=fb)
    f.order(buyer, f.at("2026-11-18"), revenue=20_000, cost=8_000)
    services.attribution_run(full=True)
    settings.NURTURE_KICK_DISPATCHER = False
    settings.PUBLIC_BASE_URL = "https://bo.confiotes.cm"
    with FakeTelegram(token=TOKEN) as fake:
        settings.TELEGRAM_BOT_TOKEN, settings.TELEGRAM_API_BASE_URL = TOKEN, fake.base_url
        settings.TELEGRAM_STAFF_CHAT_ID = "-100500"
        summary = services.weekly_summary_send(week=datetime.date(2026, 11, 18))
        again = services.weekly_summary_send(week=datetime.date(2026, 11, 16))
        assert fake.sent_messages == []  # attribution no longer talks to Telegram: the outbox does
        queued = OutboundMessage.objects.get(category="staff")
        outbound_dispatch(max_seconds=10)
        sent = fake.sent_messages
    assert summary.state == "sent"
    assert again.pk == summary.pk
    assert queued.idempotency_key == "staff:weekly_summary:2026-11-16"
    assert queued.recipient == "-100500"
    assert len(sent) == 1
    assert "16/11/2026" in sent[0].text
    assert "facebook_ads" in sent[0].text
    assert "https://bo.confiotes.cm/app/rapports/?semaine=2026-11-16" in sent[0].text
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
