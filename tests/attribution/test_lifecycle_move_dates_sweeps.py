"""The nightly inactive sweep and the ambassador rules date their moves at the fact behind them, not when
they run (api/attribution/services/lifecycle.py ``lifecycle_sweep_inactive``, lifecycle_rules.py
``brought_a_buyer`` / ``rated_well_and_shared_link``): a contact silent since March who is swept in November
became inactive in September, when the period without a sign of life ran out, and the weekly funnel counts
them in that week; a repeat customer became an ambassador when their friend's order reached the friend, or
when they had both rated us well and brought someone with their link.

Every time is set: the facts in September and October 2026, the passes at fixed times after them.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from django.urls import reverse

from api.attribution import conf, services
from api.campaigns.services import touchpoint_record
from api.contacts.services import contact_set_lifecycle_stage
from tests.attribution import factories as f

pytestmark = pytest.mark.django_db

# The nightly pass of Monday 30 November 2026, 02:00 in Douala.
NIGHT = f.at("2026-11-30", 2)
PERIOD = timedelta(days=conf.INACTIVE_AFTER_DAYS)


def _moves(person) -> list[tuple[str, datetime]]:
    from api.contacts.models import ContactEvent

    return [(e.data["to"], e.at) for e in
            ContactEvent.objects.filter(contact=person, kind="lifecycle_changed").order_by("at", "pk")]


def _text(page: str) -> str:
    """The page's text as staff read it (tags left out)."""
    return re.sub(r"<[^>]+>", "", page)


def _seen(person, when: datetime) -> None:
    from api.contacts.models import Contact

    Contact.objects.filter(pk=person.pk).update(last_seen_at=when)


def _funnel(staff_client, stage: str, *, weeks: int, until: str) -> list[tuple[str, int]]:
    """The weeks of the funnel in which ``stage`` gained someone, and how many."""
    rows = staff_client.get(f"/api/v1/reports/funnel?weeks={weeks}&until={until}").json()["weeks"]
    return [(w["week_start"], w[stage]) for w in rows if w[stage]]


def test_a_contact_swept_tonight_became_inactive_when_the_period_without_a_sign_of_life_ran_out(
        staff_client, client, staff_user):
    # Given a customer whose last sign of life is an order placed so that the period runs out on Thursday
    # 17 September 10:00 (seen on WhatsApp and following the page before that)
    awa_ran_out = f.at("2026-09-17", 10)
    awa = f.contact(created=f.at("2025-06-01"), stage="customer")
    f.order(awa, awa_ran_out - PERIOD, revenue=8_000)
    _seen(awa, awa_ran_out - PERIOD - timedelta(days=30))
    touchpoint_record(contact_id=awa.pk, channel="messenger", kind="page_follow",
                      occurred_at=awa_ran_out - PERIOD - timedelta(days=60))
    # and a prospect whose last sign of life is a page follow, after their last order: it runs out on
    # Thursday 1 October 09:00
    bella_ran_out = f.at("2026-10-01", 9)
    bella = f.contact(created=f.at("2025-06-01"), stage="prospect")
    f.order(bella, f.at("2025-12-01"), revenue=5_000, status="cancelled")
    touchpoint_record(contact_id=bella.pk, channel="messenger", kind="page_follow",
                      occurred_at=bella_ran_out - PERIOD)
    # and a suspect never heard of after their card was created
    carl = f.contact(created=f.at("2026-02-10", 8))
    # When the nightly pass of 30 November sweeps them
    assert services.lifecycle_nightly(now=NIGHT) == {"engaged": 0, "inactive": 3}
    # Then each became inactive when their period ran out, not tonight
    assert _moves(awa) == [("inactive", awa_ran_out)]
    assert _moves(bella) == [("inactive", bella_ran_out)]
    assert _moves(carl) == [("inactive", f.at("2026-02-10", 8) + PERIOD)]
    # and the customer card tells it at that time
    client.force_login(staff_user)
    card = client.get(reverse("backoffice:contact-detail", args=[awa.pk])).content.decode()
    assert "17/09/2026 10:00 Étape : Client → Relation inactive (ni commande ni signe de vie" in _text(card)
    # and the weekly funnel counts them in those weeks, none in the week of the sweep
    assert _funnel(staff_client, "inactive", weeks=18, until="2026-11-30") == [
        ("2026-08-03", 1), ("2026-09-14", 1), ("2026-09-28", 1)]
    # A second sweep finds nobody (they are inactive already)
    assert services.lifecycle_sweep_inactive(now=NIGHT + timedelta(days=1)) == 0


def test_an_inactive_move_is_not_dated_before_the_move_it_follows():
    # Given a prospect silent since the end of March, whose stage was moved (by an import) in October
    person = f.contact(created=f.at("2025-06-01"), stage="suspect")
    touchpoint_record(contact_id=person.pk, channel="messenger", kind="page_follow", occurred_at=f.at("2026-03-30"))
    contact_set_lifecycle_stage(contact_id=person.pk, stage="prospect", reason="import", at=f.at("2026-10-05", 9))
    # When the sweep finds them silent
    assert services.lifecycle_sweep_inactive(now=NIGHT) == 1
    # Then the move is dated at the later of the two: the contact was a prospect until 5 October
    assert _moves(person) == [("prospect", f.at("2026-10-05", 9)), ("inactive", f.at("2026-10-05", 9))]


def test_an_ambassador_is_dated_at_the_delivery_of_the_friend_they_brought(staff_client):
    # Given a repeat customer (deliveries on 1 and 20 September) whose friend arrived with their link
    rose = f.contact(created=f.at("2026-08-01"), stage="repeat_customer")
    f.order(rose, f.at("2026-09-01"), revenue=5_000)
    f.order(rose, f.at("2026-09-20"), revenue=5_000)
    friend = f.contact(created=f.at("2026-09-25"), referred_by=rose)
    # and the friend's first order reached them on Thursday 8 October 18:00
    delivered = f.at("2026-10-08", 18)
    first = f.order(friend, delivered, revenue=6_000)
    # When the delivery's order event is handled (later: events are delivered by workers)
    result = services.order_event_handle(kind="status_changed", order_id=first.pk, contact_id=friend.pk,
                                         status="delivered")
    # Then the referrer became an ambassador at the friend's delivery, as the friend became a customer
    assert result["referrer_stage"] == "ambassador"
    assert _moves(rose) == [("ambassador", delivered)]
    assert _moves(friend) == [("customer", delivered)]
    # and the funnel counts the new ambassador in that week (Monday 5 October)
    assert _funnel(staff_client, "ambassador", weeks=10, until="2026-11-30") == [("2026-10-05", 1)]


def test_a_customer_whose_friend_bought_first_is_an_ambassador_from_their_own_second_delivery():
    # Given a customer whose referred friend had an order delivered on 5 September
    rose = f.contact(created=f.at("2026-08-01"), stage="customer")
    f.order(rose, f.at("2026-09-01"), revenue=5_000)
    friend = f.contact(created=f.at("2026-09-02"), referred_by=rose)
    f.order(friend, f.at("2026-09-05"), revenue=6_000)
    # When their own second order, delivered on 20 September, is handled
    second = f.order(rose, f.at("2026-09-20", 11), revenue=5_000)
    services.order_event_handle(kind="status_changed", order_id=second.pk, contact_id=rose.pk, status="delivered")
    # Then they are an ambassador from that delivery: a repeat customer who had brought a buyer
    assert _moves(rose) == [("ambassador", f.at("2026-09-20", 11))]


def test_an_ambassador_by_rating_is_dated_when_they_had_both_rated_well_and_shared_their_link():
    from api.orders.models import Feedback

    # Given a repeat customer (deliveries on 1 and 20 September) who rated the first order 2/5 and the
    # second 5/5 on 22 September
    person = f.contact(created=f.at("2026-08-01"), stage="repeat_customer")
    one = f.order(person, f.at("2026-09-01"), revenue=5_000)
    two = f.order(person, f.at("2026-09-20"), revenue=5_000)
    Feedback.objects.create(order=one, contact=person, rating=2, created_at=f.at("2026-09-02"))
    Feedback.objects.create(order=two, contact=person, rating=5, created_at=f.at("2026-09-22", 12))
    # and whose link brought a first person (who has not bought) on Saturday 3 October 15:30
    f.contact(created=f.at("2026-10-03", 15, 30), referred_by=person)
    # When an order event of theirs runs the rules (later)
    assert services.lifecycle_update_from_orders(contact_id=person.pk) == "ambassador"
    # Then the move is dated when the last of those facts happened: the friend's arrival
    assert _moves(person) == [("ambassador", f.at("2026-10-03", 15, 30))]
