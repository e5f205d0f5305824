"""Referral rewards: the referrer earns one when a referred contact's first order is delivered.

A discount reward is a real coupon: a single-use coupon of the campaigns app (in its referral rewards
campaign, so that the order it pays is attributed to referrals) that only the referrer may use: this
app tells orders who holds each reward code (``reward_coupon_holder``, registered with
``api.orders.coupons.register_coupon_holder`` in ``AttributionConfig.ready``). The referrer is told
through the contacts app's referral reward hook, which nurture listens to (attribution and nurture may
not import each other): ``contacts.services.referral_reward_announce``.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from django.db import IntegrityError, transaction

from api.attribution import conf
from api.attribution.enums import RewardKind
from api.attribution.models import ReferralReward
from api.attribution.services import inputs
from api.campaigns.services import reward_coupon_create
from api.contacts.services import ReferralRewardNotice, contact_event_record, referral_reward_announce

# Reward coupon codes read "AMB-" (ambassador) and 6 hex digits.
REWARD_CODE_PREFIX = "AMB-"


def _reward_code() -> str:
    """A fresh reward code, ``AMB-`` and 6 hex digits (about 16 million: the coupon is single-use and
    refused to anyone but its holder, so guessing one gains nothing)."""
    return f"{REWARD_CODE_PREFIX}{secrets.token_hex(3).upper()}"


def referral_reward_grant(*, order_id: int) -> ReferralReward | None:
    """Reward the referrer when ``order_id`` is the referred contact's first delivered order.

    One reward per referred contact (unique row): a replayed event grants nothing more, and a
    concurrent grant that lost the race leaves no coupon behind (one savepoint holds the coupon, the
    reward, the timeline event and the message queued by the announce hook). The reward is a personal
    single-use discount coupon for the referrer's next order, or points (``REFERRAL_REWARD_KIND``).
    A contact recorded as their own referrer earns nothing.
    """
    order = inputs.referral_order(order_id)
    if order is None or order["referred_by_id"] is None or order["is_sample"] or not order["delivered"]:
        return None
    referrer_id = order["referred_by_id"]
    friend_id = order["contact_id"]
    if referrer_id == friend_id or inputs.first_delivered_order(friend_id) != order_id:
        return None
    if ReferralReward.objects.filter(referred_id=friend_id).exists():
        return None
    kind = conf.REFERRAL_REWARD_KIND if conf.REFERRAL_REWARD_KIND in RewardKind.values else RewardKind.DISCOUNT
    discount = kind == RewardKind.DISCOUNT
    try:
        with transaction.atomic():
            code = ""
            if discount:
                coupon = reward_coupon_create(
                    draw_code=_reward_code, percent=conf.REFERRAL_DISCOUNT_PERCENT,
                    description=f"Referral reward of contact #{referrer_id} (friend #{friend_id})")
                code = coupon.code
            reward = ReferralReward.objects.create(
                referred_id=friend_id, referrer_id=referrer_id, order_id=order_id, kind=kind, code=code,
                discount_percent=conf.REFERRAL_DISCOUNT_PERCENT if discount else 0,
                points=conf.REFERRAL_POINTS if kind == RewardKind.POINTS else 0)
            what = (f"discount code {reward.code} (-{reward.discount_percent} %)" if discount
                    else f"{reward.points} points")
            contact_event_record(contact_id=referrer_id, kind="referral_reward",
                                 summary=f"Earned {what}: a referred friend's first order was delivered",
                                 data={"referred_id": friend_id, "order_id": order_id, "reward_id": reward.pk})
            referral_reward_announce(ReferralRewardNotice(
                reward_id=reward.pk, referrer_id=referrer_id, friend_id=friend_id, order_id=order_id,
                coupon_code=reward.code, discount_percent=reward.discount_percent, points=reward.points))
    except IntegrityError:
        if ReferralReward.objects.filter(referred_id=friend_id).exists():
            return None  # a concurrent delivery of the same event granted it first
        raise
    return reward


def referral_reward_mark_redeemed(*, coupon_code: str, at: datetime) -> bool:
    """Stamp ``redeemed_at`` on the reward whose coupon ``coupon_code`` was used on an order that was delivered; True when a reward was stamped now (idempotent: a replay stamps nothing). Orders let
    only the holder (or the survivor of their merge) use the coupon, so the code alone names the reward."""
    code = (coupon_code or "").strip().upper()
    if not code.startswith(REWARD_CODE_PREFIX):
        return False  # not a reward code: spare the lookup on every delivered order
    return bool(ReferralReward.objects.filter(code=code, kind=RewardKind.DISCOUNT, redeemed_at__isnull=True)
                .update(redeemed_at=at))


def reward_coupon_holder(code: str) -> int | None:
    """The referrer who holds the reward coupon ``code`` (any case), or None when it is no reward's code.
    Registered with ``api.orders.coupons.register_coupon_holder``: nobody else may use the coupon."""
    return (ReferralReward.objects.filter(code=code.strip().upper(), kind=RewardKind.DISCOUNT)
            .exclude(code="").values_list("referrer_id", flat=True).first())
