"""The touch-channel rule and the windows of touches before an order: every form gives the same answer."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from django.db.models import OuterRef

from api.campaigns import selectors, services, touches
from api.campaigns.models import Touchpoint

LOOKBACK = timedelta(days=30)
PLACED = datetime(2026, 11, 20, 12, 0, 0, 123456, tzinfo=UTC)
US = timedelta(microseconds=1)


def _us(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // US


def _touch(contact, *, at, channel="whatsapp", kind="inbound_message", campaign=None) -> Touchpoint:
    return services.touchpoint_record(contact_id=contact.pk, channel=channel, kind=kind,
                                      campaign_id=campaign.pk if campaign else None, occurred_at=at)


@pytest.mark.parametrize(("campaign_channel", "kind", "channel", "expected"), [
    ("facebook_ads", "inbound_message", "messenger", "facebook_ads"),  # the campaign's channel wins
    ("facebook_ads", "tasting_visit", "in_person", "facebook_ads"),
    (None, "tasting_visit", "in_person", "tasting"),  # no campaign: the channel its kind stands for
    (None, "fair_visit", "in_person", "fair"),
    (None, "referral", "in_person", "referral"),
    ("", "inbound_message", "whatsapp", "whatsapp"),  # else its own
    (None, "other", "", "unknown"),
])
def test_a_touch_channel_is_its_campaign_s_else_its_kind_s_else_its_own(campaign_channel, kind, channel, expected):
    assert touches.touch_channel(campaign_channel=campaign_channel, kind=kind, channel=channel) == expected


@pytest.fixture
def scene(make_campaign, make_contact):
    """One buyer with touches on both sides of each edge of the window, and a neighbour."""
    ads = make_campaign(code="FB-ADS", channel="facebook_ads")
    buyer, other = make_contact(phone="+237699000011"), make_contact(phone="+237699000012")
    start = PLACED - LOOKBACK
    made = {
        "before_window": _touch(buyer, at=start - US),
        "at_start": _touch(buyer, at=start, channel="messenger", campaign=ads),
        "tasting": _touch(buyer, at=start + timedelta(days=3), channel="in_person", kind="tasting_visit"),
        "tie_a": _touch(buyer, at=PLACED - timedelta(days=1)),
        "tie_b": _touch(buyer, at=PLACED - timedelta(days=1), channel="telegram", kind="bot_start"),
        "at_placed": _touch(buyer, at=PLACED),
        "after_placed": _touch(buyer, at=PLACED + US),
        "stated": _touch(buyer, at=PLACED - timedelta(hours=1), channel="in_person", kind="self_reported_source"),
        "neighbour": _touch(other, at=PLACED - timedelta(hours=2)),
    }
    return {"ads": ads, "buyer": buyer, "other": other, **made}


def _expected(scene) -> dict[int, list[tuple]]:
    def row(name, channel, campaign=None):
        t = scene[name]
        return (_us(t.occurred_at), t.pk, channel, campaign.pk if campaign else None)

    return {1: [row("at_start", "facebook_ads", scene["ads"]), row("tasting", "tasting"),
                row("tie_a", "whatsapp"), row("tie_b", "telegram"), row("at_placed", "whatsapp")]}


@pytest.mark.django_db
def test_the_window_holds_tracked_touches_from_placed_minus_lookback_to_placed(scene):
    orders = [(1, scene["buyer"].pk, _us(PLACED)), (2, scene["buyer"].pk, _us(PLACED - 2 * LOOKBACK)),
              (3, scene["other"].pk, _us(PLACED - timedelta(days=1)))]
    windows = touches.touch_windows(orders=orders, lookback=LOOKBACK)
    assert windows == _expected(scene)  # order 2 and 3 have empty windows: left out
    assert touches.touch_windows(orders=[], lookback=LOOKBACK) == {}


@pytest.mark.django_db
def test_many_contacts_are_read_in_one_scan_with_the_same_windows(scene, monkeypatch):
    orders = [(1, scene["buyer"].pk, _us(PLACED)), (3, scene["other"].pk, _us(PLACED - timedelta(days=1)))]
    monkeypatch.setattr(touches, "_CHUNK", 1)
    assert touches.touch_windows(orders=orders, lookback=LOOKBACK) == _expected(scene)


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="the set-based form is PostgreSQL's")
@pytest.mark.parametrize("probe", [True, False])
def test_the_postgresql_window_join_agrees_with_the_portable_form(scene, probe):
    orders = [(1, scene["buyer"].pk, _us(PLACED)), (2, scene["other"].pk, _us(PLACED)),
              (3, scene["buyer"].pk, _us(PLACED - timedelta(days=2)))]
    portable = touches.touch_windows(orders=orders, lookback=LOOKBACK)
    assert touches.touch_windows_pg(orders=orders, lookback=LOOKBACK) == portable
    # The fragment as a caller composes it: its own relation of orders, its own ORDER BY.
    window = touches.pg_touch_window(contact="o.contact_id", placed="o.created_at", lookback=LOOKBACK, probe=probe)
    values = ", ".join(["(%s, %s, %s::timestamptz)"] * len(orders))
    params = [v for order_id, contact_id, placed in orders
              for v in (order_id, contact_id, datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=placed))]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT o.id, {window.columns} FROM (VALUES {values}) AS o(id, contact_id, created_at) "
                       f"{window.join} ORDER BY o.id, {window.order}", [*params, *window.params])
        found: dict[int, list[tuple]] = {}
        for order_id, *touch in cursor.fetchall():
            found.setdefault(order_id, []).append(tuple(touch))
    assert found == portable


@pytest.mark.django_db
def test_the_orm_channel_expression_and_the_first_touch_agree_with_the_rule(scene):
    by_id = dict(Touchpoint.objects.annotate(rule=touches.touch_channel_expression()).values_list("pk", "rule"))
    for touch in Touchpoint.objects.select_related("campaign"):
        assert by_id[touch.pk] == touches.touch_channel(
            campaign_channel=touch.campaign.channel if touch.campaign else None, kind=touch.kind,
            channel=touch.channel)
    first = (Touchpoint.objects.filter(contact_id__in=[scene["buyer"].pk, scene["other"].pk])
             .values("contact_id").distinct()
             .annotate(first=touches.touch_first_key(contact=OuterRef("contact_id")))
             .values_list("contact_id", "first"))
    assert dict(first) == {scene["buyer"].pk: "|whatsapp", scene["other"].pk: "|whatsapp"}


@pytest.mark.django_db
def test_stated_sources_and_touch_reads(scene, make_contact):
    said = make_contact(phone="+237699000013")
    services.touchpoint_record(contact_id=said.pk, channel="in_person", kind="self_reported_source",
                               occurred_at=PLACED, details={"self_reported_source": "Une amie"})
    assert touches.stated_sources(contact_ids=[said.pk, scene["buyer"].pk]) == [
        (scene["buyer"].pk, "in_person"), (said.pk, "Une amie")]
    assert touches.stated_sources(contact_range=(said.pk, said.pk)) == [(said.pk, "Une amie")]
    times = touches.tracked_touch_times(contact_ids=[scene["other"].pk])
    assert times == {scene["other"].pk: [scene["neighbour"].occurred_at]}
    assert touches.touched_contact_ids_changed_since(since=PLACED - timedelta(days=3650)) >= {said.pk}
    assert set(touches.touched_contacts_since(since=PLACED).values_list("contact_id", flat=True)) == {
        scene["buyer"].pk, said.pk}


@pytest.mark.django_db
def test_cost_reads_per_campaign_day_and_per_channel(make_campaign):
    ads = make_campaign(code="FB-COST", channel="facebook_ads")
    flyer = make_campaign(code="FLY-COST", channel="flyer")
    services.coupon_create(campaign=flyer, code="FLY10")
    services.cost_create(campaign=ads, day=date(2026, 11, 16), kind="ads", amount_xaf=1000)
    services.cost_create(campaign=ads, day=date(2026, 11, 16), kind="staff", amount_xaf=500)
    services.cost_create(campaign=flyer, day=date(2026, 11, 22), kind="printing", amount_xaf=300)
    services.cost_create(campaign=flyer, day=date(2026, 11, 23), kind="printing", amount_xaf=7)
    week = sorted(selectors.costs_per_campaign_day(since=date(2026, 11, 16), until=date(2026, 11, 23)))
    assert week == sorted([(ads.pk, "facebook_ads", date(2026, 11, 16), 1500),
                           (flyer.pk, "flyer", date(2026, 11, 22), 300)])
    assert selectors.costs_per_channel() == {"facebook_ads": 1500, "flyer": 307}
    assert selectors.costs_per_channel(since=date(2026, 11, 17), until=date(2026, 11, 23)) == {"flyer": 300}
    assert selectors.campaigns_by_code(codes=[" fb-cost", "FLY10", "", None, "NOPE"]) == {
        "FB-COST": (ads.pk, "facebook_ads"), "FLY10": (flyer.pk, "flyer")}
    assert selectors.campaign_labels(campaign_ids=[ads.pk, None])[ads.pk]["code"] == "FB-COST"
