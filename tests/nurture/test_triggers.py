"""Triggers and scores: new contacts, orders, monthly messages, lead score, replenishment."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.utils import timezone

from api.contacts.models import FollowUpTask
from api.contacts.services import consent_grant, contact_update
from api.nurture.demo import seed_nurture
from api.nurture.enums import Purpose
from api.nurture.models import Broadcast, Enrollment, NurtureProfile, OutboundMessage, Sequence
from api.nurture.services import (
    enrollment_create,
    lead_score_record,
    monthly_messages_enroll,
    new_contacts_enroll,
    render_text,
    replenishment_plan,
    sequence_create,
)
from api.orders.enums import OrderStatus
from api.orders.events import OrderEvent, order_event_emit
from api.orders.models import Order
from tests.nurture.conftest import make_contact

pytestmark = pytest.mark.django_db


def _event(kind, contact, status="pending", **extra):
    return OrderEvent(kind=kind, order_id=extra.pop("order_id", 1), order_number="CF-2026-0001",
                      contact_id=contact.pk, status=status, previous_status=None, occurred_at=timezone.now(),
                      total_xaf=15000, **extra)


def test_templates_use_the_name_and_salutation_the_contact_chose():
    contact = make_contact(10, first_name="Awa")
    contact.salutation = "Maman"
    assert render_text("Bonjour {salutation} {first_name} !", contact) == "Bonjour Maman Awa !"
    contact.salutation = ""
    assert render_text("Bonjour {salutation} {first_name} !", contact) == "Bonjour Awa !"
    assert render_text("Code {unknown}", contact) == "Code {unknown}"


def test_new_contacts_enter_the_introduction_sequence_once():
    sequence = sequence_create(name="Intro", purpose=Purpose.INTRODUCTION, channels=["telegram"],
                               steps=[{"text": "Bonjour {first_name}"}, {"text": "Suite", "delay": "2 00:00:00"}])
    new_contacts_enroll()  # first run: sets the cursor
    contact = make_contact(11, first_name="Paul")
    assert new_contacts_enroll() >= 1
    assert new_contacts_enroll() == 0
    enrollment = Enrollment.objects.get(contact=contact, sequence=sequence)
    texts = list(enrollment.messages.order_by("due_at").values_list("text", flat=True))
    assert texts == ["Bonjour Paul", "Suite"]
    assert OutboundMessage.objects.filter(category="staff", text__contains="Paul").count() == 1


def test_the_preferred_channel_wins_over_the_sequence_order():
    contact = make_contact(12)
    contact_update(contact_id=contact.pk, whatsapp="+237690000012", preferred_channel="whatsapp")
    consent_grant(contact_id=contact.pk, channel="whatsapp", how="test")
    sequence = sequence_create(name="S", steps=[{"text": "x"}], channels=["telegram", "whatsapp"])
    enrollment = enrollment_create(sequence_id=sequence.pk, contact_id=contact.pk, trigger="staff")
    assert enrollment.messages.get().channel == "whatsapp"


def test_an_order_stops_sequences_and_tells_staff_a_delivery_starts_the_after_sale(
        django_capture_on_commit_callbacks):
    contact = make_contact(13)
    intro = sequence_create(name="Intro", steps=[{"text": "a", "delay": "1 00:00:00"}], channels=["telegram"])
    after_sale = sequence_create(name="Après-vente", purpose=Purpose.AFTER_SALE, channels=["telegram"],
                                 steps=[{"text": "Votre avis ?", "delay": "2 00:00:00"}])
    enrollment = enrollment_create(sequence_id=intro.pk, contact_id=contact.pk, trigger="staff")
    with django_capture_on_commit_callbacks(execute=True):
        order_event_emit(_event("created", contact))
    enrollment.refresh_from_db()
    assert enrollment.state == "stopped"
    assert enrollment.stopped_reason == "ordered"
    assert set(enrollment.messages.values_list("state", flat=True)) == {"cancelled"}
    assert OutboundMessage.objects.filter(category="staff", text__contains="CF-2026-0001").exists()

    with django_capture_on_commit_callbacks(execute=True):
        order_event_emit(_event("status_changed", contact, status="delivered"))
        order_event_emit(_event("status_changed", contact, status="delivered"))  # replayed
    assert Enrollment.objects.filter(contact=contact, sequence=after_sale).count() == 1


def test_happy_feedback_asks_for_a_referral(django_capture_on_commit_callbacks):
    contact = make_contact(14, first_name="Awa")
    with django_capture_on_commit_callbacks(execute=True):
        order_event_emit(_event("feedback", contact, rating=5, order_id=9))
    message = OutboundMessage.objects.get(idempotency_key="referral:9")
    assert contact.referral_code in message.text


def test_crossing_the_score_threshold_marks_a_prospect_mature_and_tells_staff(settings):
    settings.NURTURE_MATURE_THRESHOLD = 20
    contact = make_contact(15, first_name="Carine")
    assert lead_score_record(contact_id=contact.pk, kind="bot_start", ref="a") == 10
    assert lead_score_record(contact_id=contact.pk, kind="bot_start", ref="a") == 10  # counted once
    assert NurtureProfile.objects.get(contact=contact).matured_at is None
    lead_score_record(contact_id=contact.pk, kind="tasting", ref="b")
    assert NurtureProfile.objects.get(contact=contact).matured_at is not None
    assert contact.events.filter(kind="matured").exists()
    assert OutboundMessage.objects.filter(category="staff", text__contains="Carine").count() == 1
    lead_score_record(contact_id=contact.pk, kind="tasting", ref="c")
    assert OutboundMessage.objects.filter(category="staff", text__contains="mûr").count() == 1


def test_monthly_messages_go_once_per_month():
    make_contact(16)
    sequence_create(name="Mensuel", purpose=Purpose.MONTHLY, steps=[{"text": "Des nouvelles de Confiotes"}],
                    channels=["telegram"])
    assert monthly_messages_enroll() == 1
    assert monthly_messages_enroll() == 0
    assert monthly_messages_enroll(now=timezone.now() + timedelta(days=32)) == 1


def test_replenishment_reminds_a_customer_when_their_usual_gap_has_passed():
    contact = make_contact(17, first_name="Awa")
    now = timezone.now()
    for days_ago in (60, 30):
        Order.objects.create(number=f"T-{days_ago}", contact=contact, created_at=now - timedelta(days=days_ago))
    assert replenishment_plan(now=now) == 1
    assert replenishment_plan(now=now) == 0
    message = OutboundMessage.objects.get(idempotency_key__startswith="replenish:")
    assert "Awa" in message.text


def test_replenishment_does_not_count_cancelled_or_refunded_orders():
    contact = make_contact(19, first_name="Awa")
    now = timezone.now()
    Order.objects.create(number="C-60", contact=contact, created_at=now - timedelta(days=60))
    for days_ago, status in ((30, OrderStatus.CANCELLED), (20, OrderStatus.REFUNDED)):
        Order.objects.create(number=f"C-{days_ago}", contact=contact, status=status,
                             created_at=now - timedelta(days=days_ago))
    assert replenishment_plan(now=now) == 0  # one consumed order: no usual gap yet
    assert NurtureProfile.objects.filter(contact=contact, replenishment_due_at__isnull=False).count() == 0


def test_the_demo_seeder_makes_the_plans_sequences_and_a_broadcast():
    seed_nurture(rng=random.Random(1))
    assert seed_nurture(rng=random.Random(1)).startswith("0 created")
    intro = Sequence.objects.get(purpose=Purpose.INTRODUCTION)
    assert intro.steps.count() == 9
    assert Sequence.objects.filter(purpose__in=[Purpose.AFTER_SALE, Purpose.MONTHLY]).count() == 2
    assert Broadcast.objects.count() == 1


def test_replenishment_for_a_reseller_is_a_follow_up_task_for_their_owner(staff_user):
    contact = make_contact(18, first_name="Boutique Mvog-Mbi")
    contact_update(contact_id=contact.pk, segment="reseller", owner=staff_user)
    now = timezone.now()
    for days_ago in (45, 30, 15):
        Order.objects.create(number=f"R-{days_ago}", contact=contact, created_at=now - timedelta(days=days_ago))
    assert replenishment_plan(now=now) == 1
    assert replenishment_plan(now=now) == 0
    task = FollowUpTask.objects.get(contact=contact)
    assert task.owner == staff_user
    assert not OutboundMessage.objects.filter(idempotency_key__startswith="replenish:").exists()
