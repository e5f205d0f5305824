"""End to end: the Facebook syncs against the fake Graph API server on loopback.

Pagination (page size capped at 100 by the fake), an asynchronous report run (the first backfill is
longer than 31 days), a throttling error with its usage headers, currency conversion, and the
mapping of a Facebook campaign after the fact.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from api.campaigns import conf, services
from api.campaigns.models import (
    CampaignCost,
    FacebookAdDay,
    FacebookCampaign,
    PageAudienceDay,
    SyncCursor,
)
from api.common.errors import ApplicationError
from integrations.errors import RateLimited
from tests.fakes.graph_server import FakeGraph
from workers.tasks import campaigns as tasks
from workers.tasks.campaigns import facebook_ads_sync

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake(meta_settings):
    with FakeGraph(access_token="tok", campaigns=5, days=40, start=date(2026, 9, 1), currency="EUR",
                   page_size_max=50, async_polls=2) as server:
        meta_settings.META_GRAPH_BASE_URL = server.base_url
        yield server


def _snapshot():
    return sorted(CampaignCost.objects.values_list("id", "campaign_id", "day", "kind", "source", "amount_xaf",
                                                   "updated_at"))


def _expected_costs(fake, mapping):
    """(campaign id, day) -> XAF for the Facebook campaigns mapped in ``mapping`` (fb id -> campaign id)."""
    out = {}
    for row in fake.expected_rows():
        if row.campaign_id in mapping:
            key = (mapping[row.campaign_id], row.day)
            out[key] = out.get(key, 0) + services.to_xaf(row.spend, row.currency)
    return out


def test_backfill_then_resync_writes_every_cost_once(fake, make_campaign):
    fb = [c["id"] for c in fake.campaigns]
    noel = make_campaign(code="FB-NOEL", facebook_campaign_ids=[fb[0], fb[1]])
    sirops = make_campaign(code="FB-SIROPS", facebook_campaign_ids=[fb[2]])
    waits: list[float] = []

    result = services.facebook_ads_sync(today=fake.end, sleep=waits.append)

    assert result["status"] == "ok"
    assert result["rows_read"] == 5 * 40
    # The backfill used an async report: POST, polls, then paged reads of 50 rows.
    paths = [(m, p) for m, p, _ in fake.requests]
    assert ("POST", "/v26.0/act_1/insights") in paths
    assert sum(1 for m, p in paths if p.endswith("/insights") and p.startswith("/v26.0/6")) == 4  # 200 rows / 50
    assert FacebookCampaign.objects.count() == 5
    assert FacebookAdDay.objects.count() == 200
    expected = _expected_costs(fake, {fb[0]: noel.pk, fb[1]: noel.pk, fb[2]: sirops.pk})
    costs = {(c.campaign_id, c.day): c for c in CampaignCost.objects.all()}
    assert {k: c.amount_xaf for k, c in costs.items()} == expected
    assert all((c.kind, c.source, c.currency) == ("ads", "synced", "EUR") for c in costs.values())
    one = costs[(sirops.pk, fake.start)]
    spend = Decimal(fake._spend(2, 0))
    assert one.original_amount == spend
    assert one.amount_xaf == int((spend * Decimal("655.957")).to_integral_value(
        rounding="ROUND_HALF_UP"))
    cursor = SyncCursor.objects.get(name="facebook_ads:act_1")
    assert cursor.synced_until == fake.end
    assert cursor.last_error == ""

    before, calls = _snapshot(), fake.request_count
    again = services.facebook_ads_sync(today=fake.end, sleep=waits.append)
    assert _snapshot() == before  # nothing created, updated or deleted
    assert again["days_created"] == again["days_updated"] == again["costs_created"] == again["costs_updated"] == 0
    # The re-sync reads only the last days, synchronously (no report run).
    since = (fake.end - timedelta(days=conf.FACEBOOK_ADS_RESYNC_DAYS - 1)).isoformat()
    new = fake.requests[len(fake.requests) - (fake.request_count - calls):]
    assert all(m == "GET" for m, _, _ in new)
    assert any(since in p.get("time_range", "") for _, _, p in new)


def test_a_long_throttle_ends_the_run_and_the_next_run_completes(fake, make_campaign):
    make_campaign(code="FB-A", facebook_campaign_ids=[fake.campaigns[0]["id"]])
    fake.throttle_next(80004, estimated_time_to_regain_access=3, path_contains="insights")
    with pytest.raises(RateLimited) as info:
        services.facebook_ads_sync(today=fake.end, sleep=lambda s: None)
    assert info.value.retry_after == 180  # 3 minutes from X-Business-Use-Case-Usage
    assert CampaignCost.objects.count() == 0
    assert FacebookAdDay.objects.count() == 0
    cursor = SyncCursor.objects.get(name="facebook_ads:act_1")
    assert cursor.synced_until is None
    assert "throttled" in cursor.last_error
    assert "tok" not in cursor.last_error
    services.facebook_ads_sync(today=fake.end, sleep=lambda s: None)
    assert CampaignCost.objects.count() == 40


def test_a_short_throttle_is_waited_out_inside_the_run(fake, make_campaign):
    make_campaign(code="FB-A", facebook_campaign_ids=[fake.campaigns[0]["id"]])
    waits: list[float] = []
    # On a report-run path there is no ad-account header: the zero-minute BUC estimate means ~1 s.
    fake.throttle_next(80000, estimated_time_to_regain_access=0, path_contains="6000000000000001")
    services.facebook_ads_sync(today=fake.end, sleep=waits.append)
    assert 1.0 in waits
    assert CampaignCost.objects.count() == 40
    assert fake.throttled_count == 1


def test_mapping_an_unmapped_campaign_lands_its_spend_without_calling_facebook(fake, make_campaign, staff_client):
    campaign = make_campaign(code="FB-LATE")
    services.facebook_ads_sync(today=fake.end, sleep=lambda s: None)
    assert CampaignCost.objects.count() == 0
    listed = staff_client.get("/api/v1/facebook/campaigns", {"mapped": "false"}).json()["results"]
    assert len(listed) == 5
    assert all(item["campaign"] is None for item in listed)
    fb_id = fake.campaigns[3]["id"]
    calls = fake.request_count
    response = staff_client.post(f"/api/v1/facebook/campaigns/{fb_id}/map", {"campaign_id": campaign.pk})
    assert response.status_code == 200
    assert response.json()["campaign_code"] == "FB-LATE"
    assert fake.request_count == calls
    assert {(c.day, c.amount_xaf) for c in CampaignCost.objects.all()} == {
        (d, x) for (_, d), x in _expected_costs(fake, {fb_id: campaign.pk}).items()}
    campaign.refresh_from_db()
    assert campaign.facebook_campaign_ids == [fb_id]
    assert len(staff_client.get("/api/v1/facebook/campaigns", {"mapped": "false"}).json()["results"]) == 4
    staff_client.post(f"/api/v1/facebook/campaigns/{fb_id}/map", {"campaign_id": None})
    assert CampaignCost.objects.count() == 0


def test_a_currency_without_rate_stops_the_sync_before_writing(meta_settings, make_campaign, monkeypatch):
    monkeypatch.setattr(conf, "CURRENCY_RATES_XAF", {})
    with FakeGraph(access_token="tok", campaigns=2, days=5, currency="USD") as fake:
        meta_settings.META_GRAPH_BASE_URL = fake.base_url
        make_campaign(code="FB-USD", facebook_campaign_ids=[fake.campaigns[0]["id"]])
        with pytest.raises(ApplicationError) as info:
            services.facebook_ads_sync(today=fake.end, sleep=lambda s: None)
    assert info.value.code == "currency_rate_missing"
    assert FacebookAdDay.objects.count() == 0
    assert CampaignCost.objects.count() == 0
    assert "CURRENCY_RATES_XAF" in SyncCursor.objects.get().last_error


def test_the_worker_task_runs_the_sync(meta_settings, make_campaign, monkeypatch):
    # A short first range: one synchronous, paged read (no async report, no real sleeping).
    monkeypatch.setattr(conf, "FACEBOOK_ADS_BACKFILL_DAYS", 10)
    with FakeGraph(access_token="tok", campaigns=2, days=10, start=timezone.localdate() - timedelta(days=9)) as fake:
        meta_settings.META_GRAPH_BASE_URL = fake.base_url
        make_campaign(code="FB-A", facebook_campaign_ids=[fake.campaigns[0]["id"]])
        result = facebook_ads_sync.apply().get()
    assert result["status"] == "ok"
    assert CampaignCost.objects.count() == 10


def test_page_sync_stores_one_row_per_day_and_metric(fake):
    today = date(2026, 11, 25)
    services.facebook_page_sync(today=today, sleep=lambda s: None)
    rows = {(r.metric, r.day): r.value for r in PageAudienceDay.objects.all()}
    expected = fake.expected_page_metrics(conf.FACEBOOK_PAGE_METRICS, today - timedelta(days=90),
                                          today - timedelta(days=1))
    assert rows == {(m.metric, m.day): m.value for m in expected}
    before = sorted(PageAudienceDay.objects.values_list("id", "value", "updated_at"))
    again = services.facebook_page_sync(today=today, sleep=lambda s: None)
    assert again["created"] == again["updated"] == 0
    assert sorted(PageAudienceDay.objects.values_list("id", "value", "updated_at")) == before


def test_syncs_do_nothing_until_configured(settings):
    settings.META_AD_ACCOUNT_ID = ""
    settings.META_PAGE_ID = ""
    assert services.facebook_ads_sync() == {"status": "not_configured"}
    assert services.facebook_page_sync() == {"status": "not_configured"}


def test_a_throttled_task_is_retried_after_the_wait_meta_asked_for(monkeypatch):
    def throttled(**kwargs):
        raise RateLimited("meta: throttled", retry_after=180)

    asked = {}

    def retry(*, exc, countdown):
        asked.update(exc=exc, countdown=countdown)
        return RuntimeError("retry scheduled")

    monkeypatch.setattr(services, "facebook_ads_sync", throttled)
    monkeypatch.setattr(tasks.facebook_ads_sync, "retry", retry)
    with pytest.raises(RuntimeError, match="retry scheduled"):
        tasks.facebook_ads_sync.run()
    assert 180 <= asked["countdown"] <= 185
    assert isinstance(asked["exc"], RateLimited)


def test_a_day_meta_no_longer_reports_is_removed(fake, make_campaign):
    make_campaign(code="FB-A", facebook_campaign_ids=[fake.campaigns[0]["id"]])
    services.facebook_ads_sync(today=fake.end, sleep=lambda s: None)
    assert CampaignCost.objects.filter(day=fake.end).count() == 1
    fake.days -= 1  # Meta restated the last day to no delivery: it drops out of the report
    result = services.facebook_ads_sync(today=fake.end + timedelta(days=1), sleep=lambda s: None)
    assert result["days_deleted"] == 5
    assert result["costs_deleted"] == 1
    assert not CampaignCost.objects.filter(day=fake.end + timedelta(days=1)).exists()
