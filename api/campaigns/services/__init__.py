"""Writes of the campaigns app, one module per subdomain; this package re-exports what others call.

- ``campaigns``: campaigns (tracking codes unique among campaign and coupon codes);
- ``coupons``: coupons, their value and rules, and the discount they give an order (orders' resolver);
- ``costs``: manual costs and the ``samples`` cost of sample orders (the order listener);
- ``fixed_costs``: the overheads of a week (staff pay, delivery, other) the weekly report subtracts;
- ``money``: provider amounts to whole XAF;
- ``touchpoints``: touches of contacts, the capture form of tastings and fairs, link clicks;
- ``facebook_costs``: Facebook campaigns mapped to campaigns and their ``ads`` costs;
- ``facebook_sync``: the Graph API syncs of ad spend and Page audience, and the request to run them;

Every function validates before writing and raises ``ApplicationError`` (or a subclass) with a
field path; writes that belong together run in one transaction.
"""

from api.campaigns.services._shared import UNSET
from api.campaigns.services.campaigns import (
    campaign_create,
    campaign_delete,
    campaign_update,
)
from api.campaigns.services.costs import (
    cost_create,
    cost_delete,
    cost_update,
    messaging_cost_set,
    order_event_listener,
    sample_cost_record,
)
from api.campaigns.services.coupons import (
    REFERRAL_REWARD_CAMPAIGN_CODE,
    coupon_create,
    coupon_discount,
    coupon_update,
    reward_coupon_create,
)
from api.campaigns.services.facebook_costs import (
    ADS_COST_KEY,
    ads_costs_recompute,
    facebook_campaign_map,
    facebook_claims_apply,
)
from api.campaigns.services.facebook_sync import (
    facebook_ads_sync,
    facebook_page_sync,
    facebook_sync_request,
)
from api.campaigns.services.fixed_costs import (
    fixed_cost_create,
    fixed_cost_delete,
    fixed_cost_update,
)
from api.campaigns.services.money import to_xaf
from api.campaigns.services.touchpoints import (
    CaptureResult,
    capture_submit,
    link_click_record,
    touchpoint_record,
    touchpoints_record_bulk,
)

__all__ = [
    "ADS_COST_KEY",
    "REFERRAL_REWARD_CAMPAIGN_CODE",
    "UNSET",
    "CaptureResult",
    "ads_costs_recompute",
    "campaign_create",
    "campaign_delete",
    "campaign_update",
    "capture_submit",
    "cost_create",
    "cost_delete",
    "cost_update",
    "coupon_create",
    "coupon_discount",
    "coupon_update",
    "facebook_ads_sync",
    "facebook_campaign_map",
    "facebook_claims_apply",
    "facebook_page_sync",
    "facebook_sync_request",
    "fixed_cost_create",
    "fixed_cost_delete",
    "fixed_cost_update",
    "link_click_record",
    "messaging_cost_set",
    "order_event_listener",
    "reward_coupon_create",
    "sample_cost_record",
    "to_xaf",
    "touchpoint_record",
    "touchpoints_record_bulk",
]
