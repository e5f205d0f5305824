"""Referral codes typed by a friend: wherever a code is typed (bot deep link, m.me ref, wa.me text,
an order's coupon field, a fair capture, staff), the friend gets ``referred_by`` set to the
ambassador who owns the code, once, without self-referral or loops.

The read side (which contact a typed code names, and whether it may refer a given contact) is
``selectors.referral_code_check``; this module writes.

It also carries the news of a referral reward from the app that grants it (attribution) to the app
that tells people things (nurture): those two stand side by side and may not import each other, so
both use this lower layer. Attribution calls ``referral_reward_announce`` in the transaction that grants
the reward; nurture registers a listener (``register_referral_reward_listener`` in its ``ready()``)
that queues the message to the referrer in that same transaction: the reward and its message commit
together or not at all, and the listener's idempotency key makes a replay send nothing more.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from api.common.errors import NotFoundError
from api.common.hooks import Hooks
from api.contacts.selectors import ReferralRefusal, referral_code_check, referral_code_normalize
from api.contacts.services._base import contact_resolve, event_add

logger = logging.getLogger(__name__)

# Where a referral code was typed; stored on the timeline events of both contacts.
REFERRAL_VIA = ("telegram_start", "messenger_ref", "whatsapp_text", "order_coupon", "partner_order",
                "fair_capture", "staff")


def referral_code_apply(*, contact_id: int, code: str, via: str, actor: Any = None) -> bool:
    """Make the owner of the referral code ``code`` the referrer of ``contact_id``.

    The typed code is normalised (case, spaces, dashes, an optional printed prefix such as ``AMB`` or
    ``REF-``). When the contact has no referrer yet, ``referred_by`` is set and an event is recorded on
    both timelines (``referred`` on the friend, ``referral_made`` on the ambassador) with ``via``: where
    the code was typed. Returns True when ``referred_by`` was set.

    Returns False, and changes nothing, for an unknown code, a contact that already has a referrer
    (the same one included: idempotent), a code typed by its own owner, a loop (the ambassador was,
    directly or through a chain, referred by this contact), or an unknown, merged or erased contact.
    Never raises for those: callers on inbound paths (bot, webhooks) must not fail on a bad code.
    The contact row is locked, so two simultaneous codes leave exactly one referrer.
    """
    if not referral_code_normalize(code):
        return False
    try:
        with transaction.atomic():
            contact = contact_resolve(contact_id)  # locks the row: one referrer even under races
            if contact.erased_at:
                return False
            check = referral_code_check(contact_id=contact.pk, code=code)
            if check.refusal is not None or check.referrer_id is None or check.already:
                return False
            contact.referred_by_id = check.referrer_id
            contact.save(update_fields=["referred_by", "updated_at"])
            data = {"via": via, "code": check.code, "referrer_id": check.referrer_id, "friend_id": contact.pk}
            event_add(contact, "referred", f"Referred by contact #{check.referrer_id} with code {check.code} "
                      f"({via})", data, actor=actor)
            event_add(check.referrer_id, "referral_made", f"Referred contact #{contact.pk} with their code "
                      f"({via})", data, actor=actor)
            return True
    except NotFoundError:  # no such contact (or gone meanwhile): nothing to refer
        logger.info("referral code typed for unknown contact %s (via %s)", contact_id, via)
        return False


@dataclass(frozen=True)
class ReferralRewardNotice:
    """A referrer earned a reward: the friend ``friend_id``'s first order ``order_id`` was delivered.
    ``coupon_code`` (with ``discount_percent``) is their personal single-use coupon, or ``points`` were
    credited instead. ``reward_id`` is unique per reward: the key of anything done about it."""

    reward_id: int
    referrer_id: int
    friend_id: int
    order_id: int
    coupon_code: str = ""
    discount_percent: int = 0
    points: int = 0


ReferralRewardListener = Callable[[ReferralRewardNotice], None]
_REWARD_LISTENERS: Hooks[ReferralRewardListener] = Hooks("A referral reward listener")


def register_referral_reward_listener(key: str, listener: ReferralRewardListener) -> None:
    """Call ``listener`` with every referral reward announced from now on (in the granting transaction).
    Registering the same pair twice is a no-op; another listener under a taken key is a configuration error."""
    _REWARD_LISTENERS.register(key, listener)


def unregister_referral_reward_listener(key: str) -> None:
    """Forget the listener under ``key`` (tests)."""
    _REWARD_LISTENERS.unregister(key)


def referral_reward_announce(notice: ReferralRewardNotice) -> None:
    """Tell every registered listener that a referrer earned a reward. Runs in the caller's transaction;
    a listener that fails makes the caller fail (and its reward roll back), to be tried again whole."""
    for listener in list(_REWARD_LISTENERS.values()):
        listener(notice)


__all__ = [
    "REFERRAL_VIA",
    "ReferralRefusal",
    "ReferralRewardListener",
    "ReferralRewardNotice",
    "referral_code_apply",
    "referral_reward_announce",
    "register_referral_reward_listener",
    "unregister_referral_reward_listener",
]
