"""Upsert: one contact per identity, whatever the format, even under concurrent calls."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from api.common.errors import ApplicationError, ConflictError
from api.contacts.models import Contact
from api.contacts.services import contact_upsert


@pytest.mark.django_db
def test_upsert_creates_then_finds_the_contact_by_any_phone_format():
    first = contact_upsert(phone="699 12 34 56", name="Mireille Ngo Bassa", city="Douala")
    again = contact_upsert(phone="+237 6 99-12-34-56", neighbourhood="Bonamoussadi")

    assert first.created is True
    assert again.created is False
    assert again.contact.pk == first.contact.pk
    contact = Contact.objects.get()
    assert (contact.phone, contact.city, contact.neighbourhood) == ("+237699123456", "Douala", "Bonamoussadi")


@pytest.mark.django_db
def test_email_identifies_a_contact_whatever_its_case():
    created = contact_upsert(email="Aicha.Bello@Example.CM", name="Aïcha").contact
    found = contact_upsert(email="aicha.bello@example.cm", phone="677001122")

    assert found.contact.pk == created.pk
    assert Contact.objects.get().phone == "+237677001122"


@pytest.mark.django_db
def test_the_database_refuses_two_contacts_with_the_same_email_in_another_case():
    from django.db import IntegrityError

    Contact.objects.create(email="x@example.cm", referral_code="A1")
    with pytest.raises(IntegrityError), transaction.atomic():
        Contact.objects.create(email="X@EXAMPLE.CM", referral_code="A2")


@pytest.mark.django_db
def test_identities_of_two_contacts_are_a_409_naming_both_and_change_nothing():
    by_phone = contact_upsert(phone="699123456", name="A").contact
    by_tg = contact_upsert(telegram_chat_id=555001, name="B").contact

    with pytest.raises(ConflictError) as error:
        contact_upsert(phone="699123456", telegram_chat_id="555001", name="C")

    assert error.value.extra["contact_ids"] == sorted([by_phone.pk, by_tg.pk])
    assert set(Contact.objects.values_list("name", flat=True)) == {"A", "B"}


@pytest.mark.django_db
def test_a_bad_phone_is_a_400_naming_the_field():
    with pytest.raises(ApplicationError) as error:
        contact_upsert(phone="12345", name="X")
    assert error.value.status_code == 400
    assert error.value.errors[0]["field"] == "phone"
    assert not Contact.objects.exists()


@pytest.mark.django_db
def test_whatsapp_only_contacts_are_found_by_their_phone():
    first = contact_upsert(whatsapp="699 00 00 01").contact
    assert first.phone == "+237699000001"
    assert contact_upsert(phone="699000001").contact.pk == first.pk


@pytest.mark.django_db(transaction=True)
def test_simultaneous_upserts_of_the_same_phone_make_one_contact():
    threads_count = 6
    barrier = threading.Barrier(threads_count)
    outcomes: list[bool] = []
    failures: list[BaseException] = []

    def call(i: int) -> None:
        try:
            barrier.wait(timeout=10)
            with transaction.atomic():
                outcomes.append(contact_upsert(phone="+237 699 55 44 33", name=f"Caller {i}").created)
        except BaseException as exc:  # reported below, in the main thread
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=call, args=(i,)) for i in range(threads_count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    assert failures == []
    assert sorted(outcomes) == [False] * (threads_count - 1) + [True]
    assert Contact.objects.filter(phone="+237699554433").count() == 1


@pytest.mark.django_db
def test_automatic_stage_moves_respect_a_staff_override(staff_user):
    from api.contacts.models import ContactEvent
    from api.contacts.services import contact_set_lifecycle_stage

    contact = contact_upsert(phone="699123456").contact
    contact_set_lifecycle_stage(contact_id=contact.pk, stage="prospect", reason="lead score 40")
    contact_set_lifecycle_stage(contact_id=contact.pk, stage="ambassador", reason="staff", actor=staff_user,
                                automatic=False)
    contact_set_lifecycle_stage(contact_id=contact.pk, stage="customer", reason="first order")

    contact.refresh_from_db()
    assert (contact.lifecycle_stage, contact.lifecycle_stage_locked) == ("ambassador", True)
    moves = list(ContactEvent.objects.filter(kind="lifecycle_changed").order_by("at").values_list("data__to",
                                                                                                  flat=True))
    assert moves == ["prospect", "ambassador"]


@pytest.mark.django_db
def test_can_receive_needs_consent_identity_and_no_opt_out():
    from api.contacts.selectors import contact_can_receive
    from api.contacts.services import consent_grant, contact_mark_unreachable, contact_opt_out

    contact = contact_upsert(phone="699123456", telegram_chat_id=42).contact
    assert contact_can_receive(contact.pk, "whatsapp") == (False, "no_consent")
    consent_grant(contact_id=contact.pk, channel="whatsapp", how="form")
    assert contact_can_receive(contact.pk, "whatsapp") == (True, "ok")
    assert contact_can_receive(contact.pk, "email") == (False, "no_identity")
    consent_grant(contact_id=contact.pk, channel="telegram", how="bot /start")
    contact_mark_unreachable(contact_id=contact.pk, channel="telegram", reason="bot blocked")
    assert contact_can_receive(contact.pk, "telegram") == (False, "unreachable")
    contact_opt_out(contact_id=contact.pk, how="STOP")
    assert contact_can_receive(contact.pk, "whatsapp") == (False, "opted_out")
