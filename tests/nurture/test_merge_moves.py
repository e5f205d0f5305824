"""A merge keeps what nurture knows of the person: the monthly-only choice, the lead score, the predicted
reorder date, the sequences they follow, what they wrote; the stage is recomputed from both people's facts;
and a message from the merged-away WhatsApp number reaches the survivor."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from api.contacts.models import Contact
from api.contacts.services import contact_merge, contact_upsert
from api.nurture.models import Enrollment, InboundMessage, NurtureProfile, OutboundMessage, ScoreEvent
from api.nurture.services import enrollment_create, lead_score_record, sequence_create
from api.orders.services import order_create, order_status_change, product_create
from tests.nurture.conftest import make_contact
from tests.nurture.meta_helpers import NUMBER

pytestmark = pytest.mark.django_db

DELIVERY = ["confirmed", "preparing", "ready", "out_for_delivery", "delivered"]


def _profile(contact, **fields):
    profile, _ = NurtureProfile.objects.get_or_create(contact=contact)
    NurtureProfile.objects.filter(pk=profile.pk).update(**fields)


def test_a_whatsapp_message_from_the_merged_away_number_reaches_the_survivor(whatsapp):
    survivor = contact_upsert(phone="699111111", whatsapp="699111111", name="Awa Mballa").contact
    twin = contact_upsert(whatsapp=NUMBER, name="Awa").contact
    contact_merge(target_id=survivor.pk, source_id=twin.pk)
    contacts_before = Contact.objects.count()

    assert whatsapp.post_inbound_text(NUMBER, "Bonjour, c'est encore moi : le coffret est dispo ?").ok

    message = InboundMessage.objects.get()
    assert message.contact_id == survivor.pk
    assert Contact.objects.count() == contacts_before  # no new contact for the old number
    survivor.refresh_from_db()
    assert survivor.whatsapp == "+237699111111"  # the main number stays the survivor's own


def test_the_monthly_only_choice_the_score_and_the_earliest_coming_reorder_date_survive_a_merge():
    now = timezone.now()
    survivor = make_contact(31, first_name="Awa")
    twin = make_contact(32, first_name="Awa")
    _profile(survivor, lead_score=12, replenishment_due_at=now + timedelta(days=20),
             matured_at=now - timedelta(days=3))
    _profile(twin, frequency=NurtureProfile.Frequency.MONTHLY, lead_score=9,
             replenishment_due_at=now + timedelta(days=6), matured_at=now - timedelta(days=40))

    merge = contact_merge(target_id=survivor.pk, source_id=twin.pk)

    profile = NurtureProfile.objects.get(contact=survivor)
    assert profile.frequency == NurtureProfile.Frequency.MONTHLY
    assert profile.lead_score == 21  # the sum: both people's score events now count for the survivor
    assert profile.replenishment_due_at == now + timedelta(days=6)
    assert profile.matured_at == now - timedelta(days=40)
    assert not NurtureProfile.objects.filter(contact=twin).exists()
    assert merge.moved["nurture_profile"] == 1


def test_a_past_reorder_date_gives_way_to_a_coming_one_and_a_lone_profile_moves_whole():
    now = timezone.now()
    survivor = make_contact(33)
    twin = make_contact(34)
    _profile(survivor, replenishment_due_at=now - timedelta(days=10))
    _profile(twin, replenishment_due_at=now + timedelta(days=15))
    contact_merge(target_id=survivor.pk, source_id=twin.pk)
    assert NurtureProfile.objects.get(contact=survivor).replenishment_due_at == now + timedelta(days=15)

    third = make_contact(35)
    _profile(third, frequency=NurtureProfile.Frequency.MONTHLY, lead_score=4)
    lone = make_contact(36)
    contact_merge(target_id=lone.pk, source_id=third.pk)
    assert NurtureProfile.objects.get(contact=lone).frequency == NurtureProfile.Frequency.MONTHLY


def test_score_events_follow_and_later_points_add_to_the_combined_score():
    survivor = make_contact(37)
    twin = make_contact(38)
    lead_score_record(contact_id=twin.pk, kind="tasting", ref="tasting-1")
    contact_merge(target_id=survivor.pk, source_id=twin.pk)

    assert ScoreEvent.objects.get(ref="tasting-1").contact_id == survivor.pk
    # the same event seen again (a retried webhook) still counts once, now for the survivor
    before = NurtureProfile.objects.get(contact=survivor).lead_score
    assert lead_score_record(contact_id=survivor.pk, kind="tasting", ref="tasting-1") == before


def test_an_active_enrollment_moves_unless_the_survivor_already_follows_that_sequence():
    welcome = sequence_create(name="Bienvenue", steps=[{"text": "Bienvenue {first_name}"},
                                                       {"text": "Nos sirops", "delay": "P2D"}],
                              channels=["telegram"])
    after_sale = sequence_create(name="Après-vente", steps=[{"text": "Tout s'est bien passé ?", "delay": "P1D"}],
                                 channels=["telegram"])
    survivor = make_contact(41)
    twin = make_contact(42)
    enrollment_create(sequence_id=welcome.pk, contact_id=survivor.pk, trigger="staff")
    moving = enrollment_create(sequence_id=after_sale.pk, contact_id=twin.pk, trigger="staff")
    doubled = enrollment_create(sequence_id=welcome.pk, contact_id=twin.pk, trigger="staff")

    merge = contact_merge(target_id=survivor.pk, source_id=twin.pk)

    moving.refresh_from_db()
    doubled.refresh_from_db()
    assert moving.contact_id == survivor.pk
    assert moving.state == Enrollment.State.ACTIVE
    assert doubled.state == Enrollment.State.STOPPED  # the survivor already gets the welcome sequence
    assert not OutboundMessage.objects.filter(enrollment=doubled, state="scheduled").exists()
    # the survivor gets the welcome sequence once, and the after-sale one it inherited
    queued = OutboundMessage.objects.filter(contact=survivor, state="scheduled")
    assert queued.filter(enrollment__sequence=welcome).count() == 2
    assert queued.filter(enrollment=moving).count() == 1
    assert merge.moved["nurture_enrollments"] == 1
    assert merge.moved["nurture_enrollments_stopped"] == 1


def test_the_stage_is_recomputed_from_both_peoples_orders_after_a_merge():
    ginger = product_create(sku="SIR-GING-50", name="Sirop de gingembre", price_xaf=3500, unit_cost_xaf=1200)
    survivor = contact_upsert(phone="699111111", name="Awa").contact
    twin = contact_upsert(phone="677222222", name="Awa").contact
    for contact in (survivor, twin):
        order = order_create(contact_id=contact.pk, lines=[{"product_id": ginger.pk, "quantity": 1}])
        for status in DELIVERY:
            order_status_change(order_id=order.pk, status=status)
    Contact.objects.filter(pk__in=[survivor.pk, twin.pk]).update(lifecycle_stage="customer")

    merge = contact_merge(target_id=survivor.pk, source_id=twin.pk)

    survivor.refresh_from_db()
    assert survivor.lifecycle_stage == "repeat_customer"  # two delivered orders, one person
    assert merge.moved["lifecycle_stage_moved"] == 1
