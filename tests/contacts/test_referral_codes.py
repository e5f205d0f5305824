"""A typed referral code makes its owner the friend's referrer: once, never oneself, never in a loop."""

from __future__ import annotations

import pytest

from api.contacts.models import Contact, ContactEvent
from api.contacts.selectors import ReferralRefusal, referral_code_check
from api.contacts.services import contact_merge, contact_upsert, referral_code_apply

pytestmark = pytest.mark.django_db


def _person(phone: str, name: str) -> Contact:
    return contact_upsert(phone=phone, name=name).contact


@pytest.fixture
def ambassador():
    return _person("+237690000101", "Awa Ndiaye")


@pytest.fixture
def friend():
    return _person("+237690000102", "Brice Tchoua")


def test_a_friend_typing_the_code_gets_the_ambassador_as_referrer(ambassador, friend):
    assert referral_code_apply(contact_id=friend.pk, code=ambassador.referral_code, via="telegram_start") is True

    friend.refresh_from_db()
    assert friend.referred_by_id == ambassador.pk
    on_friend = ContactEvent.objects.get(contact=friend, kind="referred")
    on_ambassador = ContactEvent.objects.get(contact=ambassador, kind="referral_made")
    assert on_friend.data["via"] == on_ambassador.data["via"] == "telegram_start"
    assert on_friend.data["referrer_id"] == ambassador.pk


@pytest.mark.parametrize("typed", ["{code}", " {lower} ", "AMB-{code}", "amb {lower}", "REF-{code}", "ref_{lower}",
                                   "{a}-{b}"])
def test_the_code_is_found_however_it_was_typed_or_printed(ambassador, friend, typed):
    code = ambassador.referral_code
    text = typed.format(code=code, lower=code.lower(), a=code[:4], b=code[4:])

    assert referral_code_apply(contact_id=friend.pk, code=text, via="whatsapp_text") is True
    friend.refresh_from_db()
    assert friend.referred_by_id == ambassador.pk


def test_a_code_that_itself_starts_with_a_prefix_is_found_as_typed(friend):
    owner = _person("+237690000103", "Ambroise Eto")
    Contact.objects.filter(pk=owner.pk).update(referral_code="AMBK7P2Q")

    assert referral_code_apply(contact_id=friend.pk, code="ambk7p2q", via="staff") is True
    friend.refresh_from_db()
    assert friend.referred_by_id == owner.pk


@pytest.mark.parametrize("code", ["", "   ", "ZZZZZZZZ", "AMB-", "not a code at all, far too long to be one"])
def test_an_unknown_code_changes_nothing(friend, code):
    assert referral_code_apply(contact_id=friend.pk, code=code, via="messenger_ref") is False

    friend.refresh_from_db()
    assert friend.referred_by_id is None
    assert not ContactEvent.objects.filter(kind__in=["referred", "referral_made"]).exists()


def test_the_own_code_is_refused(ambassador):
    assert referral_code_apply(contact_id=ambassador.pk, code=ambassador.referral_code, via="order_coupon") is False

    ambassador.refresh_from_db()
    assert ambassador.referred_by_id is None
    assert referral_code_check(contact_id=ambassador.pk, code=ambassador.referral_code).refusal == \
        ReferralRefusal.SELF_REFERRAL


def test_a_contact_who_already_has_a_referrer_keeps_it(ambassador, friend):
    other = _person("+237690000104", "Carine Mballa")
    assert referral_code_apply(contact_id=friend.pk, code=other.referral_code, via="staff") is True

    assert referral_code_apply(contact_id=friend.pk, code=ambassador.referral_code, via="telegram_start") is False
    friend.refresh_from_db()
    assert friend.referred_by_id == other.pk
    assert referral_code_check(contact_id=friend.pk, code=ambassador.referral_code).refusal == \
        ReferralRefusal.ALREADY_REFERRED


def test_the_same_code_twice_records_one_referral(ambassador, friend):
    assert referral_code_apply(contact_id=friend.pk, code=ambassador.referral_code, via="telegram_start") is True
    assert referral_code_apply(contact_id=friend.pk, code=ambassador.referral_code, via="order_coupon") is False

    assert ContactEvent.objects.filter(contact=friend, kind="referred").count() == 1
    check = referral_code_check(contact_id=friend.pk, code=ambassador.referral_code)
    assert check.refusal is None
    assert check.already is True


def test_a_direct_loop_is_refused(ambassador, friend):
    assert referral_code_apply(contact_id=friend.pk, code=ambassador.referral_code, via="staff") is True

    # The ambassador now types the code of the friend they brought.
    assert referral_code_apply(contact_id=ambassador.pk, code=friend.referral_code, via="staff") is False
    ambassador.refresh_from_db()
    assert ambassador.referred_by_id is None
    assert referral_code_check(contact_id=ambassador.pk, code=friend.referral_code).refusal == ReferralRefusal.LOOP


def test_a_loop_through_a_chain_is_refused(ambassador, friend):
    third = _person("+237690000105", "Dieudonné Fotso")
    assert referral_code_apply(contact_id=friend.pk, code=ambassador.referral_code, via="staff") is True
    assert referral_code_apply(contact_id=third.pk, code=friend.referral_code, via="staff") is True

    # ambassador → friend → third: the ambassador may not be referred by the third.
    assert referral_code_apply(contact_id=ambassador.pk, code=third.referral_code, via="fair_capture") is False
    ambassador.refresh_from_db()
    assert ambassador.referred_by_id is None


def test_an_unknown_contact_is_refused_without_error(ambassador):
    assert referral_code_apply(contact_id=987654, code=ambassador.referral_code, via="staff") is False


def test_the_code_of_a_merged_away_contact_refers_to_the_survivor(friend):
    kept = _person("+237690000106", "Estelle Abena")
    merged = _person("+237690000107", "Estelle A.")
    old_code = merged.referral_code
    contact_merge(source_id=merged.pk, target_id=kept.pk)

    assert referral_code_apply(contact_id=friend.pk, code=old_code, via="staff") is True
    friend.refresh_from_db()
    assert friend.referred_by_id == kept.pk
