"""Pure report arithmetic (no Django): ROI ratios, RFM quintiles and groups, LTV, cohort months.

Every ratio is ``None`` when its denominator is zero: "no cost" is not "infinite ROAS". Business
weeks and the business time zone come from ``api.common.businesstime``; the functions here that need
the zone take it as an argument.
"""

from __future__ import annotations

import bisect
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

# The LTV method has its own module; its names stay reachable here for the callers of ``metrics``.
from api.attribution.ltv import LTV_METHOD, CustomerValue, Ltv, ltv, tenure_days  # noqa: F401


def ratio(numerator: float, denominator: float, digits: int = 2) -> float | None:
    """``numerator / denominator`` rounded to ``digits``, None when the denominator is zero."""
    return round(numerator / denominator, digits) if denominator else None


@dataclass(frozen=True)
class Roi:
    roas: float | None
    roi: float | None
    cac: float | None
    margin_rate: float | None
    break_even_revenue_xaf: int | None


def roi_figures(*, cost: int, revenue: int, margin: int, new_customers: float) -> Roi:
    """ROAS = revenue / cost; ROI = (margin - cost) / cost; CAC = cost / new customers.

    Break-even revenue: the revenue at which the margin earned pays the cost, at this row's
    margin rate (cost / (margin / revenue)); None when the row earns no positive margin.
    """
    margin_rate = margin / revenue if revenue else None
    break_even = round(cost / margin_rate) if margin_rate and margin_rate > 0 else None
    return Roi(
        roas=ratio(revenue, cost),
        roi=ratio(margin - cost, cost),
        cac=ratio(cost, new_customers, 0) if new_customers else None,
        margin_rate=round(margin_rate, 4) if margin_rate is not None else None,
        break_even_revenue_xaf=break_even,
    )


def change(current: float | None, previous: float | None) -> float | None:
    """Relative change (0.25 = +25 %); None without a previous value."""
    if current is None or not previous:
        return None
    return round((current - previous) / abs(previous), 4)


def median(values: Sequence[float]) -> float | None:
    return float(statistics.median(values)) if values else None


# --- RFM -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RfmFacts:
    contact_id: int
    recency_days: int
    frequency: int
    monetary_xaf: int


@dataclass(frozen=True)
class Rfm:
    contact_id: int
    recency_days: int
    frequency: int
    monetary_xaf: int
    r: int
    f: int
    m: int
    group: str


def quintile(value: float, ordered: Sequence[float]) -> int:
    """Score 1-5 of ``value`` among ``ordered`` (ascending): 5 for the top fifth.

    Equal values share the score of their first position, so ties never split across scores.
    """
    n = len(ordered)
    if n == 0:
        return 1
    position = bisect.bisect_left(ordered, value)
    return min(5, 1 + (5 * position) // n)


def rfm_group(r: int, f: int, m: int) -> str:
    """A named group from the R and F scores (the usual RFM segment grid)."""
    if r >= 4 and f >= 4:
        return "champions"
    if r >= 3 and f >= 4:
        return "loyal"
    if r >= 4 and f == 1:
        return "new"
    if r >= 4 and f <= 3:
        return "potential_loyalist" if f >= 2 else "promising"
    if r == 3 and f <= 3:
        return "need_attention" if f >= 2 else "promising"
    if r <= 2 and f >= 4:
        return "cannot_lose" if m >= 4 else "at_risk"
    if r <= 2 and f == 3:
        return "at_risk"
    return "hibernating"


def rfm_scores(facts: Sequence[RfmFacts]) -> list[Rfm]:
    """Quintile scores: recent (fewer days) scores high, frequent and big spenders score high."""
    recency = sorted(-f.recency_days for f in facts)
    frequency = sorted(f.frequency for f in facts)
    monetary = sorted(f.monetary_xaf for f in facts)
    out = []
    for item in facts:
        r = quintile(-item.recency_days, recency)
        f = quintile(item.frequency, frequency)
        m = quintile(item.monetary_xaf, monetary)
        out.append(Rfm(item.contact_id, item.recency_days, item.frequency, item.monetary_xaf, r, f, m,
                       rfm_group(r, f, m)))
    return out


# --- cohorts (LTV lives in api/attribution/ltv.py, re-exported above) ---------------------------------------


def cohort_month(moment: datetime, tz: ZoneInfo) -> date:
    """The first day of ``moment``'s month in the time zone ``tz``."""
    local = moment.astimezone(tz)
    return date(local.year, local.month, 1)


def months_between(start: date, end: date) -> int:
    return (end.year - start.year) * 12 + end.month - start.month
