"""The fast paths of a full recompute give exactly the rows of the plain ones.

* The engine's grouped, integer-time computation (``attribute_window``) against a reference copy
  of the original per-model implementation (hypothesis).
* On PostgreSQL, the full run (one transaction, COPY into a fresh table that replaces the live one)
  against the per-contact batches; a run that fails before the swap leaves the old credits and the
  table as it was; the slices read on other connections (outside a caller's transaction) give the
  same rows as one read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest
from django.db import connection, transaction
from hypothesis import given, settings
from hypothesis import strategies as st

from api.attribution import engine, services
from api.attribution.engine import MODELS, SELF_REPORTED, UNKNOWN_CHANNEL, OrderFacts, Refund, Settings, Touch
from api.attribution.enums import RunState
from api.attribution.models import AttributionCredit
from api.attribution.services import credits, inputs, inputs_pg, slices_pg, table_swap_pg
from tests.attribution import factories as f

# --- the engine against the original implementation -------------------------------------------------


@dataclass
class _Row:
    campaign_id: int | None
    channel: str
    weight: int = 0
    touches: int = 0


def _reference(order: OrderFacts, touches: list[Touch], models, conf: Settings) -> list[engine.Credit]:
    """A reference engine written plainly: one model at a time, datetimes, dataclass rows."""
    window = engine.touches_in_window(touches, order.placed_at, conf.lookback)
    credits = []
    for model in models:
        if model == SELF_REPORTED and order.self_reported_channel:
            rows = [_Row(None, order.self_reported_channel, 1, 0)]
        elif not window:
            rows = [_Row(None, order.self_reported_channel or UNKNOWN_CHANNEL, 1, 0)]
        else:
            weights = engine.integer_weights(model, window, order.placed_at, conf.half_life)
            by_key: dict = {}
            for touch, weight in zip(window, weights, strict=True):
                if weight == 0:
                    continue
                key = (touch.campaign_id, touch.channel or UNKNOWN_CHANNEL)
                row = by_key.setdefault(key, _Row(*key))
                row.weight += weight
                row.touches += 1
            rows = list(by_key.values())
        weights = [row.weight for row in rows]
        revenue = engine.allocate_int(order.revenue_xaf, weights)
        margin = engine.allocate_int(order.margin_xaf, weights)
        for row, rev, mar in zip(rows, revenue, margin, strict=True):
            credits.append(engine.Credit(order.order_id, model, row.campaign_id, row.channel, rev, mar,
                                         order.placed_at, touches=row.touches, weight=row.weight / sum(weights)))
        remaining_rev, remaining_mar = list(revenue), list(margin)
        refunded = margin_back = 0
        total_rev = max(order.revenue_xaf, 0)
        for refund in sorted(order.refunds, key=lambda r: (r.refunded_at, r.refund_id)):
            amount = max(0, min(refund.amount_xaf, total_rev - refunded))
            refunded += amount
            target = int(Fraction(order.margin_xaf * refunded, total_rev)) if total_rev else 0
            step, margin_back = target - margin_back, target
            rev_parts = engine.allocate_int(amount, [max(r, 0) for r in remaining_rev])
            mar_parts = engine.allocate_int(step, [abs(m) for m in remaining_mar])
            for i, row in enumerate(rows):
                remaining_rev[i] -= rev_parts[i]
                remaining_mar[i] -= mar_parts[i]
                if rev_parts[i] or mar_parts[i]:
                    credits.append(engine.Credit(order.order_id, model, row.campaign_id, row.channel, -rev_parts[i],
                                                 -mar_parts[i], refund.refunded_at, is_refund=True,
                                                 refund_id=refund.refund_id, touches=row.touches))
    return credits


T = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)

touch_st = st.builds(
    lambda i, seconds, channel, campaign: Touch(i, T - timedelta(seconds=seconds), channel, campaign),
    st.integers(1, 10_000),
    # Same instants on purpose (ties by id), microseconds, and touches after the order.
    st.one_of(st.sampled_from([0, 1, 3600, 86400]), st.integers(-2 * 86400, 45 * 86400)),
    st.sampled_from(["facebook", "whatsapp", "", "tasting"]),
    st.one_of(st.none(), st.integers(1, 3)),
)


@st.composite
def _orders(draw):
    revenue = draw(st.integers(0, 5_000_000))
    margin = draw(st.integers(-revenue - 10_000, revenue))
    amounts = draw(st.lists(st.integers(0, max(revenue, 1)), max_size=3))
    refunds = tuple(Refund(9 - i, a, T + timedelta(days=1 + i % 2)) for i, a in enumerate(amounts))
    said = draw(st.sampled_from(["", "facebook_page", "word_of_mouth"]))
    return OrderFacts(1, T, revenue, margin, said, refunds)


@settings(max_examples=400, deadline=None)
@given(order=_orders(), touches=st.lists(touch_st, max_size=10, unique_by=lambda t: t.touch_id),
       models=st.one_of(st.just(MODELS), st.lists(st.sampled_from(MODELS), min_size=1, max_size=6, unique=True)),
       half_life_hours=st.integers(1, 30 * 24), lookback_days=st.integers(1, 40))
def test_the_grouped_engine_gives_the_rows_of_the_original_one(order, touches, models, half_life_hours,
                                                               lookback_days):
    conf = Settings(lookback=timedelta(days=lookback_days), half_life=timedelta(hours=half_life_hours))
    assert engine.attribute_order(order, touches, models=models, settings=conf) == _reference(order, touches, models,
                                                                                              conf)


def test_integer_times_give_the_time_decay_weights_of_datetimes():
    window = [Touch(i, T - timedelta(seconds=s, microseconds=us), "facebook", 1)
              for i, (s, us) in enumerate([(86400 * 20, 7), (86400 * 3 + 5, 999_999), (1, 1), (0, 0)])]
    fast = [(engine.to_us(t.occurred_at), t.touch_id, t.channel, t.campaign_id) for t in window]
    half_life = timedelta(days=7, seconds=1)
    assert (engine._decay_weights(fast, half_life.total_seconds())
            == engine.integer_weights(engine.TIME_DECAY, window, T, half_life))
    # An hour's half-life: 20 days older weighs nothing, the youngest touch 2**53.
    assert engine._decay_weights(fast, 3600.0)[0] == 0
    assert engine._decay_weights(fast, 3600.0)[-1] == 2**53
    assert math.isclose(engine.to_us(T) / 1e6, T.timestamp())


# --- PostgreSQL: one transaction, a fresh table, the same rows ---------------------------------------------

def _on_postgres():
    if connection.vendor != "postgresql":
        pytest.skip("the full-table replacement is PostgreSQL's fast path")


def _rows():
    return sorted(((c.order_id, c.contact_id, c.model, c.campaign_id, c.channel, c.revenue_xaf, c.margin_xaf,
                    c.weight, c.touches, c.is_refund, c.refund_id, c.is_first_order, c.occurred_at)
                   for c in AttributionCredit.objects.all()), key=repr)


def _data():
    """A little of everything: touches in and out of the window, a coupon, a stated source (on the order, on
    the contact, on a capture form), refunds with and without the delivery fee, a cancelled order, a sample."""
    from api.campaigns.models import Touchpoint

    fb, tg, flyer = f.campaign("fb1", "facebook_ads"), f.campaign("tg1", "telegram"), f.campaign("fly1", "flyer")
    one, two, three, four = f.contact(), f.contact(source="Un ami"), f.contact(), f.contact()
    for days in (45, 20, 12, 5, 1):
        f.touch(one, f.at("2026-11-18") - timedelta(days=days), camp=fb if days % 2 else tg)
    f.touch(one, f.at("2026-11-18"), kind="tasting_visit", channel="in_person")
    f.touch(one, f.at("2026-11-17"), kind="fair_visit", channel="in_person", camp=tg)  # the campaign's channel wins
    f.touch(one, f.at("2026-11-16"), kind="referral", channel="messenger")
    f.touch(one, f.at("2026-11-19"), camp=fb)  # after the first order, before the second
    first = f.order(one, f.at("2026-11-18"), revenue=20_000, cost=8_000, fee=1_000)
    f.order(one, f.at("2026-11-25"), revenue=7_001, cost=9_000, coupon="fly1")
    f.refund(first, 5_000, f.at("2026-11-20"))
    f.refund(first, 30_000, f.at("2026-11-21"))
    f.order(two, f.at("2026-11-10"), revenue=3_000, source="Facebook")
    f.order(two, f.at("2026-11-12"), revenue=4_000, status="cancelled")
    f.order(two, f.at("2026-11-13"), revenue=0, is_sample=True)
    Touchpoint.objects.create(contact=three, channel="messenger", kind="self_reported_source",
                              occurred_at=f.at("2026-11-01"), details={"self_reported_source": "la foire"})
    f.touch(three, f.at("2026-11-02"), camp=flyer)
    f.order(three, f.at("2026-11-03"), revenue=9_999, cost=1)
    f.order(four, f.at("2026-11-03"), revenue=1_500)


@pytest.mark.django_db
def test_a_full_run_replaces_the_table_and_gives_the_rows_of_the_batches():
    _on_postgres()
    _data()
    table = AttributionCredit._meta.db_table

    def schema():
        with connection.cursor() as cursor:
            cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s ORDER BY 1", [table])
            indexes = cursor.fetchall()
            cursor.execute("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass "
                           "ORDER BY 1", [table])
            # The run's foreign key comes back NOT VALID (its rows are not checked: see table_swap_pg).
            return indexes, [(name, definition.removesuffix(" NOT VALID") if "(run_id)" in definition else definition)
                             for name, definition in cursor.fetchall()]

    before = schema()
    run = services.attribution_run(full=True)
    assert run.state == RunState.SUCCEEDED, run.error
    assert (run.contacts_processed, run.orders_processed) == (4, 5)
    assert run.credits_written == AttributionCredit.objects.count()
    full = _rows()
    assert schema() == before, "same indexes and constraints, under the same names"
    assert set(AttributionCredit.objects.values_list("run_id", flat=True)) == {run.pk}
    count = AttributionCredit.objects.count()
    assert sorted(AttributionCredit.objects.values_list("pk", flat=True)) == list(range(1, count + 1))
    with connection.cursor() as cursor:
        cursor.execute("SELECT cache_size FROM pg_sequences WHERE sequencename = %s", [f"{table}_id_seq"])
        assert cursor.fetchone() == (1,), "the sequence draws one value at a time again"
    # The per-contact batches (what an incremental run does) write exactly the same rows, numbered next.
    from api.contacts.models import Contact

    again = services.attribution_run(contact_ids=Contact.objects.values_list("pk", flat=True))
    assert again.state == RunState.SUCCEEDED, again.error
    assert _rows() == full
    assert min(AttributionCredit.objects.values_list("pk", flat=True)) == count + 1
    # And a second full run too (the table is replaced again); new credits still get ids.
    services.attribution_run(full=True)
    assert _rows() == full
    extra = AttributionCredit.objects.create(order_id=1, contact_id=1, model="linear", channel="x", revenue_xaf=1,
                                             margin_xaf=1, occurred_at=f.at("2026-11-01"))
    assert extra.pk > max(AttributionCredit.objects.exclude(pk=extra.pk).values_list("pk", flat=True))


@pytest.mark.django_db
def test_the_sql_reading_gives_the_facts_of_the_portable_reading():
    _on_postgres()
    _data()
    from api.contacts.models import Contact

    ids = list(Contact.objects.values_list("pk", flat=True))
    portable = list(credits.order_inputs(inputs.read_facts(ids)))
    assert len(portable) == 5
    assert list(credits.order_inputs(inputs.read_facts(None))) == portable  # everyone's
    assert list(credits.order_inputs(inputs_pg.read_facts(ids))) == portable  # windows looked up per order
    assert list(credits.order_inputs(inputs_pg.read_facts(None))) == portable  # one join over every touch
    channels = {touch[2] for inputs in portable for touch in inputs[7]}
    assert {"tasting", "telegram", "referral", "facebook_ads", "flyer"} <= channels


@pytest.mark.django_db
def test_a_full_run_that_fails_before_the_swap_leaves_the_old_credits(monkeypatch):
    _on_postgres()
    _data()
    services.attribution_run(full=True)
    before = _rows()
    from api.campaigns.models import Touchpoint

    Touchpoint.objects.all().delete()  # the next run would change many rows

    def killed(*args, **kwargs):
        raise RuntimeError("worker killed")

    monkeypatch.setattr(table_swap_pg, "swap_tables", killed)
    failed = services.attribution_run(full=True)
    assert failed.state == RunState.FAILED
    assert "worker killed" in failed.error
    assert _rows() == before, "old credits, not half of the new ones"
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [f"{AttributionCredit._meta.db_table}_next"])
        assert cursor.fetchone()[0] is None, "the fresh table went with the rolled-back transaction"


@pytest.mark.django_db(transaction=True)
def test_the_slices_read_on_a_second_connection_give_the_rows_of_one_read(monkeypatch):
    _on_postgres()
    _data()
    # Outside any transaction of the caller: the slices are read in a thread, one contact range at a time.
    slices = []

    class Reader(slices_pg.SliceReader):
        FIRST_SLICE = SLICE_ORDERS = 1  # a slice per contact here

        def __iter__(self):
            for part in super().__iter__():
                slices.append(len(part[0].orders))
                yield part

    monkeypatch.setattr(slices_pg, "SliceReader", Reader)
    run = services.attribution_run(full=True)
    assert run.state == RunState.SUCCEEDED, run.error
    assert len(slices) > 2
    assert sum(slices) == 5
    sliced = _rows()
    # Inside a transaction, everything is read at once on this connection.
    with transaction.atomic():
        services.attribution_run(full=True)
    assert _rows() == sliced
    assert (run.contacts_processed, run.orders_processed) == (4, 5)


@pytest.mark.django_db(transaction=True)
def test_a_reader_that_fails_fails_the_run_and_leaves_the_old_credits(monkeypatch):
    _on_postgres()
    _data()
    assert services.attribution_run(full=True).state == RunState.SUCCEEDED
    before = _rows()
    real_refunds = inputs_pg.read_refunds
    calls = []

    def lost_connection(cursor, sales):
        calls.append(sales)
        if len(calls) == 3:  # a later slice, read by either reader
            raise RuntimeError("reader lost its connection")
        return real_refunds(cursor, sales)

    class Reader(slices_pg.SliceReader):
        FIRST_SLICE = SLICE_ORDERS = 1

    monkeypatch.setattr(slices_pg, "SliceReader", Reader)
    monkeypatch.setattr(inputs_pg, "read_refunds", lost_connection)
    failed = services.attribution_run(full=True)
    assert failed.state == RunState.FAILED
    assert "reader lost its connection" in failed.error
    assert _rows() == before


@pytest.mark.parametrize("full", [True, False], ids=["full run", "batches"])
@pytest.mark.django_db(transaction=True)
def test_the_margin_counts_every_line_of_an_order_once(full):
    from api.orders.models import OrderLine

    person = f.contact()
    several = f.order(person, f.at("2026-11-18"), revenue=10_000, cost=1_000)
    OrderLine.objects.create(order=several, product=f.product(unit_cost=700), quantity=3, unit_price_xaf=0,
                             unit_cost_xaf=700, line_total_xaf=0)
    none = f.order(person, f.at("2026-11-19"), revenue=4_000, cost=500)
    OrderLine.objects.filter(order=none).delete()
    run = services.attribution_run(full=full)
    assert run.state == RunState.SUCCEEDED, run.error
    for model in MODELS:
        margins = {c.order_id: c.margin_xaf for c in AttributionCredit.objects.filter(model=model)}
        assert margins == {several.pk: 10_000 - 1_000 - 3 * 700, none.pk: 4_000}
