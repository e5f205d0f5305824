"""The reads other apps use instead of the contact rows: the live filter, the merge walk and the SQL relation."""

from __future__ import annotations

import pytest
from django.db import connection

from api.contacts.models import Contact
from api.contacts.selectors import (
    MERGE_CHAIN_MAX_HOPS,
    contact_facts_sql,
    contact_id_resolve,
    contact_ids_resolve,
    contact_is_live,
    contact_live_get,
    contacts_live,
)
from api.contacts.services import contact_erase, contact_merge, contact_upsert

pytestmark = pytest.mark.django_db


def _person(n: int, **extra) -> Contact:
    return contact_upsert(phone=f"69912{n:04d}", name=f"Personne {n}", **extra).contact


def test_live_contacts_leave_out_merge_tombstones_and_erased_people():
    kept, merged, erased = _person(1), _person(2), _person(3)
    contact_merge(target_id=kept.pk, source_id=merged.pk)
    contact_erase(contact_id=erased.pk)

    assert set(contacts_live().values_list("pk", flat=True)) == {kept.pk}
    assert contact_is_live(kept.pk)
    assert not contact_is_live(merged.pk)
    assert not contact_is_live(erased.pk)
    assert contact_live_get(erased.pk) is None
    assert contact_live_get(kept.pk).pk == kept.pk


def test_a_merge_chain_of_three_hops_resolves_to_its_survivor():
    a, b, c, d = _person(1), _person(2), _person(3), _person(4)
    # Merges repoint earlier tombstones, so the chain a -> b -> c -> d is written by hand here,
    # as an old file (or a hand edit) could hold it.
    contact_merge(target_id=d.pk, source_id=c.pk)
    Contact.objects.filter(pk=b.pk).update(merged_into=c)
    Contact.objects.filter(pk=a.pk).update(merged_into=b)

    assert contact_id_resolve(a.pk) == d.pk
    assert contact_id_resolve(d.pk) == d.pk
    assert contact_ids_resolve([a.pk, b.pk, c.pk, d.pk, 999_999]) == {a.pk: d.pk, b.pk: d.pk, c.pk: d.pk,
                                                                      d.pk: d.pk}


def test_merging_repoints_earlier_tombstones_so_a_chain_has_one_hop():
    a, b, c = _person(1), _person(2), _person(3)
    contact_merge(target_id=b.pk, source_id=a.pk)
    contact_merge(target_id=c.pk, source_id=b.pk)

    assert Contact.objects.get(pk=a.pk).merged_into_id == c.pk
    assert contact_id_resolve(a.pk) == c.pk


def test_an_erased_survivor_is_resolved_but_not_live():
    a, b = _person(1), _person(2)
    contact_merge(target_id=b.pk, source_id=a.pk)
    contact_erase(contact_id=b.pk)

    assert contact_id_resolve(a.pk) == b.pk
    assert not contact_is_live(b.pk)


def test_an_unknown_contact_resolves_to_none():
    assert contact_id_resolve(999_999) is None


def test_a_merge_cycle_or_a_too_long_chain_resolves_to_none():
    a, b = _person(1), _person(2)
    Contact.objects.filter(pk=a.pk).update(merged_into=b)
    Contact.objects.filter(pk=b.pk).update(merged_into=a)
    assert contact_id_resolve(a.pk) is None
    assert contact_ids_resolve([a.pk, b.pk]) == {}

    chain = [_person(10 + i) for i in range(MERGE_CHAIN_MAX_HOPS + 2)]
    for older, newer in zip(chain, chain[1:], strict=False):
        Contact.objects.filter(pk=older.pk).update(merged_into=newer)
    assert contact_id_resolve(chain[0].pk) is None
    assert contact_id_resolve(chain[1].pk) == chain[-1].pk


def test_the_published_sql_relation_has_its_documented_columns():
    kept, merged = _person(1, self_reported_source="Facebook", segment="host"), _person(2)
    contact_merge(target_id=kept.pk, source_id=merged.pk)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT contact_id, self_reported_source, segment, acquisition_channel, merged_into_id "
                       f"FROM {contact_facts_sql()} c ORDER BY contact_id")
        rows = cursor.fetchall()
    assert rows[0][:3] == (kept.pk, "Facebook", "host")
    assert rows[1][0] == merged.pk
    assert rows[1][4] == kept.pk
