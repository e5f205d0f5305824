"""``contact_duplicates_of`` (the check after a quick add) finds, for each contact, exactly the other
members of the groups ``contact_duplicate_groups`` (the whole-file list) puts it in."""

from __future__ import annotations

import random

import pytest

from api.contacts.models import Contact
from api.contacts.selectors import contact_duplicate_groups, contact_duplicates_of
from api.contacts.services import contact_merge, contact_upsert

pytestmark = pytest.mark.django_db


def test_the_duplicates_of_each_contact_are_its_groups_in_the_whole_file_list():
    # Given a small file with look-alikes of every kind: same name and town in another case, the
    # same number's last 8 digits (an old 8-digit number, a WhatsApp number), a merged contact.
    rng = random.Random(15)
    names = ["Mireille Ngo", "MIREILLE NGO", "Hervé Fotso", "hervé fotso", "Awa Bello", ""]
    towns = ["Douala", "douala", "Yaoundé", ""]
    for i in range(60):
        contact_upsert(phone=f"69{rng.choice('0123')}{i % 20:06d}" if i < 20 else f"6{rng.choice('5789')}{i:07d}",
                       name=rng.choice(names) or None, city=rng.choice(towns) or None)
    Contact.objects.filter(pk__in=Contact.objects.order_by("pk").values("pk")[:5]).update(
        whatsapp="+237677000021")
    old_line = contact_upsert(email="awa@example.cm", name="Awa").contact
    Contact.objects.filter(pk=old_line.pk).update(phone="+23790000003")  # an 8-digit number from before 2014
    twin = contact_upsert(phone="+237699999998", name="Awa Bello", city="Douala").contact
    kept = contact_upsert(phone="+237699999999", name="Awa Bello", city="Douala").contact
    contact_merge(target_id=kept.pk, source_id=twin.pk)

    # When the whole-file groups are read, and each contact's duplicates one by one
    expected: dict[int, set[int]] = {pk: set() for pk in Contact.objects.values_list("pk", flat=True)}
    for group in contact_duplicate_groups(limit=10_000):
        members = {c.pk for c in group["contacts"]}
        for pk in members:
            expected[pk] |= members - {pk}

    # Then they agree, for every live contact; a merged one has none
    assert any(expected.values())
    for pk, others in expected.items():
        if pk == twin.pk:
            continue
        assert {c.pk for c in contact_duplicates_of(contact_id=pk, limit=1000)} == others, pk
    assert contact_duplicates_of(contact_id=twin.pk) == []
