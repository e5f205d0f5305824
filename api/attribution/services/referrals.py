"""Referral rewards: the referrer earns one when a referred contact's first order is delivered."""

from __future__ import annotations

import secrets

from django.db import transaction

from api.attribution import conf
from api.attribution.enums import RewardKind
from api.attribution.models import ReferralReward
from api.attribution.services import inputs
from api.contacts.services import contact_event_record


def referral_reward_grant(*, order_id: int) -> ReferralReward | None:
    """Reward the referrer when ``order_id`` is the referred contact's first delivered order.

    One reward per referred contact (unique row): a replayed event grants nothing more.
    The reward is a discount code for the referrer's next order or points (``REFERRAL_REWARD_KIND``).
    """
    order = inputs.referral_order(order_id)
    if order is None or order["referred_by_id"] is None or order["is_sample"] or not order["delivered"]:
        return None
    if inputs.first_delivered_order(order["contact_id"]) != order_id:
        return None
    referrer_id = order["referred_by_id"]
    kind = conf.REFERRAL_REWARD_KIND if conf.REFERRAL_REWARD_KIND in RewardKind.values else RewardKind.DISCOUNT
    with transaction.atomic():
        reward, created = ReferralReward.objects.get_or_create(
            referred_id=order["contact_id"],
            defaults={"referrer_id": referrer_id, "order_id": order_id, "kind": kind,
                      "code": f"AMB-{secrets.token_hex(3).upper()}" if kind == RewardKind.DISCOUNT else "",
                      "discount_percent": conf.REFERRAL_DISCOUNT_PERCENT if kind == RewardKind.DISCOUNT else 0,
                      "points": conf.REFERRAL_POINTS if kind == RewardKind.POINTS else 0})
        if created:
            what = (f"discount code {reward.code} (-{reward.discount_percent} %)" if kind == RewardKind.DISCOUNT
                    else f"{reward.points} points")
            contact_event_record(contact_id=referrer_id, kind="referral_reward",
                                 summary=f"Earned {what}: a referred friend's first order was delivered",
                                 data={"referred_id": order["contact_id"], "order_id": order_id,
                                       "reward_id": reward.pk})
    return reward if created else None
