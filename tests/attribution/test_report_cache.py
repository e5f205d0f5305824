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


def test_a_new_lead_re_reads_only_the_new_contacts_of_the_week_in_progress():
    """Leads come in all day; the credits (most of a first view's cost) are read again only after a run,
    and a week that is over is not counted again for a lead of this week."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from api.attribution.models import AttributionCredit
    from api.common.businesstime import business_today, week_start

    fb = f.campaign("fb1", "facebook_ads")
    this_week = week_start(business_today())
    awa = f.contact()
    f.touch(awa, timezone.now(), camp=fb)
    f.order(awa, timezone.now(), revenue=20_000)
    f.full_run()
    assert _channels(weekly_roi_report_cached(week=this_week))["facebook_ads"][1:] == (20_000, 1)

    bella = f.contact()  # a new lead this week, touched by the campaign
    f.touch(bella, timezone.now(), camp=fb)
    with CaptureQueriesContext(connection) as captured:
        report = weekly_roi_report_cached(week=this_week)
    assert _channels(report)["facebook_ads"][1:] == (20_000, 2)
    assert report == weekly_roi_report(week=this_week)
    credits_table = AttributionCredit._meta.db_table
    assert not [q["sql"] for q in captured.captured_queries if credits_table in q["sql"]]
    # The weeks before this one were counted once and are not counted again for this week's lead.
    assert sum("created_at" in q["sql"] and "GROUP BY" in q["sql"] for q in captured.captured_queries) == 1


def test_after_a_run_the_worker_warms_every_week_staff_can_pick():
    """The worker's refresh after a run builds the reports of the week picker, so that staff opening an
    older week after a run do not wait for its credits to be read."""
    from datetime import timedelta

    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from api.attribution import services
    from api.attribution.models import AttributionCredit
    from api.attribution.selectors import weekly_roi_reports_cached
    from api.common.businesstime import business_today, week_start

    fb = f.campaign("fb1", "facebook_ads")
    awa = f.contact()
    f.touch(awa, timezone.now() - timedelta(weeks=6), camp=fb)
    f.order(awa, timezone.now() - timedelta(weeks=6), revenue=20_000)
    f.full_run()
    services.reports_refresh()

    old_week = week_start(business_today()) - timedelta(weeks=11)
    with CaptureQueriesContext(connection) as captured:
        reports = weekly_roi_reports_cached(week=old_week, groups=("channel", "campaign"))
    assert not [q for q in captured.captured_queries if AttributionCredit._meta.db_table in q["sql"]]
    assert reports["channel"] == weekly_roi_report(week=old_week, group="channel")
