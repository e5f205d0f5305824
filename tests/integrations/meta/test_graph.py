"""GraphClient against mocked HTTP (``responses``) with payloads shaped like Meta's documentation."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from integrations.errors import NotConfigured, PermanentError, RateLimited, TransientError
from integrations.meta.base import GRAPH_API_VERSION
from integrations.meta.graph import GraphClient
from integrations.meta.types import AdCampaign, PageMetricDay

FIXTURES = Path(__file__).parent / "fixtures"
BASE = "https://graph.facebook.com"
V = f"{BASE}/{GRAPH_API_VERSION}"
TOKEN = "EAAGtestTOKEN123secret"
APP_SECRET = "app-secret-xyz"


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def query(call) -> dict[str, list[str]]:
    return parse_qs(urlsplit(call.request.url).query)


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(sleeps) -> GraphClient:
    return GraphClient(TOKEN, app_secret=APP_SECRET, sleep=sleeps.append)


def graph_error(code: int, message: str = "error", subcode: int | None = None, **extra) -> dict:
    error = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AxyZ", **extra}
    if subcode is not None:
        error["error_subcode"] = subcode
    return {"error": error}


def test_version_is_pinned_to_v26_or_newer():
    assert int(GRAPH_API_VERSION.lstrip("v").split(".")[0]) >= 26


def test_missing_token_means_not_configured():
    with pytest.raises(NotConfigured):
        GraphClient("")


# -- auth ---------------------------------------------------------------------------------------


@responses.activate
def test_token_travels_in_header_with_appsecret_proof_never_in_url(client):
    responses.get(f"{V}/act_1/campaigns", json={"data": []})

    client.list_campaigns("1")

    call = responses.calls[0]
    assert call.request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in call.request.url
    expected_proof = hmac.new(APP_SECRET.encode(), TOKEN.encode(), hashlib.sha256).hexdigest()
    assert query(call)["appsecret_proof"] == [expected_proof]


@responses.activate
@pytest.mark.parametrize("status", [400, 401])
def test_invalid_token_is_permanent_and_never_echoes_the_token(client, status):
    # Meta quotes a malformed token in its message; the error must not.
    responses.get(f"{V}/act_1/campaigns", status=status,
                  json=graph_error(190, f"Malformed access token {TOKEN} for app secret {APP_SECRET}", 463))

    with pytest.raises(PermanentError) as caught:
        client.list_campaigns("act_1")

    assert caught.value.reason == "token_invalid"
    assert caught.value.provider_code == 190
    for secret in (TOKEN, APP_SECRET, TOKEN[:12]):
        assert secret not in str(caught.value)
        assert secret not in repr(caught.value.args)


@responses.activate
def test_other_errors_are_scrubbed_of_secrets(client):
    responses.get(f"{V}/act_1/campaigns", status=400, json=graph_error(100, f"bad param near {TOKEN}"))

    with pytest.raises(PermanentError) as caught:
        client.list_campaigns("1")

    assert caught.value.reason == "invalid_parameter"
    assert TOKEN not in str(caught.value)


# -- Page Insights -------------------------------------------------------------------------------


@responses.activate
def test_page_insights_maps_end_time_to_the_day_and_ignores_time_window_paging(client):
    responses.get(f"{V}/682498302938465/insights", json=fixture("page_insights.json"))

    rows = client.page_insights("682498302938465", since=date(2026, 3, 1), until=date(2026, 3, 2))

    assert rows == [
        PageMetricDay("page_follows", date(2026, 3, 1), 1520),
        PageMetricDay("page_follows", date(2026, 3, 2), 1523),
        PageMetricDay("page_media_view", date(2026, 3, 1), 410),
        PageMetricDay("page_media_view", date(2026, 3, 2), 388),
    ]
    assert len(responses.calls) == 1  # paging.next is the next time window, not more rows
    params = query(responses.calls[0])
    assert params["metric"] == ["page_follows,page_media_view"]
    assert params["period"] == ["day"]
    assert params["since"] == ["2026-03-01"]
    assert params["until"] == ["2026-03-03"]  # exclusive on Meta's side


@responses.activate
def test_page_insights_splits_long_ranges_into_90_day_windows(client):
    responses.get(f"{V}/42/insights", json={"data": []})

    client.page_insights("42", ["page_follows"], since=date(2026, 1, 1), until=date(2026, 4, 30))

    windows = [(query(c)["since"][0], query(c)["until"][0]) for c in responses.calls]
    assert windows == [("2026-01-01", "2026-04-01"), ("2026-04-01", "2026-05-01")]


@pytest.mark.parametrize(("metric", "replacement"), [("page_fans", "page_follows"),
                                                    ("page_impressions", "page_media_view")])
@responses.activate
def test_removed_page_metrics_are_refused_before_any_call(client, metric, replacement):
    with pytest.raises(PermanentError) as caught:
        client.page_insights("42", [metric], since=date(2026, 1, 1), until=date(2026, 1, 2))

    assert caught.value.reason == "metric_deprecated"
    assert replacement in str(caught.value)
    assert len(responses.calls) == 0


# -- Ads Insights, synchronous ---------------------------------------------------------------------


@responses.activate
def test_ad_insights_sync_follows_cursors_and_parses_decimal_spend(client):
    responses.get(f"{V}/act_1234567890/insights", json=fixture("ads_insights_page1.json"))
    responses.get(f"{V}/act_1234567890/insights", json=fixture("ads_insights_page2.json"))

    rows = client.ad_insights_daily("1234567890", date(2026, 3, 2), date(2026, 3, 3), page_size=2)

    assert [r.spend for r in rows] == [Decimal("1234.56"), Decimal("0.10"), Decimal("99.99")]
    assert all(isinstance(r.spend, Decimal) for r in rows)
    first = rows[0]
    assert (first.campaign_id, first.campaign_name, first.day) == ("120210000000000001", "Coffrets Noel - Douala",
                                                                   date(2026, 3, 2))
    assert (first.impressions, first.reach, first.clicks, first.currency) == (15234, 9876, 321, "EUR")
    assert first.actions == {"link_click": 300, "onsite_conversion.messaging_conversation_started_7d": 42}
    assert rows[1].actions == {}
    assert sum(r.spend for r in rows) == Decimal("1334.65")

    params = query(responses.calls[0])
    assert params["level"] == ["campaign"]
    assert params["time_increment"] == ["1"]
    assert "account_currency" in params["fields"][0].split(",")
    assert json.loads(params["time_range"][0]) == {"since": "2026-03-02", "until": "2026-03-03"}
    assert params["limit"] == ["2"]
    assert query(responses.calls[1])["after"] == ["MQZDZD"]
    assert len(responses.calls) == 2


@responses.activate
def test_spend_sent_as_a_json_number_never_goes_through_float(client):
    body = '{"data":[{"campaign_id":"1","campaign_name":"c","spend":0.1,"account_currency":"EUR",' \
           '"date_start":"2026-03-02","date_stop":"2026-03-02"}]}'
    responses.get(f"{V}/act_1/insights", body=body, content_type="application/json")

    (row,) = client.ad_insights_daily("act_1", date(2026, 3, 2), date(2026, 3, 2))

    assert row.spend == Decimal("0.1")


@responses.activate
def test_row_without_account_currency_is_refused(client):
    responses.get(f"{V}/act_1/insights", json={"data": [{"campaign_id": "1", "spend": "1.00",
                                                          "date_start": "2026-03-02"}]})

    with pytest.raises(PermanentError, match="account_currency"):
        client.ad_insights_daily("act_1", date(2026, 3, 2), date(2026, 3, 2))


# -- Ads Insights, async report runs --------------------------------------------------------------


@responses.activate
def test_long_range_uses_an_async_report_run_and_polls_with_backoff(client, sleeps):
    responses.post(f"{V}/act_1/insights", json={"report_run_id": "6123456789"})
    responses.get(f"{V}/6123456789", json={"id": "6123456789", "async_status": "Job Started",
                                           "async_percent_completion": 0})
    responses.get(f"{V}/6123456789", json={"id": "6123456789", "async_status": "Job Running",
                                           "async_percent_completion": 60})
    responses.get(f"{V}/6123456789", json={"id": "6123456789", "async_status": "Job Completed",
                                           "async_percent_completion": 100})
    responses.get(f"{V}/6123456789/insights", json=fixture("ads_insights_page1.json"))
    responses.get(f"{V}/6123456789/insights", json=fixture("ads_insights_page2.json"))

    rows = client.ad_insights_daily("act_1", date(2026, 1, 1), date(2026, 3, 31))

    assert len(rows) == 3
    post = responses.calls[0].request
    form = parse_qs(post.body)
    assert form["level"] == ["campaign"]
    assert form["time_increment"] == ["1"]
    assert json.loads(form["time_range"][0]) == {"since": "2026-01-01", "until": "2026-03-31"}
    assert sleeps == [2.0, 3.0, 4.5]  # capped exponential backoff between polls
    assert query(responses.calls[4])["limit"] == ["500"]
    assert query(responses.calls[5])["after"] == ["MQZDZD"]
    assert client.request_count == 6


@responses.activate
def test_threshold_is_inclusive_of_short_ranges(client):
    responses.get(f"{V}/act_1/insights", json={"data": []})

    client.ad_insights_daily("act_1", date(2026, 1, 1), date(2026, 1, 31), async_threshold_days=31)

    assert [c.request.method for c in responses.calls] == ["GET"]


@pytest.mark.parametrize("status", ["Job Failed", "Job Skipped"])
@responses.activate
def test_failed_report_run_is_transient(client, status):
    responses.post(f"{V}/act_1/insights", json={"report_run_id": "777"})
    responses.get(f"{V}/777", json={"id": "777", "async_status": status, "async_percent_completion": 10})

    with pytest.raises(TransientError) as caught:
        client.ad_insights_daily("act_1", date(2026, 1, 1), date(2026, 6, 30))

    assert caught.value.reason == "report_failed"


@responses.activate
def test_report_run_that_never_finishes_times_out(client, sleeps):
    responses.post(f"{V}/act_1/insights", json={"report_run_id": "778"})
    responses.get(f"{V}/778", json={"id": "778", "async_status": "Job Running", "async_percent_completion": 5})

    with pytest.raises(TransientError) as caught:
        client.ad_insights_daily("act_1", date(2026, 1, 1), date(2026, 6, 30))

    assert caught.value.reason == "report_timeout"
    assert sum(sleeps) >= GraphClient.ASYNC_POLL_TIMEOUT
    assert max(sleeps) == GraphClient.ASYNC_POLL_MAX_WAIT


# -- campaigns and paging ----------------------------------------------------------------------------


@responses.activate
def test_list_campaigns_is_paginated(client):
    # Same URL registered twice: responses answers them in order.
    responses.get(f"{V}/act_9/campaigns", json={
        "data": [{"id": "1", "name": "A", "status": "ACTIVE"}],
        "paging": {"cursors": {"before": "b0", "after": "a1"}, "next": f"{V}/act_9/campaigns?after=a1"}})
    responses.get(f"{V}/act_9/campaigns", json={
        "data": [{"id": "2", "name": "B", "status": "PAUSED"}],
        "paging": {"cursors": {"before": "a1", "after": "a2"}}})

    campaigns = client.list_campaigns("act_9")

    assert campaigns == [AdCampaign("1", "A", "ACTIVE"), AdCampaign("2", "B", "PAUSED")]
    assert "after" not in query(responses.calls[0])
    assert query(responses.calls[1])["after"] == ["a1"]
    assert query(responses.calls[1])["fields"] == ["id,name,status"]


@responses.activate
def test_offset_paging_without_cursors_follows_next_on_our_host_only(client):
    responses.get(f"{V}/act_9/campaigns", json={"data": [{"id": "1", "name": "A", "status": "ACTIVE"}],
                                                 "paging": {"next": "https://evil.example/v26.0/act_9/campaigns"}})

    with pytest.raises(PermanentError) as caught:
        client.list_campaigns("act_9")

    assert caught.value.reason == "bad_paging"


@responses.activate
def test_repeated_cursor_stops_instead_of_looping(client):
    looping = {"data": [{"id": "1", "name": "A", "status": "ACTIVE"}],
               "paging": {"cursors": {"after": "same"}, "next": f"{V}/act_9/campaigns?after=same"}}
    responses.get(f"{V}/act_9/campaigns", json=looping)

    with pytest.raises(TransientError):
        client.list_campaigns("act_9")

    assert len(responses.calls) == 2


def test_ids_cannot_change_the_url_path(client):
    with pytest.raises(PermanentError):
        client.list_campaigns("1/../me")


# -- usage headers and pauses --------------------------------------------------------------------------


def usage_headers(pct: int, *, regain_minutes: int = 0, reset: int | None = None) -> dict[str, str]:
    headers = {
        "X-App-Usage": json.dumps({"call_count": pct, "total_cputime": 1, "total_time": 1}),
        "X-Business-Use-Case-Usage": json.dumps({"1029384756": [{
            "type": "ads_insights", "call_count": 1, "total_cputime": 1, "total_time": 1,
            "estimated_time_to_regain_access": regain_minutes}]}),
    }
    if reset is not None:
        headers["X-Ad-Account-Usage"] = json.dumps({"acc_id_util_pct": 1, "reset_time_duration": reset,
                                                    "ads_api_access_tier": "standard_access"})
    return headers


@pytest.mark.parametrize(("pct", "pause"), [(10, 0.0), (74, 0.0), (75, 0.0), (85, 7.5), (95, 60.0), (100, 60.0)])
@responses.activate
def test_suggested_pause_grows_with_usage(client, pct, pause):
    responses.get(f"{V}/act_1/campaigns", json={"data": []}, headers=usage_headers(pct))

    client.list_campaigns("1")

    assert client.last_usage.call_count == pct
    assert client.suggested_pause() == pytest.approx(pause)


@responses.activate
def test_hard_pause_uses_metas_estimate_when_longer(client):
    headers = usage_headers(1)
    headers["X-Business-Use-Case-Usage"] = json.dumps({"1029384756": [{
        "type": "ads_insights", "call_count": 97, "total_cputime": 20, "total_time": 30,
        "estimated_time_to_regain_access": 5}]})
    responses.get(f"{V}/act_1/campaigns", json={"data": []}, headers=headers)

    client.list_campaigns("1")

    assert client.last_usage.business_use_cases[0].type == "ads_insights"
    assert client.suggested_pause() == 300.0


@responses.activate
def test_client_sleeps_the_suggested_pause_before_the_next_request(client, sleeps):
    responses.get(f"{V}/act_1/campaigns", json={"data": []}, headers=usage_headers(85))
    responses.get(f"{V}/act_2/campaigns", json={"data": []}, headers=usage_headers(10))

    client.list_campaigns("1")
    assert sleeps == []
    client.list_campaigns("2")
    assert sleeps == [pytest.approx(7.5)]
    client.list_campaigns("2")
    assert len(sleeps) == 1


@responses.activate
def test_malformed_usage_headers_are_ignored(client):
    responses.get(f"{V}/act_1/campaigns", json={"data": []},
                  headers={"X-App-Usage": "{not json", "X-Business-Use-Case-Usage": "[]"})

    client.list_campaigns("1")

    assert client.last_usage.peak_pct == 0.0
    assert client.suggested_pause() == 0.0


# -- throttling and other errors ------------------------------------------------------------------------

THROTTLING_CODES = [4, 17, 32, 613, *range(80000, 80015)]


@pytest.mark.parametrize("code", THROTTLING_CODES)
@responses.activate
def test_each_throttling_code_is_rate_limited_with_metas_estimate(client, code):
    responses.get(f"{V}/act_1/insights", status=400, json=graph_error(code, "(#x) too many calls", 2446079),
                  headers=usage_headers(100, regain_minutes=3))

    with pytest.raises(RateLimited) as caught:
        client.ad_insights_daily("1", date(2026, 1, 1), date(2026, 1, 2))

    assert caught.value.retry_after == 180.0
    assert caught.value.provider_code == code


@pytest.mark.parametrize("code", THROTTLING_CODES)
@responses.activate
def test_each_throttling_code_without_estimate_waits_a_default(client, code):
    responses.get(f"{V}/act_1/insights", status=403, json=graph_error(code, "limit reached"))

    with pytest.raises(RateLimited) as caught:
        client.ad_insights_daily("1", date(2026, 1, 1), date(2026, 1, 2))

    assert caught.value.retry_after == 60.0


@responses.activate
def test_ad_account_reset_time_gives_the_wait(client):
    responses.get(f"{V}/act_1/insights", status=400, json=graph_error(80004, "too many calls", 2446079),
                  headers=usage_headers(100, reset=42))

    with pytest.raises(RateLimited) as caught:
        client.ad_insights_daily("1", date(2026, 1, 1), date(2026, 1, 2))

    assert caught.value.retry_after == 42.0


@responses.activate
def test_buc_throttle_with_zero_minute_estimate_waits_briefly(client):
    responses.get(f"{V}/act_1/insights", status=400, json=graph_error(80000, "too many calls"),
                  headers=usage_headers(100, regain_minutes=0))

    with pytest.raises(RateLimited) as caught:
        client.ad_insights_daily("1", date(2026, 1, 1), date(2026, 1, 2))

    assert 0 < caught.value.retry_after < 60


@pytest.mark.parametrize(("status", "body"), [
    (500, {"error": {"message": "An unknown error occurred", "code": 1, "type": "OAuthException"}}),
    (503, "<html>Service Unavailable</html>"),
    (400, graph_error(2, "Service temporarily unavailable")),
    (400, graph_error(1234, "temporary", is_transient=True)),
])
@responses.activate
def test_server_side_failures_are_transient(client, status, body):
    if isinstance(body, dict):
        responses.get(f"{V}/act_1/campaigns", status=status, json=body)
    else:
        responses.get(f"{V}/act_1/campaigns", status=status, body=body)

    with pytest.raises(TransientError):
        client.list_campaigns("1")


@responses.activate
def test_permission_errors_are_permanent(client):
    responses.get(f"{V}/act_1/campaigns", status=403, json=graph_error(200, "Requires ads_read permission"))

    with pytest.raises(PermanentError) as caught:
        client.list_campaigns("1")

    assert caught.value.reason == "permission_denied"
