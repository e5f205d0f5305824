"""Healing identity rows: contacts written without rows (old data, an import from before the rows) get a
row for each of their main phone, WhatsApp number and e-mail, many at once as an import batch does, and
a number another contact holds stays theirs."""

from __future__ import annotations

import pytest

from api.contacts.models import Contact, ContactIdentity
from api.contacts.selectors import contact_id_by_email, contact_id_by_phone, contact_id_by_whatsapp
from api.contacts.services import contact_upsert, referral_code_new
from api.contacts.services.identity_rows import identity_rows_heal, identity_rows_heal_many

pytestmark = pytest.mark.django_db


def _old_contact(**fields) -> Contact:
    """A contact as old data holds it: written straight to the table, without identity rows."""
    return Contact.objects.create(referral_code=referral_code_new(), **fields)


def _mains(*contacts: Contact) -> dict[int, dict[str, str | None]]:
    return {c.pk: {"phone": c.phone, "whatsapp": c.whatsapp, "email": c.email} for c in contacts}


def _rows_of(contact: Contact) -> set[tuple[str, str]]:
    return set(ContactIdentity.objects.filter(contact=contact).values_list("kind", "value"))


def test_contacts_without_rows_get_one_for_each_main_identity_and_a_second_heal_makes_none():
    awa = _old_contact(phone="+237699111111", whatsapp="+237677222222", email="Awa@Example.cm")
    boris = _old_contact(phone="+237699333333")

    made = identity_rows_heal_many(_mains(awa, boris))

    assert made == 4
    assert _rows_of(awa) == {
        ("phone", "+237699111111"),
        ("whatsapp", "+237677222222"),
        ("email", "awa@example.cm"),
    }
    assert _rows_of(boris) == {("phone", "+237699333333")}
    assert contact_id_by_email("AWA@example.cm") == awa.pk
    assert identity_rows_heal_many(_mains(awa, boris)) == 0
    assert identity_rows_heal(awa) == 0
    assert ContactIdentity.objects.count() == 4


def test_a_number_another_contact_holds_stays_theirs():
    owner = contact_upsert(phone="699111111", whatsapp="677222222").contact
    # Old data: the same WhatsApp number in the column of a contact without rows.
    other = _old_contact(phone="+237699333333", whatsapp="+237677222222")

    made = identity_rows_heal_many(_mains(other))

    assert made == 1
    assert _rows_of(other) == {("phone", "+237699333333")}
    assert contact_id_by_whatsapp("+237677222222") == owner.pk
    assert contact_id_by_phone("+237699333333") == other.pk


def test_of_two_contacts_given_one_number_nobody_holds_the_older_gets_it():
    first = _old_contact(phone="+237699111111", whatsapp="+237677222222")
    second = _old_contact(phone="+237699333333", whatsapp="+237677222222")

    identity_rows_heal_many(_mains(second, first))

    assert ContactIdentity.objects.get(kind="whatsapp", value="+237677222222").contact_id == first.pk
    assert _rows_of(second) == {("phone", "+237699333333")}


def test_an_import_batch_of_contacts_is_healed_in_a_few_queries_not_one_per_contact(
    django_assert_max_num_queries,
):
    batch = [
        _old_contact(phone=f"+23769910{i:04d}", whatsapp=f"+23767710{i:04d}", email=f"c{i}@example.cm")
        for i in range(300)
    ]

    # the held values, the insert (a few statements on SQLite, which caps the parameters of one), who
    # holds the values after it: two queries for each 500 values, and the insert
    with django_assert_max_num_queries(2 * 2 + 5):
        assert identity_rows_heal_many(_mains(*batch)) == 900
    with django_assert_max_num_queries(2):
        assert identity_rows_heal_many(_mains(*batch)) == 0
