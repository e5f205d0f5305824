"""The LTV report: lifetime value overall, per segment and per acquisition channel, with LTV:CAC.

The method is :mod:`api.attribution.ltv`'s; this module reads what it needs: the credits (attribution's
own rows: every model gives an order the same total, so the first-touch rows are summed), and through
``report_inputs`` the contacts' segments and cards and the campaigns' costs.
``api.attribution.selectors.ltv_report`` checks the model and calls :func:`ltv_report_build`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db.models import Count, Max, Min, Q, Sum
from django.utils import timezone

from api.attribution import conf, engine, report_inputs
from api.attribution import ltv as method
from api.attribution.models import AttributionCredit

UNKNOWN_SEGMENT = "unknown"


def customer_values(contact_ids: Iterable[int] | None = None) -> list[method.CustomerValue]:
    """Every customer's counted orders, net revenue and margin (refunds deducted), from the credits."""
    qs = AttributionCredit.objects.filter(model=engine.FIRST_TOUCH)
    if contact_ids is not None:
        qs = qs.filter(contact_id__in=list(contact_ids))
    rows = (qs.values("contact_id")
            .annotate(first=Min("occurred_at", filter=Q(is_refund=False)),
                      last=Max("occurred_at", filter=Q(is_refund=False)),
                      orders=Count("order_id", filter=Q(is_refund=False), distinct=True),
                      revenue=Sum("revenue_xaf"), margin=Sum("margin_xaf"))
            .order_by())
    return [method.CustomerValue(r["contact_id"], r["first"], r["last"], r["orders"], int(r["revenue"] or 0),
                                 int(r["margin"] or 0)) for r in rows if r["first"] is not None]


def first_order_shares(model: str) -> list[tuple[int, str, float]]:
    """``(contact_id, channel, weight)`` of every share of a first order under ``model`` (refunds left out)."""
    return list(AttributionCredit.objects.filter(model=model, is_first_order=True, is_refund=False)
                .values_list("contact_id", "channel", "weight").order_by())


def acquisition_channels(shares: Iterable[tuple[int, str, float]]) -> dict[int, str]:
    """The channel each customer was acquired by: the largest share of their first order."""
    best: dict[int, tuple[float, str]] = {}
    for contact_id, channel, weight in shares:
        current = best.get(contact_id)
        # Ties go to the channel first in alphabetical order: deterministic.
        if current is None or weight > current[0] or (weight == current[0] and channel < current[1]):
            best[contact_id] = (weight, channel)
    return {cid: channel for cid, (_, channel) in best.items()}


def _group_row(name: str, group: list[method.CustomerValue], now: datetime, *, cost_xaf: float,
               new_customers: float) -> dict[str, Any]:
    value = method.ltv(group, now, churn_after_days=conf.LTV_CHURN_AFTER_DAYS,
                       max_lifetime_years=conf.LTV_MAX_LIFETIME_YEARS)
    row: dict[str, Any] = {
        "name": name, "customers": value.customers, "orders": value.orders, "revenue_xaf": value.revenue_xaf,
        "margin_xaf": value.margin_xaf, "average_order_value_xaf": value.average_order_value_xaf,
        "orders_per_year": value.orders_per_year, "lifetime_years": value.lifetime_years,
        "ltv_xaf": value.ltv_xaf, "margin_ltv_xaf": value.margin_ltv_xaf,
        "revenue_per_customer_xaf": value.revenue_per_customer_xaf,
        "margin_per_customer_xaf": value.margin_per_customer_xaf, "lost_customers": value.lost_customers,
        "customer_years": value.customer_years, "annual_churn_rate": value.annual_churn_rate,
        "lifetime_bound": value.lifetime_bound, "ltv_floor_applied": value.ltv_floor_applied,
    }
    row.update(method.acquisition_figures(value, cost_xaf=round(cost_xaf), new_customers=new_customers))
    return row


def ltv_report_build(*, model: str, limit: int = 50, now: datetime | None = None) -> dict[str, Any]:
    """LTV overall, per segment and per acquisition channel, each with its CAC, LTV:CAC and LTV net of
    acquisition cost, and the ``limit`` customers who spent the most; as of ``now``.

    ``model`` (already checked) decides the acquisition channels and the new customers of each channel.
    """
    now = now or timezone.now()
    customers = customer_values()
    shares = first_order_shares(model)
    segments = report_inputs.contact_segments(sorted({c.contact_id for c in customers}
                                                     | {contact_id for contact_id, _, _ in shares}))
    channels = acquisition_channels(shares)
    per_segment: dict[str, list[method.CustomerValue]] = defaultdict(list)
    per_channel: dict[str, list[method.CustomerValue]] = defaultdict(list)
    for c in customers:
        per_segment[segments.get(c.contact_id, UNKNOWN_SEGMENT)].append(c)
        per_channel[channels.get(c.contact_id, engine.UNKNOWN_CHANNEL)].append(c)
    costs = report_inputs.costs_per_channel()
    new_per_channel: dict[str, float] = defaultdict(float)
    for _, channel, weight in shares:
        new_per_channel[channel] += weight
    segment_costs = method.segment_acquisition(shares, segments, costs, unknown=UNKNOWN_SEGMENT)

    overall = _group_row("all", customers, now, cost_xaf=sum(costs.values()),
                         new_customers=sum(new_per_channel.values()))
    segment_rows = [_group_row(name, group, now, cost_xaf=segment_costs.get(name, (0.0, 0.0))[0],
                               new_customers=segment_costs.get(name, (0.0, 0.0))[1])
                    for name, group in sorted(per_segment.items())]
    channel_rows = [_group_row(name, per_channel.get(name, []), now, cost_xaf=costs.get(name) or 0,
                               new_customers=new_per_channel.get(name, 0.0))
                    for name in sorted(set(per_channel) | set(costs))]

    top = sorted(customers, key=lambda c: (-c.revenue_xaf, c.contact_id))[:max(1, min(limit, 500))]
    names = report_inputs.contact_cards([c.contact_id for c in top])
    top_rows = []
    for c in top:
        info: dict[str, Any] = dict(names.get(c.contact_id, {}))
        years = max(method.tenure_days(c, now), 30) / method.DAYS_PER_YEAR
        top_rows.append({
            "contact_id": c.contact_id,
            "name": info.get("name") or " ".join(p for p in (info.get("first_name"), info.get("last_name")) if p),
            "segment": info.get("segment", UNKNOWN_SEGMENT),
            "acquisition_channel": channels.get(c.contact_id, engine.UNKNOWN_CHANNEL),
            "orders": c.orders, "revenue_xaf": c.revenue_xaf, "margin_xaf": c.margin_xaf,
            "orders_per_year": round(c.orders / years, 2), "tenure_days": method.tenure_days(c, now),
            "first_order_at": c.first_order_at, "last_order_at": c.last_order_at,
            "lost": method.is_lost(c, now, conf.LTV_CHURN_AFTER_DAYS),
        })
    return {
        "model": model,
        "method": method.method_text(churn_after_days=conf.LTV_CHURN_AFTER_DAYS,
                                     max_lifetime_years=conf.LTV_MAX_LIFETIME_YEARS),
        "parameters": {"as_of": now, "churn_after_days": conf.LTV_CHURN_AFTER_DAYS,
                       "min_lifetime_years": round(conf.LTV_CHURN_AFTER_DAYS / method.DAYS_PER_YEAR, 3),
                       "max_lifetime_years": conf.LTV_MAX_LIFETIME_YEARS},
        "overall": overall, "segments": segment_rows, "channels": channel_rows, "customers": top_rows,
    }
