"""One week of the demo data, checked by hand against the weekly ROI report (last-touch model).

This is the check a newcomer can redo with the API (README, "Checking one week by hand"): for
each order of the week, take the customer's last touch in the 30 days before it (a touchpoint,
or a coupon / campaign code typed on an order, at that order's time); the order's net revenue
(total minus delivery fee) goes to that touch's channel (its campaign's channel, else the
touch's own). An order without any touch goes to what the customer said brought them, else to
``unknown``. A channel's cost is the sum of its campaigns' cost rows dated in the week; its new
customers are the orders that were the customer's first; ROAS = revenue / cost and
CAC = cost / new customers. Nothing below calls the attribution code, except the table that maps
what a customer said ("Publicité Facebook") to a channel.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.utils import timezone

from api.attribution.engine import normalize_source
from api.campaigns.models import Campaign, CampaignCost, Coupon, Touchpoint
from api.orders.models import Order, Refund

pytestmark = pytest.mark.django_db

DOUALA = ZoneInfo("Africa/Douala")
KIND_CHANNEL = {"tasting_visit": "tasting", "fair_visit": "fair", "referral": "referral"}


def _hand_check(monday):
    start = datetime.combine(monday, time(), DOUALA)
    end = start + timedelta(days=7)
    counted = Order.objects.exclude(status="cancelled").filter(is_sample=False)
    code_channel = {c.code.upper(): c.channel for c in Campaign.objects.all()}
    code_channel.update({c.code.upper(): c.campaign.channel for c in Coupon.objects.select_related("campaign")
                         if c.code.upper() not in code_channel})

    revenue, new_customers = defaultdict(int), defaultdict(int)
    for order in counted.filter(created_at__gte=start, created_at__lt=end):
        placed = order.created_at
        earlier = counted.filter(contact_id=order.contact_id).order_by("created_at", "id")
        touches = []  # (time, id, channel): the latest wins, touchpoints after codes at the same time
        for other in earlier:
            for typed in (other.coupon_code, other.campaign_code):  # the coupon first
                if (typed or "").strip().upper() in code_channel:
                    touches.append((other.created_at, -other.pk, code_channel[typed.strip().upper()]))
                    break
        for touch in Touchpoint.objects.filter(contact_id=order.contact_id).exclude(kind="self_reported_source") \
                .select_related("campaign"):
            channel = (touch.campaign.channel if touch.campaign else "") or KIND_CHANNEL.get(touch.kind) or \
                touch.channel
            touches.append((touch.occurred_at, touch.pk, channel))
        in_window = [t for t in touches if placed - timedelta(days=30) <= t[0] <= placed]
        if in_window:
            channel = max(in_window)[2]
        else:
            said = ""
            for tp in Touchpoint.objects.filter(contact_id=order.contact_id, kind="self_reported_source") \
                    .select_related("campaign").order_by("occurred_at", "pk"):
                said = normalize_source(str((tp.details or {}).get("self_reported_source")
                                            or (tp.campaign.channel if tp.campaign else "") or tp.channel)) or said
            channel = (normalize_source(order.self_reported_source or "")
                       or normalize_source(order.contact.self_reported_source or "") or said or "unknown")
        revenue[channel] += max(order.total_xaf - order.delivery_fee_xaf, 0)
        if earlier.first().pk == order.pk:
            new_customers[channel] += 1

    cost = defaultdict(int)
    for row in CampaignCost.objects.filter(day__gte=monday, day__lt=monday + timedelta(days=7)) \
            .select_related("campaign"):
        cost[row.campaign.channel] += row.amount_xaf
    return cost, revenue, new_customers


def test_the_weekly_report_of_a_demo_week_agrees_with_a_hand_check(staff_client):
    call_command("seed_demo", verbosity=0)
    this_monday = timezone.localdate(timezone=DOUALA) - timedelta(days=timezone.localdate(timezone=DOUALA).weekday())
    # The latest complete week with Facebook ad spend, Facebook-credited orders and no refund (a refund
    # would show as a negative credit in the week it was made, which this check leaves out).
    for back in range(1, 20):
        monday = this_monday - timedelta(weeks=back)
        start = datetime.combine(monday, time(), DOUALA)
        if Refund.objects.filter(created_at__gte=start, created_at__lt=start + timedelta(days=7)).exists():
            continue
        cost, revenue, new_customers = _hand_check(monday)
        if cost["facebook_ads"] and revenue["facebook_ads"]:
            break
    else:
        pytest.fail("the demo has no week with Facebook ad spend, Facebook orders and no refund")

    report = staff_client.get("/api/v1/reports/weekly", {"week": monday.isoformat(), "model": "last_touch"}).json()
    rows = {row["channel"]: row for row in report["rows"]}
    for channel in set(cost) | set(revenue):
        row = rows[channel]
        assert (row["cost_xaf"], row["revenue_xaf"], row["new_customers"]) == \
            (cost[channel], revenue[channel], new_customers[channel]), channel
    facebook = rows["facebook_ads"]
    assert facebook["roas"] == round(revenue["facebook_ads"] / cost["facebook_ads"], 2)
    if new_customers["facebook_ads"]:
        assert facebook["cac_xaf"] == round(cost["facebook_ads"] / new_customers["facebook_ads"])
