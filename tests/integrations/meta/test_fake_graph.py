"""End to end: the real clients over HTTP against the fake Graph server on loopback."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from integrations.errors import PermanentError, RateLimited, TransientError
from integrations.meta.graph import GraphClient
from integrations.meta.messenger import MessengerClient
from integrations.meta.whatsapp import WhatsAppClient
from tests.fakes.graph_server import FakeGraph


def no_sleep(_seconds: float) -> None:
    pass


def test_sync_insights_are_exactly_the_expected_rows_across_pages():
    with FakeGraph(campaigns=4, days=20, currency="XAF", page_size_max=7) as fake:
        client = GraphClient("tok", base_url=fake.base_url, sleep=no_sleep)

        rows = client.ad_insights_daily("act_1234567890", fake.start, fake.end, page_size=500)

        assert rows == fake.expected_rows()
        assert len(rows) == 80
        assert client.request_count == fake.request_count == 12  # 80 rows / 7 per page (limit capped)
        assert all(r.currency == "XAF" and r.spend == r.spend.to_integral_value() for r in rows)
        assert sum(r.spend for r in rows) == sum(r.spend for r in fake.expected_rows())


def test_async_insights_are_exactly_the_expected_rows():
    with FakeGraph(campaigns=3, days=45, currency="EUR", page_size_max=50, async_polls=3) as fake:
        sleeps: list[float] = []
        client = GraphClient("tok", base_url=fake.base_url, sleep=sleeps.append)

        rows = client.ad_insights_daily("1234567890", fake.start, fake.end, async_threshold_days=31)

        assert rows == fake.expected_rows()
        assert len(fake.reports) == 1
        assert sleeps == [2.0, 3.0, 4.5]  # three polls: Running, Running, Completed
        assert any(r.spend != r.spend.to_integral_value() for r in rows)  # cents survive as Decimal
        assert all(isinstance(r.spend, Decimal) for r in rows)


def test_range_partly_outside_the_data_returns_only_days_with_data():
    with FakeGraph(campaigns=2, days=10) as fake:
        client = GraphClient("tok", base_url=fake.base_url, sleep=no_sleep)

        rows = client.ad_insights_daily("act_1", date(2025, 12, 25), date(2026, 1, 3))

        assert rows == fake.expected_rows(date(2026, 1, 1), date(2026, 1, 3))


def test_failed_async_report_is_transient():
    with FakeGraph(days=40) as fake:
        fake.fail_next_report("Job Failed")
        client = GraphClient("tok", base_url=fake.base_url, sleep=no_sleep)

        with pytest.raises(TransientError):
            client.ad_insights_daily("act_1", fake.start, fake.end)


def test_campaigns_and_page_insights():
    with FakeGraph(campaigns=12, page_size_max=5) as fake:
        client = GraphClient("tok", base_url=fake.base_url, sleep=no_sleep)

        assert client.list_campaigns("act_1") == fake.expected_campaigns()

        metrics = ("page_follows", "page_media_view")
        rows = client.page_insights("682498302938465", metrics, since=date(2025, 11, 1), until=date(2026, 2, 28))
        expected = fake.expected_page_metrics(metrics, date(2025, 11, 1), date(2026, 2, 28))
        assert sorted(rows, key=lambda r: (r.metric, r.day)) == expected


@pytest.mark.parametrize("code", [80004, 17, 4, 613])
def test_injected_throttling_is_rate_limited_then_the_next_call_works(code):
    with FakeGraph(campaigns=2, days=3) as fake:
        fake.throttle_next(code=code, estimated_time_to_regain_access=2)
        client = GraphClient("tok", base_url=fake.base_url, sleep=no_sleep)

        with pytest.raises(RateLimited) as caught:
            client.ad_insights_daily("act_1", fake.start, fake.end)

        assert caught.value.retry_after == 120.0
        assert fake.throttled_count == 1
        assert client.ad_insights_daily("act_1", fake.start, fake.end) == fake.expected_rows()


def test_wrong_token_is_permanent_and_not_echoed():
    with FakeGraph(access_token="right-token") as fake:
        client = GraphClient("wrong-token-123", base_url=fake.base_url, sleep=no_sleep)

        with pytest.raises(PermanentError) as caught:
            client.list_campaigns("act_1")

        assert caught.value.reason == "token_invalid"
        assert "wrong-token-123" not in str(caught.value)


def test_appsecret_proof_is_checked_end_to_end():
    with FakeGraph(app_secret="s3cret") as fake:
        assert GraphClient("tok", app_secret="s3cret", base_url=fake.base_url, sleep=no_sleep).list_campaigns("1")
        with pytest.raises(PermanentError):
            GraphClient("tok", app_secret="other", base_url=fake.base_url, sleep=no_sleep).list_campaigns("1")


class FakeClock:
    """Shared time for the server's usage window and the client's sleeps: no real waiting."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_a_client_that_follows_usage_headers_is_never_throttled():
    clock = FakeClock()
    with FakeGraph(campaigns=60, page_size_max=1, budget=20, window_seconds=60, clock=clock) as fake:
        client = GraphClient("tok", base_url=fake.base_url, sleep=clock.sleep)

        assert client.list_campaigns("act_1") == fake.expected_campaigns()

        assert fake.throttled_count == 0
        assert fake.request_count == 60
        assert clock.now > 0  # it did slow down


def test_a_client_that_ignores_usage_headers_gets_throttled():
    clock = FakeClock()
    with FakeGraph(campaigns=60, page_size_max=1, budget=20, window_seconds=60, clock=clock) as fake:
        client = GraphClient("tok", base_url=fake.base_url, sleep=clock.sleep)
        client.auto_pause = False

        with pytest.raises(RateLimited) as caught:
            client.list_campaigns("act_1")

        assert caught.value.provider_code == 80004
        assert caught.value.retry_after == 60.0  # the oldest call leaves the 60 s window in 60 s
        assert fake.throttled_count == 1
        assert fake.request_count == 21


def test_messenger_and_whatsapp_sends_are_recorded():
    with FakeGraph() as fake:
        messenger = MessengerClient("tok", base_url=fake.base_url)
        whatsapp = WhatsAppClient("tok", "106540352242922", base_url=fake.base_url)

        m = messenger.send_text("6789012345678901", "Bonjour")
        w = whatsapp.send_template("+237677123456", "bienvenue", "fr")

        assert m.recipient_id == "6789012345678901"
        assert m.message_id.startswith("m_")
        assert w.recipient_id == "237677123456"
        assert w.message_id.startswith("wamid.")
        assert [s["channel"] for s in fake.sent] == ["messenger", "whatsapp"]
        assert fake.sent[1]["body"]["template"]["name"] == "bienvenue"
