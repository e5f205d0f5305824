"""Attribution's reactions to order events: lifecycle moves and referral rewards.

Credits are not recomputed here: they follow on the next incremental run, through the order's
``updated_at``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone

from api.attribution.services import inputs
from api.attribution.services.lifecycle import lifecycle_update_from_orders
from api.attribution.services.referrals import referral_reward_grant, referral_reward_mark_redeemed
from api.orders.enums import OrderEventKind, OrderStatus
from api.orders.events import OrderEvent

# Kinds of order events after which the contact's stage may move (besides a delivery).
_STAGE_KINDS = (OrderEventKind.FEEDBACK, OrderEventKind.STATUS_CHANGED)
# Kinds of order events attribution reacts to at all (besides a delivery).
_HANDLED_KINDS = (OrderEventKind.STATUS_CHANGED, OrderEventKind.FEEDBACK, OrderEventKind.REFUNDED)


def order_event_handle(*, kind: str, order_id: int, contact_id: int, status: str, coupon_code: str = "",
                       occurred_at: datetime | None = None) -> dict[str, Any]:
    """React to an order event: lifecycle moves and referral rewards (credits follow via the watermark).
    A delivered order paid with a referrer's reward coupon marks the reward redeemed.

    Idempotent: a stage never moves down and one reward is granted per referred contact.
    """
    result: dict[str, Any] = {}
    delivered = status == OrderStatus.DELIVERED
    if delivered or kind in _STAGE_KINDS:
        result["stage"] = lifecycle_update_from_orders(contact_id=contact_id)
    if delivered:
        if coupon_code:
            result["reward_redeemed"] = referral_reward_mark_redeemed(coupon_code=coupon_code,
                                                                      at=occurred_at or timezone.now())
        reward = referral_reward_grant(order_id=order_id)
        result["reward_id"] = reward.pk if reward else None
        # The referrer may now be an ambassador (they brought a buyer).
        referrer = inputs.referrer_of(contact_id)
        if referrer:
            result["referrer_stage"] = lifecycle_update_from_orders(contact_id=referrer)
    return result


def order_event_listener(event: OrderEvent) -> None:
    """Registered with ``api.orders.events``: runs after the order's transaction committed.

    Lifecycle and rewards are a few indexed queries, so they run inline (like the other apps'
    listeners); samples are ignored.
    """
    if event.is_sample:
        return
    if event.kind in _HANDLED_KINDS or event.status == OrderStatus.DELIVERED:
        order_event_handle(kind=event.kind, order_id=event.order_id, contact_id=event.contact_id,
                           status=event.status, coupon_code=event.coupon_code, occurred_at=event.occurred_at)
