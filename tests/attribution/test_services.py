"""Credit runs: incremental, idempotent, atomic per contact; lifecycle moves and referral rewards."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db.models import Sum
from django.utils import timezone

from api.attribution import conf, engine, services
from api.attribution.enums import RunState
from api.attribution.models import AttributionCredit, AttributionRun, ReferralReward
from api.attribution.services import credits, credits_pg
from tests.attribution import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_settle(monkeypatch):
    monkeypatch.setattr(conf, "WATERMARK_SETTLE_SECONDS", 0)


def _credits(**filters):
    return sorted(
        (c.order_id, c.model, c.campaign_id, c.channel, c.revenue_xaf, c.margin_xaf, c.is_refund, c.is_first_order)
        for c in AttributionCredit.objects.filter(**filters))


def test_a_full_run_credits_every_order_under_every_model_exactly():
    # Given an order with two touches: net revenue 20,000 (21,000 with the 1,000 delivery fee), lines costing 8,000
    fb = f.campaign("fb1", "facebook_ads")
    tg = f.campaign("tg1", "telegram")
    buyer = f.contact()
    f.touch(buyer, f.at("2026-11-10"), camp=fb)
    f.touch(buyer, f.at("2026-11-17"), camp=tg, channel="telegram", kind="bot_start")
    order = f.order(buyer, f.at("2026-11-18"), revenue=20_000, cost=8_000, fee=1_000)
    # When attribution runs
    run = services.attribution_run(full=True)
    # Then each model's rows sum to the net revenue and the margin (20,000 - 8,000)
    assert run.state == RunState.SUCCEEDED
    assert run.orders_processed == 1
    for model in engine.MODELS:
        sums = AttributionCredit.objects.filter(order_id=order.pk, model=model).aggregate(
            r=Sum("revenue_xaf"), m=Sum("margin_xaf"), w=Sum("weight"))
        assert (sums["r"], sums["m"]) == (20_000, 12_000)
        assert sums["w"] == pytest.approx(1.0)
    assert _credits(model="linear") == [
        (order.pk, "linear", fb.pk, "facebook_ads", 10_000, 6_000, False, True),
        (order.pk, "linear", tg.pk, "telegram", 10_000, 6_000, False, True),
    ]
    # Position-based with 2 touches is 50/50; first and last touch go to one campaign each.
    assert _credits(model="first_touch")[0][2:6] == (fb.pk, "facebook_ads", 20_000, 12_000)
    assert _credits(model="last_touch")[0][2:6] == (tg.pk, "telegram", 20_000, 12_000)


def test_a_coupon_code_counts_as_a_touch_and_a_stated_source_as_self_reported():
    flyer = f.campaign("flyer1", "flyer")
    buyer = f.contact(source="Un ami")
    order = f.order(buyer, f.at("2026-11-18"), revenue=5_000, coupon="flyer1")
    services.attribution_run(full=True)
    assert _credits(model="last_touch")[0][2:5] == (flyer.pk, "flyer", 5_000)
    assert _credits(model="self_reported") == [(order.pk, "self_reported", None, "word_of_mouth", 5_000, 5_000,
                                                False, True)]


def test_cancelled_orders_and_samples_get_no_credit_and_an_order_without_touch_is_unknown():
    buyer = f.contact()
    f.order(buyer, f.at("2026-11-18"), revenue=5_000, status="cancelled")
    f.order(buyer, f.at("2026-11-18"), revenue=0, is_sample=True)
    kept = f.order(buyer, f.at("2026-11-19"), revenue=3_000)
    services.attribution_run(full=True)
    assert {c.order_id for c in AttributionCredit.objects.all()} == {kept.pk}
    assert set(AttributionCredit.objects.values_list("channel", flat=True)) == {"unknown"}
    # The first counted order is the first order of the contact (the cancelled one does not count).
    assert AttributionCredit.objects.filter(is_first_order=True).count() == len(engine.MODELS)


def test_a_refund_writes_negative_rows_that_undo_it():
    fb = f.campaign("fb1", "facebook_ads")
    buyer = f.contact()
    f.touch(buyer, f.at("2026-11-10"), camp=fb)
    order = f.order(buyer, f.at("2026-11-18"), revenue=10_000, cost=4_000)
    f.refund(order, 10_000, f.at("2026-11-20"))
    services.attribution_run(full=True)
    rows = AttributionCredit.objects.filter(order_id=order.pk, model="linear")
    assert sorted((c.revenue_xaf, c.margin_xaf, c.is_refund) for c in rows) == [(-10_000, -6_000, True),
                                                                                  (10_000, 6_000, False)]
    refund_row = rows.get(is_refund=True)
    assert refund_row.occurred_at == f.at("2026-11-20")


def test_incremental_runs_only_redo_what_changed_and_agree_with_a_full_recompute():
    fb = f.campaign("fb1", "facebook_ads")
    one, two = f.contact(), f.contact()
    f.order(one, f.at("2026-11-18"), revenue=10_000)
    f.order(two, f.at("2026-11-18"), revenue=7_000)
    first = services.attribution_run()
    assert first.kind == "full"
    assert first.contacts_processed == 2
    # Nothing changed: nothing to do.
    again = services.attribution_run()
    assert again.kind == "incremental"
    assert again.contacts_processed == 0
    # A new touch of contact one: only contact one is redone.
    f.touch(one, f.at("2026-11-15"), camp=fb)
    third = services.attribution_run()
    assert third.contacts_processed == 1
    assert AttributionCredit.objects.filter(channel="facebook_ads", model="last_touch").count() == 1
    incremental = _credits()
    # Same inputs, same rows: a full recompute gives exactly the same credits.
    f.full_run()
    assert _credits() == incremental


def test_a_failed_batch_keeps_the_old_credits_and_the_old_watermark(monkeypatch):
    buyer = f.contact()
    order = f.order(buyer, f.at("2026-11-18"), revenue=10_000)
    ok = services.attribution_run()
    before = _credits()
    fb = f.campaign("fb1", "facebook_ads")
    f.touch(buyer, f.at("2026-11-15"), camp=fb)

    def crash(*args, **kwargs):
        raise RuntimeError("worker killed")

    # The crash comes after the delete, inside the batch transaction.
    monkeypatch.setattr(credits, "credits_insert", crash)
    monkeypatch.setattr(credits_pg, "credits_insert", crash)
    failed = services.attribution_run()
    assert failed.state == RunState.FAILED
    assert "worker killed" in failed.error
    assert _credits() == before, "old credits, not half of the new ones"
    monkeypatch.undo()
    monkeypatch.setattr(conf, "WATERMARK_SETTLE_SECONDS", 0)
    redo = services.attribution_run()
    assert redo.state == RunState.SUCCEEDED
    assert redo.contacts_processed == 1
    assert redo.watermark > ok.watermark
    assert AttributionCredit.objects.get(order_id=order.pk, model="last_touch").channel == "facebook_ads"


def test_a_run_in_progress_blocks_another(staff_client):
    AttributionRun.objects.create(state=RunState.RUNNING, started_at=timezone.now())
    assert services.attribution_run() is None
    response = staff_client.post("/api/v1/attribution/runs", {"full": True}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "run_in_progress"
    # A run that has been "running" for longer than the stale delay is considered dead.
    AttributionRun.objects.update(started_at=timezone.now() - timedelta(seconds=conf.RUN_STALE_AFTER_SECONDS + 1))
    assert services.attribution_run() is not None


def test_the_runs_api_starts_and_lists_runs(staff_client):
    f.order(f.contact(), f.at("2026-11-18"), revenue=1_000)
    created = staff_client.post("/api/v1/attribution/runs", {"full": True}, format="json")
    assert created.status_code == 201
    assert created.json()["state"] == "succeeded"
    assert created.json()["orders_processed"] == 1
    listed = staff_client.get("/api/v1/attribution/runs").json()
    assert [r["id"] for r in listed["results"]] == [created.json()["id"]]
    order_id = AttributionCredit.objects.first().order_id
    credits = staff_client.get(f"/api/v1/attribution/credits?order_id={order_id}&model=linear").json()
    assert [(c["channel"], c["revenue_xaf"]) for c in credits] == [("unknown", 1_000)]


# --- lifecycle and referrals --------------------------------------------------------------------------------


def _stage(person):
    person.refresh_from_db()
    return person.lifecycle_stage


def test_delivered_orders_move_the_stage_and_a_referred_buyer_makes_an_ambassador():
    ambassador = f.contact(stage="prospect")
    f.order(ambassador, f.at("2026-10-01"), revenue=5_000)
    services.lifecycle_update_from_orders(contact_id=ambassador.pk)
    assert _stage(ambassador) == "customer"
    f.order(ambassador, f.at("2026-10-20"), revenue=5_000)
    services.lifecycle_update_from_orders(contact_id=ambassador.pk)
    assert _stage(ambassador) == "repeat_customer"
    friend = f.contact(referred_by=ambassador)
    first = f.order(friend, f.at("2026-11-02"), revenue=6_000)
    result = services.order_event_handle(kind="status_changed", order_id=first.pk, contact_id=friend.pk,
                                         status="delivered")
    assert _stage(friend) == "customer"
    assert _stage(ambassador) == "ambassador"
    assert result["referrer_stage"] == "ambassador"
    reward = ReferralReward.objects.get()
    assert (reward.referrer_id, reward.referred_id, reward.kind) == (ambassador.pk, friend.pk, "discount")
    assert reward.code.startswith("AMB-")
    # A replayed event earns nothing more.
    services.order_event_handle(kind="status_changed", order_id=first.pk, contact_id=friend.pk, status="delivered")
    assert ReferralReward.objects.count() == 1
    from api.contacts.models import ContactEvent

    kinds = list(ContactEvent.objects.filter(contact=ambassador).values_list("kind", flat=True))
    assert kinds.count("lifecycle_changed") == 3
    assert "referral_reward" in kinds


def test_points_reward_is_configurable_and_only_the_first_delivered_order_counts(monkeypatch):
    monkeypatch.setattr(conf, "REFERRAL_REWARD_KIND", "points")
    referrer = f.contact()
    friend = f.contact(referred_by=referrer)
    first = f.order(friend, f.at("2026-11-02"), revenue=6_000)
    second = f.order(friend, f.at("2026-11-09"), revenue=6_000)
    assert services.referral_reward_grant(order_id=second.pk) is None
    reward = services.referral_reward_grant(order_id=first.pk)
    assert (reward.kind, reward.points, reward.code) == ("points", conf.REFERRAL_POINTS, "")


def test_a_stage_set_by_staff_is_left_alone():
    person = f.contact(stage="prospect", locked=True)
    f.order(person, f.at("2026-10-01"), revenue=5_000)
    assert services.lifecycle_update_from_orders(contact_id=person.pk) is None
    assert _stage(person) == "prospect"


def test_feedback_and_a_shared_link_make_a_repeat_customer_an_ambassador():
    from api.orders.models import Feedback

    person = f.contact()
    f.contact(referred_by=person)  # someone arrived with their link (and has not bought)
    f.order(person, f.at("2026-10-01"), revenue=5_000)
    second = f.order(person, f.at("2026-10-15"), revenue=5_000)
    Feedback.objects.create(order=second, contact=person, rating=5)
    assert services.lifecycle_update_from_orders(contact_id=person.pk) == "ambassador"


def test_long_silent_contacts_become_inactive():
    now = timezone.now()
    old = f.contact(created=now - timedelta(days=400), stage="prospect")
    recent_buyer = f.contact(created=now - timedelta(days=400), stage="customer")
    f.order(recent_buyer, now - timedelta(days=10), revenue=1_000)
    replied = f.contact(created=now - timedelta(days=400), stage="prospect")
    f.touch(replied, now - timedelta(days=3), kind="inbound_message")
    locked = f.contact(created=now - timedelta(days=400), stage="prospect", locked=True)
    assert services.lifecycle_sweep_inactive(now=now) == 1
    assert [_stage(p) for p in (old, recent_buyer, replied, locked)] == ["inactive", "customer", "prospect",
                                                                         "prospect"]
    assert services.lifecycle_sweep_inactive(now=now) == 0  # idempotent
