"""Coupons: their codes (unique among campaign and coupon codes), their value and rules, and the
discount they give an order, which orders asks for through ``api.orders.coupons`` (registered in
``CampaignsConfig.ready``).

The rules, in the order an order is judged (the first that fails names the refusal):

1. the code is a coupon of this app (else ``None``: another resolver may know it, or it is ``unknown``);
2. it is switched on and its last day has not passed (``expired``), its first day has come
   (``not_started``): days of the business time zone, both included;
3. the buyer is of its segment (``wrong_segment``);
4. with products or gift boxes named, the order holds one of them (``no_eligible_product``);
5. the goods total (delivery fee left out) reaches its minimum (``below_minimum``);
6. fewer orders than its limits used it, in all (``used_up``) and by this customer (``used_up_for_customer``):
   orders not cancelled, counted under the coupon's row lock so that two orders cannot both take the
   last use.

The discount is ``value`` percent of the eligible lines, rounded down to the franc, or ``value`` XAF
within them; orders caps the whole discount at the goods total.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from django.db import IntegrityError, transaction

from api.campaigns.enums import CampaignChannel, CampaignObjective, CampaignStatus, CouponKind
from api.campaigns.models import Campaign, Coupon
from api.campaigns.services._shared import UNSET, Unset, invalid
from api.campaigns.services.campaigns import check_code, check_code_free, code_taken
from api.common.businesstime import business_localtime
from api.common.errors import ConflictError
from api.contacts.enums import Segment
from api.contacts.selectors import contact_segments
from api.orders.coupons import (
    CouponDiscount,
    CouponRefused,
    CouponRequest,
    catalog_ids_missing,
    coupon_uses,
)

# Amounts live in 32-bit integer columns on PostgreSQL; no coupon is worth more than an order may be.
MAX_COUPON_XAF = 1_000_000_000
# The campaign that holds the personal reward coupons of referrers (made on the first reward), so that
# orders paid with them are attributed to referrals.
REFERRAL_REWARD_CAMPAIGN_CODE = "PARRAINAGE"
# A drawn reward code that is already some campaign's or coupon's is drawn again, this many times.
_REWARD_CODE_ATTEMPTS = 5
_RULE_FIELDS = ("kind", "value", "minimum_order_xaf", "starts_on", "ends_on", "max_uses", "max_uses_per_customer",
                "segment", "product_ids", "gift_box_ids")


def _ids(values: Any, field_name: str) -> list[int]:
    if not isinstance(values, list | tuple) or not all(isinstance(x, int) and not isinstance(x, bool) and x > 0
                                                       for x in values):
        raise invalid(field_name, "A list of catalog ids.")
    return sorted(set(values))


def _check_rules(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` (every rule field) checked and normalised; a 400 naming the first wrong field."""
    if values["kind"] not in CouponKind.values:
        raise invalid("kind", f"{values['kind']!r} is not one of {', '.join(CouponKind.values)}.", "invalid_choice")
    value = values["value"]
    if not isinstance(value, int) or value < 0:
        raise invalid("value", "Must be zero or more.", "min_value")
    if values["kind"] == CouponKind.PERCENT and value > 100:
        raise invalid("value", "A percentage is at most 100.", "max_value")
    if value > MAX_COUPON_XAF:
        raise invalid("value", f"At most {MAX_COUPON_XAF} XAF.", "max_value")
    if not 0 <= values["minimum_order_xaf"] <= MAX_COUPON_XAF:
        raise invalid("minimum_order_xaf", f"Between 0 and {MAX_COUPON_XAF} XAF.", "invalid")
    if values["starts_on"] and values["ends_on"] and values["ends_on"] < values["starts_on"]:
        raise invalid("ends_on", "The coupon cannot end before it starts.")
    for name in ("max_uses", "max_uses_per_customer"):
        if values[name] is not None and values[name] < 1:
            raise invalid(name, "At least 1, or leave it empty for no limit.", "min_value")
    values["segment"] = values["segment"] or ""
    if values["segment"] and values["segment"] not in Segment.values:
        raise invalid("segment", f"{values['segment']!r} is not one of {', '.join(Segment.values)}.",
                      "invalid_choice")
    values["product_ids"] = _ids(values["product_ids"], "product_ids")
    values["gift_box_ids"] = _ids(values["gift_box_ids"], "gift_box_ids")
    missing_products, missing_boxes = catalog_ids_missing(product_ids=values["product_ids"],
                                                          gift_box_ids=values["gift_box_ids"])
    if missing_products:
        raise invalid("product_ids", f"No product #{missing_products[0]}.", "does_not_exist")
    if missing_boxes:
        raise invalid("gift_box_ids", f"No gift box #{missing_boxes[0]}.", "does_not_exist")
    return values


def coupon_create(*, campaign: Campaign, code: str, description: str = "", active: bool = True,
                  kind: str = CouponKind.PERCENT, value: int = 0, minimum_order_xaf: int = 0,
                  starts_on: date | None = None, ends_on: date | None = None, max_uses: int | None = None,
                  max_uses_per_customer: int | None = None, segment: str = "",
                  product_ids: Sequence[int] = (), gift_box_ids: Sequence[int] = ()) -> Coupon:
    """Create a coupon of ``campaign``; its code is unique among campaign and coupon codes (409).

    ``kind`` and ``value``: ``percent`` (0 to 100) or ``fixed`` XAF; a value of 0 makes a coupon that
    only tracks its campaign. The other rules are optional (see the module docstring); a wrong one
    is a 400 naming its field.
    """
    normalized = check_code(code)
    rules = _check_rules({"kind": kind, "value": value, "minimum_order_xaf": minimum_order_xaf,
                          "starts_on": starts_on, "ends_on": ends_on, "max_uses": max_uses,
                          "max_uses_per_customer": max_uses_per_customer, "segment": segment,
                          "product_ids": list(product_ids), "gift_box_ids": list(gift_box_ids)})
    check_code_free(normalized)
    try:
        with transaction.atomic():
            return Coupon.objects.create(campaign=campaign, code=normalized, description=description or "",
                                         active=active, **rules)
    except IntegrityError:
        raise code_taken(normalized) from None


def _referral_reward_campaign() -> Campaign:
    """The campaign of referral rewards, created the first time (a concurrent creation is found again)."""
    found = Campaign.objects.filter(code=REFERRAL_REWARD_CAMPAIGN_CODE).first()
    if found is not None:
        return found
    try:
        with transaction.atomic():
            return Campaign.objects.create(code=REFERRAL_REWARD_CAMPAIGN_CODE, name="Parrainage : récompenses",
                                           channel=CampaignChannel.REFERRAL, objective=CampaignObjective.CONVERT,
                                           status=CampaignStatus.ACTIVE,
                                           notes="Single-use coupons earned by referrers (made by attribution).")
    except IntegrityError:
        return Campaign.objects.get(code=REFERRAL_REWARD_CAMPAIGN_CODE)


def reward_coupon_create(*, draw_code: Callable[[], str], percent: int, description: str = "") -> Coupon:
    """A single-use coupon of ``percent`` off the goods, in the referral rewards campaign: the reward of
    a referrer. ``draw_code`` makes a candidate code; one already taken by a campaign or coupon is drawn
    again. Who may use it is the caller's to say (``api.orders.coupons.register_coupon_holder``): this
    app's coupons have no holder of their own."""
    campaign = _referral_reward_campaign()
    for _attempt in range(_REWARD_CODE_ATTEMPTS):
        try:
            return coupon_create(campaign=campaign, code=draw_code(), description=description[:200],
                                 kind=CouponKind.PERCENT, value=percent, max_uses=1, max_uses_per_customer=1)
        except ConflictError:
            continue
    raise ConflictError("No free code could be drawn for the reward coupon; try again.", code="code_taken")


def coupon_update(*, coupon: Coupon, description: str | None = None, active: bool | None = None,
                  kind: str | Unset = UNSET, value: int | Unset = UNSET, minimum_order_xaf: int | Unset = UNSET,
                  starts_on: date | None | Unset = UNSET, ends_on: date | None | Unset = UNSET,
                  max_uses: int | None | Unset = UNSET, max_uses_per_customer: int | None | Unset = UNSET,
                  segment: str | Unset = UNSET, product_ids: Sequence[int] | Unset = UNSET,
                  gift_box_ids: Sequence[int] | Unset = UNSET) -> Coupon:
    """Change a coupon's description, rules or value, or switch it off; its code never changes (it is
    printed). The given rules are checked with the others, as on creation. Orders already taken keep
    their discount."""
    given: dict[str, Any] = {
        "kind": kind, "value": value, "minimum_order_xaf": minimum_order_xaf, "starts_on": starts_on,
        "ends_on": ends_on, "max_uses": max_uses, "max_uses_per_customer": max_uses_per_customer,
        "segment": segment, "product_ids": product_ids, "gift_box_ids": gift_box_ids}
    changes = {k: (list(v) if k.endswith("_ids") else v) for k, v in given.items() if v is not UNSET}
    rules = _check_rules({**{f: getattr(coupon, f) for f in _RULE_FIELDS}, **changes})
    with transaction.atomic():
        coupon = Coupon.objects.select_for_update().select_related("campaign").get(pk=coupon.pk)
        if description is not None:
            coupon.description = description
        if active is not None:
            coupon.active = active
        for name in changes:
            setattr(coupon, name, rules[name])
        coupon.save()
    return coupon


def coupon_discount(request: CouponRequest) -> CouponDiscount | None:
    """The discount of the coupon ``request.code`` on an order, or None when no coupon has that code.

    Raises ``CouponRefused`` naming the first rule the order breaks (module docstring). Assumes the
    order's transaction: the coupon row stays locked until it ends, so the uses counted here cannot
    be taken by a concurrent order before this one commits.
    """
    coupon = Coupon.objects.select_for_update().filter(code=request.code).first()
    if coupon is None:
        return None
    day = business_localtime(request.at).date()
    if not coupon.active or (coupon.ends_on is not None and day > coupon.ends_on):
        raise CouponRefused("expired")
    if coupon.starts_on is not None and day < coupon.starts_on:
        raise CouponRefused("not_started")
    if coupon.segment and contact_segments([request.contact_id]).get(request.contact_id) != coupon.segment:
        raise CouponRefused("wrong_segment")
    lines = request.lines
    if coupon.product_ids or coupon.gift_box_ids:
        products, boxes = set(coupon.product_ids), set(coupon.gift_box_ids)
        lines = tuple(line for line in lines if line.product_id in products or line.gift_box_id in boxes)
        if not lines:
            raise CouponRefused("no_eligible_product")
    if request.goods_total_xaf < coupon.minimum_order_xaf:
        raise CouponRefused("below_minimum")
    if coupon.max_uses is not None and coupon_uses(code=coupon.code) >= coupon.max_uses:
        raise CouponRefused("used_up")
    if (coupon.max_uses_per_customer is not None
            and coupon_uses(code=coupon.code, contact_id=request.contact_id) >= coupon.max_uses_per_customer):
        raise CouponRefused("used_up_for_customer")
    eligible_xaf = sum(line.line_total_xaf for line in lines)
    if coupon.kind == CouponKind.PERCENT:
        discount = eligible_xaf * coupon.value // 100
    else:
        discount = min(coupon.value, eligible_xaf)
    return CouponDiscount(code=coupon.code, discount_xaf=discount)
