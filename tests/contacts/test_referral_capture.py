"""The tasting and fair capture form takes the code of the ambassador who sent the visitor."""

from __future__ import annotations

import pytest

from api.campaigns.models import Touchpoint
from api.contacts.models import Contact, ContactEvent
from api.contacts.services import contact_upsert, referral_code_apply

pytestmark = pytest.mark.django_db


@pytest.fixture
def ambassador(db):
    return contact_upsert(phone="+237690000301", name="Awa Ndiaye").contact


def _capture(client, phone="699 12 34 56", **extra):
    body = {"name": "Awa Ndjock", "phone": phone, "segment": "host", "kind": "fair_visit",
            "consent_channels": ["whatsapp"], **extra}
    return client.post("/api/v1/captures", body, format="json")


def _field_error(response) -> tuple[str, str]:
    body = response.json()
    assert response.status_code == 400, body
    [error] = body["errors"]
    return error["field"], error["code"]


def test_a_visitor_sent_by_an_ambassador_is_referred_by_them(staff_client, ambassador):
    response = _capture(staff_client, referral_code=f"AMB {ambassador.referral_code.lower()}")

    body = response.json()
    assert response.status_code == 201, body
    assert body["referred_by_id"] == ambassador.pk
    visitor = Contact.objects.get(pk=body["contact_id"])
    assert visitor.referred_by_id == ambassador.pk
    assert ContactEvent.objects.get(contact=visitor, kind="referred").data["via"] == "fair_capture"


def test_without_a_code_nobody_is_the_referrer(staff_client):
    response = _capture(staff_client)

    assert response.status_code == 201, response.json()
    assert response.json()["referred_by_id"] is None


def test_an_unknown_code_is_a_400_and_nothing_is_captured(staff_client):
    assert _field_error(_capture(staff_client, referral_code="ZZZZ2345")) == ("referral_code",
                                                                              "unknown_referral_code")
    assert not Contact.objects.filter(phone="+237699123456").exists()
    assert not Touchpoint.objects.exists()


def test_the_visitors_own_code_is_a_400_and_nothing_changes(staff_client, ambassador):
    assert _field_error(_capture(staff_client, phone=ambassador.phone,
                                 referral_code=ambassador.referral_code)) == ("referral_code", "self_referral")
    assert not Touchpoint.objects.exists()
    assert Contact.objects.get(pk=ambassador.pk).referred_by_id is None


def test_a_loop_is_a_400(staff_client, ambassador):
    friend = contact_upsert(phone="+237699123456", name="Brice").contact
    assert referral_code_apply(contact_id=friend.pk, code=ambassador.referral_code, via="staff")

    # The ambassador visits the stand and gives the code of the friend they brought.
    assert _field_error(_capture(staff_client, phone=ambassador.phone,
                                 referral_code=friend.referral_code)) == ("referral_code", "referral_loop")
    assert Contact.objects.get(pk=ambassador.pk).referred_by_id is None


def test_a_visitor_already_referred_by_someone_else_is_a_400(staff_client, ambassador):
    other = contact_upsert(phone="+237690000302", name="Carine").contact
    visitor = contact_upsert(phone="+237699123456", name="Brice").contact
    assert referral_code_apply(contact_id=visitor.pk, code=other.referral_code, via="telegram_start")

    assert _field_error(_capture(staff_client, referral_code=ambassador.referral_code)) == (
        "referral_code", "already_referred")
    assert Contact.objects.get(pk=visitor.pk).referred_by_id == other.pk


def test_a_retried_capture_with_the_same_code_is_accepted(staff_client, ambassador):
    first = _capture(staff_client, referral_code=ambassador.referral_code, client_event_id="tab-1")
    again = _capture(staff_client, referral_code=ambassador.referral_code, client_event_id="tab-1")

    assert first.status_code == again.status_code == 201
    assert again.json()["referred_by_id"] == ambassador.pk
    assert ContactEvent.objects.filter(kind="referred").count() == 1
