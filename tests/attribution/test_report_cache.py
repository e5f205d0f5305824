"""The back office's cached weekly report (``weekly_roi_report_cached``) is the report itself, and a
change of its data (a cost, a run after an order, a new contact, a merge) shows at once."""

from __future__ import annotations

from datetime import date

import pytest

from api.attribution.selectors import weekly_roi_report, weekly_roi_report_cached
from api.contacts.services import contact_merge
from tests.attribution import factories as f

pytestmark = pytest.mark.django_db

WEEK = date(2026, 11, 16)


def _channels(report):
    return {r["channel"]: (r["cost_xaf"], r["revenue_xaf"], r["leads"]) for r in report["rows"]}


def test_the_cached_report_follows_every_change_of_its_data():
    fb = f.campaign("fb1", "facebook_ads")
    f.cost(fb, "2026-11-16", 6_000)
    awa = f.contact(created=f.at("2026-11-16", 9))
    f.touch(awa, f.at("2026-11-16"), camp=fb)
    f.order(awa, f.at("2026-11-18"), revenue=20_000, cost=8_000)
    f.full_run()
    first = weekly_roi_report_cached(week=WEEK, group="channel")
    assert first == weekly_roi_report(week=WEEK, group="channel")
    assert _channels(first)["facebook_ads"] == (6_000, 20_000, 1)

    f.cost(fb, "2026-11-17", 4_000)  # a cost: no run needed for it to count
    assert _channels(weekly_roi_report_cached(week=WEEK))["facebook_ads"] == (10_000, 20_000, 1)

    bella = f.contact(created=f.at("2026-11-19", 8))  # a new lead, touched by the campaign
    f.touch(bella, f.at("2026-11-19", 9), camp=fb)
    assert _channels(weekly_roi_report_cached(week=WEEK))["facebook_ads"] == (10_000, 20_000, 2)

    f.order(bella, f.at("2026-11-20"), revenue=5_000)  # an order counts once a run credited it
    f.full_run()
    assert _channels(weekly_roi_report_cached(week=WEEK))["facebook_ads"] == (10_000, 25_000, 2)

    contact_merge(target_id=awa.pk, source_id=bella.pk)  # one person: one lead
    report = weekly_roi_report_cached(week=WEEK)
    assert _channels(report)["facebook_ads"][2] == 1
    assert report == weekly_roi_report(week=WEEK)


def test_each_week_and_grouping_has_its_own_report():
    fb = f.campaign("fb1", "facebook_ads")
    f.cost(fb, "2026-11-16", 6_000)
    f.cost(fb, "2026-11-09", 1_000)

    by_channel = weekly_roi_report_cached(week=WEEK, group="channel")
    by_campaign = weekly_roi_report_cached(week=WEEK, group="campaign")
    week_before = weekly_roi_report_cached(week=date(2026, 11, 9))

    assert [r["cost_xaf"] for r in by_channel["rows"]] == [6_000]
    assert [(r["campaign_code"], r["cost_xaf"]) for r in by_campaign["rows"]] == [("FB1", 6_000)]
    assert [r["cost_xaf"] for r in week_before["rows"]] == [1_000]
