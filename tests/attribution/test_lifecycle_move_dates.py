"""Lifecycle moves are dated when their fact happened, not when a pass found it
(api/attribution/services/lifecycle_rules.py, api/contacts/services/notes.py ``contact_set_lifecycle_stage``):
a Sunday night message found by Monday's first pass makes a prospect of Sunday, on the customer card and in
the weekly funnel; a move is never dated in the future, nor before the move it follows."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from api.attribution import services
from api.campaigns.services import touchpoint_record
from api.common.businesstime import business_tz
from api.contacts.services import contact_set_lifecycle_stage
from tests.attribution import factories as f

pytestmark = pytest.mark.django_db

# A week that is over whatever day the tests run: Sunday 29 November 2026, 23:50 in Douala, and the
# frequent (2-minute) pass that runs on Monday 30 November at 00:05.
SUNDAY_NIGHT = datetime(2026, 11, 29, 23, 50, tzinfo=business_tz())
MONDAY_PASS = datetime(2026, 11, 30, 0, 5, tzinfo=business_tz())


def _moves(person) -> list[tuple[str, datetime]]:
    from api.contacts.models import ContactEvent

    return [(e.data["to"], e.at) for e in
            ContactEvent.objects.filter(contact=person, kind="lifecycle_changed").order_by("at", "pk")]


def _written_at(touch, when: datetime) -> None:
    """The touch was stored at ``when`` (as the webhook that brought it would have)."""
    from api.campaigns.models import Touchpoint

    Touchpoint.objects.filter(pk=touch.pk).update(created_at=when)


def test_a_sunday_night_message_found_on_monday_makes_a_prospect_of_sunday(staff_client, client, staff_user):
    # Given a suspect known for a week who writes on WhatsApp on Sunday at 23:50, stored at once
    person = f.contact(created=SUNDAY_NIGHT - timedelta(days=7))
    touch = touchpoint_record(contact_id=person.pk, channel="whatsapp", kind="inbound_message",
                              occurred_at=SUNDAY_NIGHT, details={"text": "Bonjour, c'est combien le coffret ?"})
    _written_at(touch, SUNDAY_NIGHT + timedelta(seconds=2))
    # When the rules pass finds them on Monday at 00:05
    assert services.lifecycle_engagements_apply(now=MONDAY_PASS) == 1
    # Then the move is dated at the message, Sunday 23:50
    assert _moves(person) == [("prospect", SUNDAY_NIGHT)]
    # and the customer card tells it at that time
    client.force_login(staff_user)
    card = client.get(reverse("backoffice:contact-detail", args=[person.pk])).content.decode()
    text = re.sub(r"<[^>]+>", "", card)  # as staff read it, whatever the markup of the line
    assert "29/11/2026 23:50 Étape : Suspect → Prospect (a demandé des informations (WhatsApp)" in text
    # and the weekly funnel counts the new prospect in Sunday's week (Monday 23 November), not Monday's
    weeks = staff_client.get("/api/v1/reports/funnel?weeks=2&until=2026-11-30").json()["weeks"]
    assert [(w["week_start"], w["prospect"]) for w in weeks] == [("2026-11-23", 1), ("2026-11-30", 0)]


def test_a_customer_is_dated_at_the_delivery_of_their_first_order():
    # Given a suspect whose order was delivered on Saturday, and who writes on Monday
    person = f.contact(created=SUNDAY_NIGHT - timedelta(days=30))
    delivered = SUNDAY_NIGHT - timedelta(days=1)
    f.order(person, delivered, revenue=10_000)
    touch = touchpoint_record(contact_id=person.pk, channel="telegram", kind="inbound_message",
                              occurred_at=MONDAY_PASS - timedelta(minutes=2), details={"text": "Merci !"})
    _written_at(touch, MONDAY_PASS - timedelta(minutes=2))
    # When the rules pass finds them
    assert services.lifecycle_engagements_apply(now=MONDAY_PASS) == 1
    # Then they became a customer when the order reached them, not when they wrote
    assert _moves(person) == [("customer", delivered)]


def test_a_move_is_never_dated_in_the_future():
    person = f.contact()
    before = timezone.now()
    contact_set_lifecycle_stage(contact_id=person.pk, stage="prospect", reason="horloge en avance",
                                at=before + timedelta(days=2))
    [(_stage, at)] = _moves(person)
    assert before <= at <= timezone.now()


def test_a_move_is_never_dated_before_the_move_it_follows_nor_before_the_card():
    # Given a contact whose card was created five days ago and who became a prospect two days ago
    now = timezone.now()
    person = f.contact(created=now - timedelta(days=5))
    # A fact older than the card (a message imported late) dates the first move at the card's creation
    contact_set_lifecycle_stage(contact_id=person.pk, stage="prospect", reason="message importé",
                                at=now - timedelta(days=9))
    # A later move is not dated before it, whatever its fact says
    contact_set_lifecycle_stage(contact_id=person.pk, stage="customer", reason="commande livrée",
                                at=now - timedelta(days=20))
    assert _moves(person) == [("prospect", now - timedelta(days=5)), ("customer", now - timedelta(days=5))]
    # A fact after the previous move keeps its own time
    contact_set_lifecycle_stage(contact_id=person.pk, stage="repeat_customer", reason="2 commandes livrées",
                                at=now - timedelta(days=1))
    assert _moves(person)[-1] == ("repeat_customer", now - timedelta(days=1))


def test_an_inactive_contact_who_writes_again_comes_back_when_they_wrote_not_at_their_old_orders():
    now = timezone.now()
    old_friend = f.contact(created=now - timedelta(days=900))
    f.order(old_friend, now - timedelta(days=800), revenue=5_000)
    contact_set_lifecycle_stage(contact_id=old_friend.pk, stage="inactive", reason="silence",
                                at=now - timedelta(days=400))
    wrote = now - timedelta(hours=3)
    touchpoint_record(contact_id=old_friend.pk, channel="whatsapp", kind="inbound_message", occurred_at=wrote,
                      details={"text": "Vous êtes toujours là ?"})
    assert services.lifecycle_engagements_apply() == 1
    assert _moves(old_friend)[-1] == ("customer", wrote)
