"""Customer lifetime value (LTV) and what a customer costs to acquire: the method, in pure arithmetic.

**The method** (the reports API gives it in ``method``; ``tests/attribution/test_ltv_method.py``
checks it on customers computed by hand). For a group of customers (everyone, a segment, an
acquisition channel), from the credits of their counted orders (not cancelled, not samples):

1. **Net revenue** is what the customers paid for the goods: the order total after coupons, less
   the delivery fee, less refunds. **Margin** is net revenue less the products' unit costs (and the
   delivery cost above the fee charged, see ``ATTRIBUTION_DELIVERY_COST_XAF``).
2. **Average order value** (AOV) = net revenue / orders.
3. **Customer-years**: each customer counts as a customer from their first order until ``H`` days
   after their last one (``H`` = ``LTV_CHURN_AFTER_DAYS``, 180 by default: the silence after which
   the lifecycle calls a contact inactive). Their sum over the group, in years of 365.25 days.
4. **Orders per year** (purchase frequency) = orders / customer-years.
5. **Lost customers** are those whose last order is more than ``H`` days old. **Annual churn rate**
   = lost customers / customer-years (customers lost per customer-year).
6. **Expected lifetime** = 1 / annual churn rate, in years, kept between a floor of ``H`` (a
   customer is never known lost sooner; the estimate cannot in fact go below it) and a ceiling of
   ``LTV_MAX_LIFETIME_YEARS`` (3 by default), which also applies while no customer is lost yet.
7. **LTV** = AOV x orders per year x expected lifetime; **margin LTV** = the same with the average
   margin per order (LTV x margin / net revenue).
8. **Never below what the group has already spent**: LTV is at least the net revenue per customer
   so far, margin LTV at least the margin per customer so far (``ltv_floor_applied`` says when).

Between the bounds, steps 2 to 7 reduce to *net revenue / lost customers*: a group whose customers
are all lost is worth exactly what it spent, and one with customers still buying is worth more.

**Acquisition cost**, under the attribution model of the report (all costs and first orders so far):

- CAC of a channel = the channel's costs / its new customers (first orders attributed to it; a
  shared first order counts in fractions).
- CAC of a segment = the CAC of the channels that brought its new customers, averaged with the
  weight of each first order: a channel's costs are shared between segments in proportion to the
  new customers it brought in each; costs that brought nobody belong to no segment.
- CAC overall = every cost / every new customer.
- **LTV:CAC** (``ltv_to_cac``) = margin LTV / CAC: the margin is what pays for acquisition (about 3
  is the usual healthy mark); ``revenue_ltv_to_cac`` = LTV / CAC.
- **LTV net of acquisition cost** ("LTV nette du coût d'acquisition") = LTV - CAC
  (``ltv_net_of_cac_xaf``); ``margin_ltv_net_of_cac_xaf`` = margin LTV - CAC is what a new customer
  leaves once the products and their own acquisition are paid.

A customer's acquisition channel (for the per-channel LTV) is the channel with the largest share of
their first order under the model (ties: the first channel in alphabetical order).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

DAYS_PER_YEAR = 365.25

LTV_METHOD = (
    "LTV = average order value x orders per year x expected lifetime, in net revenue (after coupons and "
    "refunds, without delivery fees) and in margin. Average order value = net revenue / orders. Each customer "
    "counts as one from their first order until {h} days after their last (customer-years); orders per year = "
    "orders / customer-years. A customer is lost after {h} days without an order; annual churn = lost "
    "customers / customer-years; expected lifetime = 1 / annual churn, between {floor} and {ceiling} years "
    "(the ceiling while nobody is lost yet). LTV is never below the net revenue per customer so far, margin "
    "LTV never below the margin per customer so far. CAC = costs / new customers (first orders attributed "
    "under the model); a segment's CAC averages the CAC of the channels that brought its new customers. "
    "LTV:CAC = margin LTV / CAC; LTV net of acquisition cost = LTV - CAC (and margin LTV - CAC)."
)


def method_text(*, churn_after_days: int, max_lifetime_years: float) -> str:
    """``LTV_METHOD`` with its parameters filled in, as the report states it."""
    return LTV_METHOD.format(h=churn_after_days, floor=round(churn_after_days / DAYS_PER_YEAR, 2),
                             ceiling=max_lifetime_years)


@dataclass(frozen=True)
class CustomerValue:
    """One customer's counted orders: first and last order time, how many, net revenue and margin."""

    contact_id: int
    first_order_at: datetime
    last_order_at: datetime
    orders: int
    revenue_xaf: int
    margin_xaf: int


@dataclass(frozen=True)
class Ltv:
    """The LTV of a group of customers and every step of its computation (see the module's method)."""

    customers: int
    orders: int
    revenue_xaf: int
    margin_xaf: int
    average_order_value_xaf: float | None
    orders_per_year: float | None
    lifetime_years: float | None
    ltv_xaf: int | None
    margin_ltv_xaf: int | None
    revenue_per_customer_xaf: int | None = None
    margin_per_customer_xaf: int | None = None
    lost_customers: int = 0
    customer_years: float | None = None
    annual_churn_rate: float | None = None
    lifetime_bound: str | None = None  # "floor" or "ceiling" when the lifetime was bounded
    ltv_floor_applied: bool = False  # LTV raised to what the group has already spent


def is_lost(customer: CustomerValue, now: datetime, churn_after_days: float) -> bool:
    """More than ``churn_after_days`` since the customer's last order."""
    return (now - customer.last_order_at).total_seconds() > churn_after_days * 86400


def customer_years(customer: CustomerValue, churn_after_days: float) -> float:
    """From the first order to ``churn_after_days`` after the last one, in years."""
    span_days = (customer.last_order_at - customer.first_order_at).total_seconds() / 86400
    return (span_days + churn_after_days) / DAYS_PER_YEAR


def ltv(customers: Sequence[CustomerValue], now: datetime, churn_after_days: int = 180,
        max_lifetime_years: float = 3.0) -> Ltv:
    """The LTV of a group of customers as of ``now`` (see the module's method); empty figures without customers."""
    if not customers:
        return Ltv(0, 0, 0, 0, None, None, None, None, None)
    n = len(customers)
    orders = sum(c.orders for c in customers)
    revenue = sum(c.revenue_xaf for c in customers)
    margin = sum(c.margin_xaf for c in customers)
    years = sum(customer_years(c, churn_after_days) for c in customers)
    lost = sum(1 for c in customers if is_lost(c, now, churn_after_days))
    churn = lost / years
    floor = churn_after_days / DAYS_PER_YEAR
    lifetime = 1 / churn if churn else max_lifetime_years
    bound = None
    if lifetime >= max_lifetime_years:
        lifetime, bound = max_lifetime_years, "ceiling"
    elif lifetime <= floor:
        lifetime, bound = floor, "floor"
    aov = revenue / orders if orders else 0.0
    per_year = orders / years
    formula = aov * per_year * lifetime
    margin_formula = formula * margin / revenue if revenue else 0.0
    spent, margin_spent = revenue / n, margin / n
    value = round(max(formula, spent))
    return Ltv(n, orders, revenue, margin, round(aov, 2), round(per_year, 3), round(lifetime, 3), value,
               round(max(margin_formula, margin_spent)), round(spent), round(margin_spent), lost, round(years, 3),
               round(churn, 4), bound, formula < spent)


def tenure_days(customer: CustomerValue, now: datetime) -> int:
    """Whole days since the customer's first order."""
    return max(0, (now - customer.first_order_at).days)


# --- acquisition cost ---------------------------------------------------------------------------------


def _ratio(numerator: float, denominator: float, digits: int) -> float | None:
    return round(numerator / denominator, digits) if denominator else None


def acquisition_figures(value: Ltv, *, cost_xaf: int, new_customers: float) -> dict[str, Any]:
    """CAC, LTV:CAC and LTV net of acquisition cost of a group (see the module's method).

    Every figure that divides by the CAC or subtracts it is None without a CAC (no new customer, or
    no cost: "acquired for free" is not "infinitely profitable").
    """
    cac = _ratio(cost_xaf, new_customers, 0)
    figures: dict[str, Any] = {"cost_xaf": int(cost_xaf), "new_customers": round(new_customers, 2), "cac_xaf": cac,
                               "ltv_to_cac": None, "revenue_ltv_to_cac": None, "ltv_net_of_cac_xaf": None,
                               "margin_ltv_net_of_cac_xaf": None}
    if cac and value.ltv_xaf is not None and value.margin_ltv_xaf is not None:
        figures.update(ltv_to_cac=_ratio(value.margin_ltv_xaf, cac, 2), revenue_ltv_to_cac=_ratio(value.ltv_xaf, cac, 2),
                       ltv_net_of_cac_xaf=round(value.ltv_xaf - cac),
                       margin_ltv_net_of_cac_xaf=round(value.margin_ltv_xaf - cac))
    return figures


def segment_acquisition(first_orders: Iterable[tuple[int, str, float]], segment_of: Mapping[int, str],
                        costs: Mapping[str, int], unknown: str = "unknown") -> dict[str, tuple[float, float]]:
    """``{segment: (acquisition cost allotted, new customers)}``.

    ``first_orders`` are ``(contact_id, channel, weight)`` shares of first orders under the model. Each
    channel's cost is shared between segments in proportion to the new customers it brought in each, so
    a segment's cost / its new customers is its new customers' channel CAC averaged by weight.
    """
    per_channel: dict[str, float] = defaultdict(float)
    per_segment_channel: dict[tuple[str, str], float] = defaultdict(float)
    for contact_id, channel, weight in first_orders:
        per_channel[channel] += weight
        per_segment_channel[(segment_of.get(contact_id, unknown), channel)] += weight
    out: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for (segment, channel), weight in per_segment_channel.items():
        out[segment][0] += (costs.get(channel) or 0) * weight / per_channel[channel]
        out[segment][1] += weight
    return {segment: (cost, new) for segment, (cost, new) in out.items()}
