"""The CRM indicators of the plan's French texts, in pure arithmetic (no Django): each function's
docstring is the indicator's definition (the README copies them).

A week is ``[start, end)`` in business time (Monday 00:00 Africa/Douala to the next Monday, or to
now for the week in progress). A **sale** is the orders app's (not cancelled, not a free sample); its
**net amount** is the order total after discounts and coupons, less the delivery fee (what the
customer paid for the goods). ``H`` is ``LTV_CHURN_AFTER_DAYS`` (180 days by default): the silence
after which a customer counts as lost, the same as the LTV method's (``api.attribution.ltv``).
Every rate is ``None`` when its denominator is zero: "nobody to measure" is not 0 %.

``tests/attribution/test_indicators.py`` checks each one on a demo week computed by hand.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

#: The yearly decay of a customer file the French texts quote ("15 à 25 % par an").
DECAY_REFERENCE_LOW = 0.15
DECAY_REFERENCE_HIGH = 0.25
#: What a response to a campaign's message is: the person wrote, opened the bot or clicked a tracked link.
RESPONSE_WINDOW_DAYS = 7

def rate(numerator: float, denominator: float, digits: int = 4) -> float | None:
    """``numerator / denominator`` rounded to ``digits``; None when the denominator is zero."""
    return round(numerator / denominator, digits) if denominator else None


def average_basket(*, net_xaf: int, sales: int) -> int | None:
    """**Average basket** (panier moyen) = net amount of the week's sales / number of the week's sales,
    in XAF (rounded to the unit)."""
    return round(net_xaf / sales) if sales else None


def purchase_frequency(*, sales: int, customers: int) -> float | None:
    """**Purchase frequency** (fréquence d'achat) = sales placed in the 365 days before the end of the
    week / the customers who placed them: orders per customer over the last 12 months."""
    return rate(sales, customers, 2)


@dataclass(frozen=True)
class CustomerFlows:
    """Customers entering, leaving and coming back in one week (see ``customer_flows``)."""

    new_customers: int
    active_at_start: int
    lost: int
    lapsed_at_start: int
    reactivated: int

    @property
    def attrition_rate(self) -> float | None:
        """**Attrition rate** (taux d'attrition) = customers lost during the week / customers active at
        its start. Active at the start: a customer whose last sale before the week is at most ``H`` days
        old. Lost during the week: one of them whose ``H`` days of silence end inside the week
        (last sale + ``H`` < end of the week) without a sale in between."""
        return rate(self.lost, self.active_at_start)

    @property
    def reactivation_rate(self) -> float | None:
        """**Reactivation rate** (taux de réactivation) = customers who ordered in the week after more
        than ``H`` days without a sale / customers already lost at the start of the week (a sale before,
        none in the ``H`` days before the week)."""
        return rate(self.reactivated, self.lapsed_at_start)


def customer_flows(customers: Iterable[tuple[datetime | None, datetime | None]], start: datetime,
                   end: datetime, *, churn_days: int) -> CustomerFlows:
    """New, active, lost, lapsed and reactivated customers of the week ``[start, end)``; ``churn_days`` is
    ``H``. ``customers`` holds, for every contact with a sale before ``end``, ``(their last sale before
    the week, their first sale in the week)``, either None. A new customer placed their first sale ever
    in the week."""
    silence = timedelta(days=churn_days)
    new = active = lost = lapsed = reactivated = 0
    for last, first_during in customers:
        if last is None:
            new += 1 if first_during is not None else 0
            continue
        if last >= start - silence:
            active += 1
            # Lost when the silence runs out inside the week with no sale before it ran out.
            runs_out = last + silence
            if runs_out < end and (first_during is None or first_during > runs_out):
                lost += 1
        else:
            lapsed += 1
            reactivated += 1 if first_during is not None else 0
    return CustomerFlows(new_customers=new, active_at_start=active, lost=lost, lapsed_at_start=lapsed,
                         reactivated=reactivated)


def prospect_conversion_rate(*, new_customers: int, new_prospects: int) -> float | None:
    """**Prospect → customer conversion rate** (taux de conversion) = new customers of the week (first
    sale ever) / new prospects of the week (lifecycle moves to ``prospect``): a flow ratio, like the
    funnel's; it can pass 100 % in a week where people who became prospects earlier buy."""
    return rate(new_customers, new_prospects)


def response_rates(recipients: Mapping[int, Mapping[int, datetime]],
                   replies: Mapping[int, Sequence[datetime]],
                   *, window_days: int = RESPONSE_WINDOW_DAYS) -> dict[int, dict[str, float | int | None]]:
    """**Response rate per campaign** (taux de réponse) = contacts who wrote, opened the bot or clicked
    a tracked link within ``window_days`` (7) after the first message of the campaign they received in
    the week / contacts who received one. ``recipients``: ``{campaign_id: {contact_id: first sent at}}``;
    ``replies``: ``{contact_id: [when they wrote / clicked]}``."""
    window = timedelta(days=window_days)
    out: dict[int, dict[str, float | int | None]] = {}
    for campaign_id, people in recipients.items():
        answered = sum(1 for contact, sent in people.items()
                       if any(sent < at <= sent + window for at in replies.get(contact, ())))
        out[campaign_id] = {"recipients": len(people), "responders": answered,
                            "response_rate": rate(answered, len(people))}
    return out


def click_through(clicks: int, impressions: int | None, recipients: int | None) -> dict[str, float | None]:
    """**Click-through per tracked link** (taux de clic) = clicks on the campaign's tracked link
    (``link_click`` touches) / Facebook impressions of the campaign's ads when they are known
    (``click_through_rate``), and / people who received the campaign's messages when known
    (``clicks_per_recipient``)."""
    return {"click_through_rate": rate(clicks, impressions or 0),
            "clicks_per_recipient": rate(clicks, recipients or 0)}


def file_decay(*, base: int, unreachable: int, stale: int) -> dict[str, float | int | None]:
    """**Decay of the customer file** (dégradation du fichier) = contacts of the file 12 months before
    the end of the week (live, created before then) that in those 12 months became unreachable or
    opted out, or went stale (no touch and no order in the 12 months) / those contacts. The French
    texts expect 15 to 25 % a year; ``within_reference`` says whether the file is in that band."""
    share = rate(unreachable + stale, base)
    return {"base": base, "unreachable": unreachable, "stale": stale, "decay_rate": share,
            "reference_low": DECAY_REFERENCE_LOW, "reference_high": DECAY_REFERENCE_HIGH,
            "within_reference": None if share is None else DECAY_REFERENCE_LOW <= share <= DECAY_REFERENCE_HIGH}


def top_category(spend: Mapping[str, int]) -> str:
    """**Type of purchase** (the T of FRAT): the product category a customer spent most on (``syrup``,
    ``liqueur``, ``other`` from the product's kind, ``gift_box`` for a coffret); ties go to the first in
    alphabetical order; ``""`` without any line."""
    if not spend:
        return ""
    return min(spend, key=lambda category: (-spend[category], category))
