"""The nurture facts staff screens read: a contact's lead score and reorder date, the prospects
who just became mature and the customers due to reorder."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from api.contacts.services import contact_erase, contact_set_lifecycle_stage, contact_upsert
from api.nurture.models import NurtureProfile
from api.nurture.selectors import (
    contacts_due_to_reorder,
    contacts_recently_matured,
    lead_mature_threshold,
    nurture_profile_find,
)
from api.nurture.services import lead_score_record, nurture_profile_get

pytestmark = pytest.mark.django_db


def _person(n: int):
    return contact_upsert(phone=f"69934{n:04d}", name=f"Personne {n}").contact


def _due(contact_id: int, when) -> None:
    profile = nurture_profile_get(contact_id)
    NurtureProfile.objects.filter(pk=profile.pk).update(replenishment_due_at=when)


def test_finding_a_profile_reads_without_creating_one():
    person = _person(1)
    assert nurture_profile_find(person.pk) is None
    assert not NurtureProfile.objects.filter(contact_id=person.pk).exists()
    lead_score_record(contact_id=person.pk, kind="click", ref="click:1", points=7)
    assert nurture_profile_find(person.pk).lead_score == 7


def test_recently_matured_prospects_leave_out_the_cold_the_old_and_those_who_bought(settings):
    settings.NURTURE_MATURE_THRESHOLD = 30
    assert lead_mature_threshold() == 30
    hot, cold, old, bought = _person(1), _person(2), _person(3), _person(4)
    for person in (hot, old, bought):
        lead_score_record(contact_id=person.pk, kind="tasting", ref=f"tasting:{person.pk}", points=31)
    lead_score_record(contact_id=cold.pk, kind="click", ref="click:2", points=29)
    NurtureProfile.objects.filter(contact_id=old.pk).update(matured_at=timezone.now() - timedelta(days=10))
    contact_set_lifecycle_stage(contact_id=bought.pk, stage="customer", reason="first order")

    found = contacts_recently_matured(since=timezone.now() - timedelta(days=7))

    assert [p.contact_id for p in found] == [hot.pk]
    assert found[0].contact.display_name == "Personne 1"


def test_customers_due_to_reorder_in_the_window_earliest_first_live_only():
    now = timezone.now()
    overdue, soon, later, erased = _person(1), _person(2), _person(3), _person(4)
    _due(overdue.pk, now - timedelta(days=2))
    _due(soon.pk, now + timedelta(days=1))
    _due(later.pk, now + timedelta(days=20))
    _due(erased.pk, now)
    contact_erase(contact_id=erased.pk)

    found = contacts_due_to_reorder(start=now - timedelta(days=30), end=now + timedelta(days=3))

    assert [p.contact_id for p in found] == [overdue.pk, soon.pk]
