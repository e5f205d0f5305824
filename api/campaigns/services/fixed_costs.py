"""Fixed costs: the overheads of a week (staff pay, delivery, other) that no campaign carries.

The weekly report subtracts them after the ad costs to give the profit and ROI after overheads.
Staff type them (the API or the back office's weekly page); nothing syncs them.
"""

from __future__ import annotations

from datetime import date

from api.campaigns.enums import FixedCostKind
from api.campaigns.models import FixedCost
from api.campaigns.services._shared import UNSET, Unset, invalid
from api.common.businesstime import week_start

# A week's overhead above this is a typing slip (one more zero) rather than a cost of this business:
# 1,000,000,000 XAF is about 1.5 million euros a week.
MAX_FIXED_COST_XAF = 1_000_000_000


def _checked(kind: str, amount_xaf: int) -> None:
    if kind not in FixedCostKind.values:
        raise invalid("kind", f"{kind!r} is not one of {', '.join(FixedCostKind.values)}.", "invalid_choice")
    if amount_xaf < 0:
        raise invalid("amount_xaf", "A cost cannot be negative.", "min_value")
    if amount_xaf > MAX_FIXED_COST_XAF:
        raise invalid("amount_xaf", f"At most {MAX_FIXED_COST_XAF} XAF a week.", "max_value")


def fixed_cost_create(*, week: date, kind: str, amount_xaf: int, note: str = "") -> FixedCost:
    """Record an overhead of the week of ``week`` (any day of it: stored as its Monday). 400 on an
    unknown kind or a negative amount; nothing is written then."""
    _checked(kind, amount_xaf)
    return FixedCost.objects.create(week_start=week_start(week), kind=kind, amount_xaf=amount_xaf,
                                    note=(note or "")[:300])


def fixed_cost_update(*, cost: FixedCost, week: date | Unset = UNSET, kind: str | Unset = UNSET,
                      amount_xaf: int | Unset = UNSET, note: str | Unset = UNSET) -> FixedCost:
    """Change the given fields of an overhead (checked like on creation, all or nothing)."""
    new_kind = cost.kind if kind is UNSET else kind
    new_amount = cost.amount_xaf if amount_xaf is UNSET else amount_xaf
    _checked(new_kind, new_amount)
    cost.kind, cost.amount_xaf = new_kind, new_amount
    if week is not UNSET:
        cost.week_start = week_start(week)
    if note is not UNSET:
        cost.note = (note or "")[:300]
    cost.save()
    return cost


def fixed_cost_delete(*, cost: FixedCost) -> None:
    """Delete an overhead."""
    cost.delete()
