"""Lifecycle moves from facts (api/attribution/services/lifecycle_rules.py): a suspect who engages becomes a
prospect, with the reason on the timeline; the funnel counts the prospect; nobody moves down, a stage
staff set stays, an inactive contact comes back only on a recent sign of life."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from api.attribution import conf, services
from api.campaigns.services import touchpoint_record
from api.common.businesstime import business_tz
from tests.attribution import factories as f

pytestmark = pytest.mark.django_db


def _stage(person) -> str:
    person.refresh_from_db()
    return person.lifecycle_stage


def _moves(person) -> list[tuple[str, str]]:
    from api.contacts.models import ContactEvent

    return [(e.data["to"], e.data["reason"]) for e in
            ContactEvent.objects.filter(contact=person, kind="lifecycle_changed").order_by("at", "pk")]


def _touch(person, kind: str, *, channel: str = "whatsapp", text: str = "", camp=None, when=None):
    return touchpoint_record(contact_id=person.pk, channel=channel, kind=kind, campaign_id=camp.pk if camp else None,
                             occurred_at=when, details={"text": text} if text else None)


def _day(moment) -> str:
    return timezone.localtime(moment, business_tz()).strftime("%d/%m/%Y")


@pytest.mark.parametrize(("kind", "channel", "text", "reason"), [
    ("inbound_message", "whatsapp", "Bonjour !", "nous a écrit (WhatsApp) le {day}"),
    ("inbound_message", "telegram", "C'est combien le coffret ?", "a demandé des informations (Telegram) le {day}"),
    ("inbound_message", "messenger", "vous livrez à Douala", "a demandé des informations (Messenger) le {day}"),
    ("ad_referral", "whatsapp", "Je veux ce sirop", "nous a écrit (WhatsApp) le {day}"),
    ("ad_referral", "messenger", "", "a cliqué sur un lien suivi ou une publicité le {day}"),
    ("tasting_visit", "in_person", "", "a goûté nos produits à une dégustation le {day}"),
    ("fair_visit", "in_person", "", "a goûté nos produits à un salon le {day}"),
    ("self_reported_source", "telegram", "", "a dit d'où il nous connaît le {day}"),
    ("link_click", "web", "", "a cliqué sur un lien suivi ou une publicité le {day}"),
    ("bot_start", "telegram", "", "a ouvert le bot Telegram le {day}"),
])
def test_a_suspect_who_engages_becomes_a_prospect_with_the_reason_on_the_timeline(kind, channel, text, reason):
    person = f.contact()
    touch = _touch(person, kind, channel=channel, text=text)
    assert services.lifecycle_engagements_apply() == 1
    assert _stage(person) == "prospect"
    assert _moves(person) == [("prospect", reason.format(day=_day(touch.occurred_at)))]
    assert services.lifecycle_engagements_apply() == 0  # idempotent: found at its stage
    assert len(_moves(person)) == 1


def test_a_page_like_or_a_friend_s_referral_alone_is_not_engagement():
    liked, referred = f.contact(), f.contact()
    _touch(liked, "page_follow", channel="messenger")
    _touch(referred, "referral", channel="in_person")
    assert services.lifecycle_engagements_apply() == 0
    assert (_stage(liked), _stage(referred)) == ("suspect", "suspect")


def test_the_first_rule_of_the_table_gives_the_stage_and_the_reason():
    # Tasted at a fair, then wrote: the tasting comes first in the table.
    taster = f.contact()
    visit = _touch(taster, "fair_visit", channel="in_person", when=timezone.now() - timedelta(days=2))
    _touch(taster, "inbound_message", text="Bonjour")
    # Wrote, and has a delivered order the order event never moved: customer, not prospect.
    buyer = f.contact()
    f.order(buyer, timezone.now() - timedelta(days=1), revenue=5_000)
    _touch(buyer, "inbound_message", text="Merci !")
    assert services.lifecycle_engagements_apply() == 2
    assert _moves(taster) == [("prospect", f"a goûté nos produits à un salon le {_day(visit.occurred_at)}")]
    assert _moves(buyer) == [("customer", "première commande livrée")]


def test_nobody_moves_down_and_a_stage_staff_set_stays():
    customer = f.contact(stage="customer")
    locked = f.contact(stage="suspect", locked=True)
    ambassador = f.contact(stage="ambassador")
    for person in (customer, locked, ambassador):
        _touch(person, "inbound_message", text="Bonjour")
    assert services.lifecycle_engagements_apply() == 0
    assert [_stage(p) for p in (customer, locked, ambassador)] == ["customer", "suspect", "ambassador"]
    # Evaluated in full (as after an order event), the customer's message alone says "prospect": refused.
    assert services.lifecycle_update(contact_id=customer.pk) is None
    assert _moves(customer) == _moves(locked) == _moves(ambassador) == []
    # Nor do the order rules move a repeat customer back down when one of their two orders is cancelled.
    regular = f.contact(stage="repeat_customer")
    f.order(regular, timezone.now() - timedelta(days=30), revenue=5_000)
    f.order(regular, timezone.now() - timedelta(days=3), revenue=5_000, status="cancelled")
    assert services.lifecycle_update_from_orders(contact_id=regular.pk) is None
    assert _stage(regular) == "repeat_customer"


def test_an_inactive_contact_comes_back_on_a_recent_sign_of_life_to_the_stage_the_facts_give():
    now = timezone.now()
    window = timedelta(days=conf.INACTIVE_AFTER_DAYS)
    old_friend = f.contact(created=now - timedelta(days=900), stage="inactive")
    f.order(old_friend, now - timedelta(days=800), revenue=5_000)
    f.order(old_friend, now - timedelta(days=700), revenue=5_000)
    _touch(old_friend, "inbound_message", text="Vous êtes toujours là ?")
    # A touch older than the window (recorded today from a late import) does not wake anyone.
    sleeper = f.contact(created=now - timedelta(days=900), stage="inactive")
    _touch(sleeper, "inbound_message", text="Bonjour", when=now - window - timedelta(days=5))
    old_suspect = f.contact(created=now - timedelta(days=900))
    _touch(old_suspect, "link_click", channel="web", when=now - window - timedelta(days=5))
    assert services.lifecycle_engagements_apply() == 1
    assert _moves(old_friend) == [("repeat_customer", "2 commandes livrées ; de retour après une période inactive")]
    assert (_stage(sleeper), _stage(old_suspect)) == ("inactive", "suspect")
    # Feedback on an old order is no sign of life: the order event leaves the inactive contact alone.
    assert services.lifecycle_update_from_orders(contact_id=sleeper.pk) is None
    f.order(sleeper, now - timedelta(days=400), revenue=5_000)
    assert services.lifecycle_update_from_orders(contact_id=sleeper.pk) is None
    assert _stage(sleeper) == "inactive"
    # The nightly sweep then finds nobody to put back: the old friend just wrote.
    assert services.lifecycle_nightly()["inactive"] == 1  # the old suspect, silent for the whole window
    assert (_stage(old_friend), _stage(old_suspect)) == ("repeat_customer", "inactive")


def test_the_frequent_pass_reads_recent_touches_and_the_nightly_pass_catches_the_rest():
    from api.campaigns.models import Touchpoint

    late = f.contact()
    touch = _touch(late, "inbound_message", text="Bonjour")
    # Written three days ago (workers were down since): beyond the frequent pass's LIFECYCLE_RECENT_HOURS.
    Touchpoint.objects.filter(pk=touch.pk).update(created_at=timezone.now() - timedelta(days=3))
    assert services.lifecycle_engagements_apply() == 0
    assert _stage(late) == "suspect"
    assert services.lifecycle_nightly() == {"engaged": 1, "inactive": 0}
    assert _stage(late) == "prospect"


def test_the_beat_task_moves_engaged_suspects_and_the_funnel_counts_them(staff_client):
    from workers.tasks.attribution import lifecycle_engagements, lifecycle_sweep

    people = [f.contact() for _ in range(3)]
    for person in people[:2]:
        _touch(person, "inbound_message", text="Bonjour")
    assert lifecycle_engagements() == 2
    assert lifecycle_sweep() == {"engaged": 0, "inactive": 0}
    this_week = staff_client.get("/api/v1/reports/funnel?weeks=1").json()
    assert this_week["weeks"][-1]["suspect"] == 3  # created this week
    assert this_week["weeks"][-1]["prospect"] == 2  # and two of them engaged
    assert this_week["weeks"][-1]["prospect_rate"] == round(2 / 3, 4)
    assert this_week["current"]["prospect"] == 2
