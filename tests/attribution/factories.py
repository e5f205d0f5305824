"""Small builders for attribution tests: rows written directly, with the times a test needs."""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

DOUALA = ZoneInfo("Africa/Douala")
_seq = itertools.count(1)


def at(day: str, hour: int = 10, minute: int = 0) -> datetime:
    """A Douala wall-clock time as an aware datetime: ``at("2026-11-18", 10)``."""
    y, m, d = (int(p) for p in day.split("-"))
    return datetime(y, m, d, hour, minute, tzinfo=DOUALA)


def contact(*, created: datetime | None = None, referred_by=None, segment: str = "unknown", source: str = "",
            stage: str = "suspect", locked: bool = False):
    from api.contacts.models import Contact

    n = next(_seq)
    person = Contact.objects.create(name=f"Contact {n}", referral_code=f"T{n:06d}", segment=segment,
                                    self_reported_source=source, referred_by=referred_by, lifecycle_stage=stage,
                                    lifecycle_stage_locked=locked)
    if created is not None:
        Contact.objects.filter(pk=person.pk).update(created_at=created)
        person.created_at = created
    return person


def campaign(code: str, channel: str):
    from api.campaigns.models import Campaign

    return Campaign.objects.create(name=code.title(), code=code.upper(), channel=channel, status="active")


def cost(camp, day: str, amount: int, kind: str = "ads"):
    from api.campaigns.models import CampaignCost

    return CampaignCost.objects.create(campaign=camp, day=date.fromisoformat(day), kind=kind, amount_xaf=amount)


def touch(person, when: datetime, *, camp=None, channel: str = "messenger", kind: str = "ad_referral"):
    from api.campaigns.models import Touchpoint

    return Touchpoint.objects.create(contact=person, campaign=camp, channel=channel, kind=kind, occurred_at=when)


def product(unit_cost: int = 0, price: int = 1000):
    from api.orders.models import Product

    n = next(_seq)
    return Product.objects.create(sku=f"SKU-{n}", name=f"Syrup {n}", price_xaf=price, unit_cost_xaf=unit_cost)


def order(person, when: datetime, *, revenue: int, cost: int = 0, fee: int = 0, status: str = "delivered",
          coupon: str = "", source: str = "", is_sample: bool = False):
    """An order whose net revenue (total - delivery fee) is ``revenue`` and whose lines cost ``cost``."""
    from api.orders.models import Order, OrderLine

    n = next(_seq)
    made = Order.objects.create(
        number=f"CF-T-{n:06d}", contact=person, status=status, subtotal_xaf=revenue, delivery_fee_xaf=fee,
        total_xaf=revenue + fee, created_at=when, coupon_code=coupon, self_reported_source=source,
        is_sample=is_sample, delivered_at=when if status in ("delivered", "refunded") else None)
    OrderLine.objects.create(order=made, product=product(unit_cost=cost, price=revenue), quantity=1,
                             unit_price_xaf=revenue, unit_cost_xaf=cost, line_total_xaf=revenue)
    return made


def refund(made, amount: int, when: datetime):
    from django.utils import timezone

    from api.orders.models import Order, Refund

    row = Refund.objects.create(order=made, amount_xaf=amount, created_at=when)
    Order.objects.filter(pk=made.pk).update(refunded_xaf=made.refunded_xaf + amount, status="refunded",
                                            updated_at=timezone.now())
    return row


def rfm_customers(now: datetime):
    """A champion (five orders over four months), a sleeper (one small order 300 days ago) and three
    customers of one order 100 days ago; returns the champion and the sleeper."""
    best = contact()
    for days in (2, 30, 60, 90, 120):
        order(best, now - timedelta(days=days), revenue=20_000)
    sleeper = contact()
    order(sleeper, now - timedelta(days=300), revenue=1_000)
    for _ in range(3):
        order(contact(), now - timedelta(days=100), revenue=5_000)
    return best, sleeper


def full_run():
    """A full recompute inside the test's transaction, which must succeed."""
    from django.db import connection

    from api.attribution import services
    from api.attribution.enums import RunState

    if connection.vendor == "postgresql":
        # The test's transaction still holds the deferred foreign key checks of the rows earlier runs
        # wrote: PostgreSQL will not drop the credit table under them (in production each run commits).
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    run = services.attribution_run(full=True)
    assert run.state == RunState.SUCCEEDED, run.error
    return run
