"""Staff rewrite a sequence's messages one by one, or add one at its end: new enrollments get the new
text, people already enrolled keep what was queued for them, and a bad step changes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from api.nurture.models import OutboundMessage
from api.nurture.services import enrollment_create, sequence_create, sequence_step_add, sequence_step_update
from tests.nurture.conftest import make_contact

pytestmark = pytest.mark.django_db


@pytest.fixture
def welcome():
    return sequence_create(name="Bienvenue", purpose="manual", channels=["telegram"], steps=[
        {"delay": timedelta(), "text": "Bienvenue {first_name} !"},
        {"delay": timedelta(days=2), "text": "Avez-vous goûté le bissap ?"},
    ])


def _texts(contact) -> list[str]:
    return sorted(OutboundMessage.objects.filter(contact=contact).values_list("text", flat=True))


def test_a_rewritten_step_reaches_new_enrollments_and_spares_the_queued_ones(welcome):
    before = make_contact(31, first_name="Awa")
    enrollment_create(sequence_id=welcome.pk, contact_id=before.pk, trigger="staff", check_audience=False)
    sequence_step_update(sequence_id=welcome.pk, position=2, text="Et notre sirop de gingembre ?",
                         delay=timedelta(days=3))
    after = make_contact(32, first_name="Binta")
    enrollment_create(sequence_id=welcome.pk, contact_id=after.pk, trigger="staff", check_audience=False)
    assert _texts(before) == ["Avez-vous goûté le bissap ?", "Bienvenue Awa !"]
    assert _texts(after) == ["Bienvenue Binta !", "Et notre sirop de gingembre ?"]


def test_an_added_step_goes_at_the_end(welcome):
    step = sequence_step_add(sequence_id=welcome.pk, text="Votre code : {referral_code}", delay="7 00:00:00")
    assert (step.position, step.delay) == (3, timedelta(days=7))


def test_the_api_rewrites_and_adds_steps(staff_client, welcome):
    url = f"/api/v1/nurture/sequences/{welcome.pk}/steps"
    put = staff_client.put(f"{url}/1", {"delay": "01:00:00", "text": "Bonjour {first_name}", "window_start": "10:00",
                                        "window_end": "19:00"}, format="json")
    assert put.status_code == 200, put.json()
    assert put.json()["steps"][0] == {"position": 1, "delay": "01:00:00", "text": "Bonjour {first_name}",
                                      "image_url": "", "window_start": "10:00:00", "window_end": "19:00:00",
                                      "whatsapp_template": None}
    added = staff_client.post(url, {"delay": "2 00:00:00", "text": "Suite"}, format="json")
    assert added.status_code == 201
    assert [s["position"] for s in added.json()["steps"]] == [1, 2, 3]


@pytest.mark.parametrize(("body", "field"), [
    ({"delay": "0", "text": "   "}, "text"),
    ({"delay": "400 00:00:00", "text": "x"}, "delay"),
    ({"delay": "0", "text": "x", "window_start": "19:00", "window_end": "08:00"}, "window_end"),
    ({"delay": "0", "text": "x" * 4097}, "text"),
])
def test_a_bad_step_is_a_400_naming_the_field_and_changes_nothing(staff_client, welcome, body, field):
    response = staff_client.put(f"/api/v1/nurture/sequences/{welcome.pk}/steps/2", body, format="json")
    assert response.status_code == 400
    assert field in {e["field"] for e in response.json()["errors"]}
    assert welcome.steps.get(position=2).text == "Avez-vous goûté le bissap ?"


def test_a_missing_sequence_or_step_is_a_404(staff_client, welcome):
    assert staff_client.put(f"/api/v1/nurture/sequences/{welcome.pk}/steps/9", {"delay": "0", "text": "x"},
                            format="json").status_code == 404
    assert staff_client.post("/api/v1/nurture/sequences/999999/steps", {"delay": "0", "text": "x"},
                             format="json").status_code == 404


def test_a_delay_given_as_a_duration_obeys_the_same_year_bound_as_a_typed_one():
    """The back office passes a timedelta; more than 366 days is a typo there too, and changes nothing."""
    from api.common.errors import ApplicationError
    from api.nurture.models import SequenceStep

    sequence = sequence_create(name="Relance", steps=[{"text": "Bonjour"}], channels=["telegram"])
    with pytest.raises(ApplicationError) as refused:
        sequence_step_add(sequence_id=sequence.pk, text="Un an plus tard", delay=timedelta(days=366, hours=5))
    assert refused.value.errors[0]["field"] == "delay" or refused.value.errors[0]["field"].endswith(".delay")
    assert SequenceStep.objects.filter(sequence=sequence).count() == 1
