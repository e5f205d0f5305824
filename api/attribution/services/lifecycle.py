"""Lifecycle moves decided from orders, feedback and referrals, and the sweep of silent contacts.

The stage itself is the contacts app's: it is moved through ``contact_set_lifecycle_stage``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from api.attribution import conf
from api.attribution.services import inputs
from api.contacts.enums import LifecycleStage
from api.contacts.services import contact_set_lifecycle_stage

# Stages in the order a contact climbs them: an automatic move never goes down this list.
_RANK: list[str] = [LifecycleStage.SUSPECT, LifecycleStage.PROSPECT, LifecycleStage.INACTIVE,
                    LifecycleStage.CUSTOMER, LifecycleStage.REPEAT_CUSTOMER, LifecycleStage.AMBASSADOR]
_SWEEP_LIMIT = 5000  # contacts made inactive per sweep at most; the next sweep takes the rest


def lifecycle_update_from_orders(*, contact_id: int) -> str | None:
    """Move the contact's stage from the facts: 1 delivered order -> customer, 2 -> repeat customer,
    a repeat customer who brought a buyer (or rated >= 4 and shared their link) -> ambassador.

    Never moves a contact down (an ambassador stays one) and leaves a stage staff set by hand
    (``contact_set_lifecycle_stage`` ignores automatic moves then). Returns the stage asked for.
    """
    contact = inputs.contact_stage(contact_id)
    if contact is None or contact[1]:
        return None
    delivered = inputs.delivered_order_count(contact_id)
    if delivered == 0:
        return None
    target, reason = LifecycleStage.CUSTOMER, "first order delivered"
    if delivered >= 2:
        target, reason = LifecycleStage.REPEAT_CUSTOMER, f"{delivered} orders delivered"
        if inputs.brought_a_buyer(contact_id):
            target, reason = LifecycleStage.AMBASSADOR, "brought a friend who bought"
        elif inputs.gave_good_feedback(contact_id) and inputs.shared_referral_link(contact_id):
            target, reason = LifecycleStage.AMBASSADOR, "rated us 4+ and shared their link"
    current = contact[0]
    if current == target or (current in _RANK and _RANK.index(current) > _RANK.index(target)):
        return None
    contact_set_lifecycle_stage(contact_id=contact_id, stage=target.value, reason=reason, automatic=True)
    return target.value


def lifecycle_sweep_inactive(*, now: datetime | None = None) -> int:
    """Make contacts inactive after ``LIFECYCLE_INACTIVE_AFTER_DAYS`` without an order or a reply.

    A reply is an inbound touchpoint (message, bot start, ad referral); staff-locked stages and
    contacts already inactive are left alone. Returns how many moved. Idempotent.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(days=conf.INACTIVE_AFTER_DAYS)
    ids = inputs.silent_contacts(cutoff, _SWEEP_LIMIT)
    for contact_id in ids:
        contact_set_lifecycle_stage(contact_id=contact_id, stage=LifecycleStage.INACTIVE.value,
                                    reason=f"no order and no reply for {conf.INACTIVE_AFTER_DAYS} days")
    return len(ids)
