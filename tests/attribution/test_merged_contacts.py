"""Credits after a contact merge: an order moved to the survivor keeps no rows under the merged contact."""

from __future__ import annotations

import pytest

from api.attribution import conf, services
from api.attribution.enums import RunState
from api.attribution.models import AttributionCredit
from api.contacts.services import contact_merge
from api.orders.models import Order
from tests.attribution import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_settle(monkeypatch):
    monkeypatch.setattr(conf, "WATERMARK_SETTLE_SECONDS", 0)


def _rows(**filters):
    return sorted((c.order_id, c.contact_id, c.model, c.channel, c.revenue_xaf, c.is_refund, c.is_first_order)
                  for c in AttributionCredit.objects.filter(**filters))


def _merged():
    """A contact with one order merged into another with one order, after a full run credited both."""
    fb = f.campaign("fb1", "facebook_ads")
    survivor, merged = f.contact(), f.contact()
    f.touch(merged, f.at("2026-11-10"), camp=fb)
    f.touch(survivor, f.at("2026-11-12"), camp=fb)
    moved = f.order(merged, f.at("2026-11-11"), revenue=10_000)
    kept = f.order(survivor, f.at("2026-11-13"), revenue=20_000)
    assert services.attribution_run(full=True).state == RunState.SUCCEEDED
    assert {r[1] for r in _rows(order_id=moved.pk)} == {merged.pk}
    contact_merge(target_id=survivor.pk, source_id=merged.pk)
    assert Order.objects.get(pk=moved.pk).contact_id == survivor.pk
    return survivor, merged, moved, kept


def test_redoing_the_merged_contact_alone_drops_the_rows_of_its_moved_order():
    survivor, merged, moved, kept = _merged()
    kept_rows = _rows(order_id=kept.pk)
    # When only the merged contact is redone
    assert services.attribution_run(contact_ids=[merged.pk]).state == RunState.SUCCEEDED
    # Then nothing is left under it, and the survivor's own rows are untouched
    assert _rows(contact_id=merged.pk) == []
    assert _rows(order_id=moved.pk) == []
    assert _rows(order_id=kept.pk) == kept_rows
    # And redoing the survivor credits both orders to it, as a full run does
    assert services.attribution_run(contact_ids=[survivor.pk]).state == RunState.SUCCEEDED
    incremental = _rows()
    assert {r[1] for r in incremental} == {survivor.pk}
    assert {r[0] for r in incremental} == {moved.pk, kept.pk}
    f.full_run()
    assert _rows() == incremental


@pytest.mark.parametrize("together", [False, True])
def test_redoing_the_survivor_replaces_the_old_rows_of_the_moved_order(together):
    survivor, merged, moved, _ = _merged()
    contacts = [survivor.pk, merged.pk] if together else [survivor.pk]
    assert services.attribution_run(contact_ids=contacts).state == RunState.SUCCEEDED
    assert _rows(contact_id=merged.pk) == []
    assert {r[1] for r in _rows(order_id=moved.pk)} == {survivor.pk}
    incremental = _rows()
    f.full_run()
    assert _rows() == incremental
