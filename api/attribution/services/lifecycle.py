"""Lifecycle moves: the rules of :mod:`.lifecycle_rules` applied to a contact, to the contacts who engaged,
and the nightly sweep of silent contacts.

The stage itself is the contacts app's: it is moved through ``contact_set_lifecycle_stage``, which
writes the move and its reason on the contact's timeline (the funnel counts those moves).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from api.attribution import conf
from api.attribution.services import inputs
from api.attribution.services import lifecycle_rules as rules
from api.contacts.enums import LifecycleStage
from api.contacts.services import contact_set_lifecycle_stage

_SWEEP_LIMIT = 5000  # contacts made inactive per sweep at most; the next sweep takes the rest
_ENGAGED_BATCH = 500  # contacts whose engaging touches are read in one query
_ENGAGED_MAX = 50_000  # contacts looked at per engagement pass at most; the next pass takes the rest


def lifecycle_update(*, contact_id: int, now: datetime | None = None,
                     engagements: Sequence[inputs.TouchFact] | None = None) -> str | None:
    """Move the contact to the stage the rules give (``lifecycle_rules.RULES``), with the rule's reason on
    the timeline, dated when the rule's fact happened; return the stage moved to, or None when the contact stays.

    Never moves a contact down, never moves a stage staff set by hand, and takes a contact out of
    ``inactive`` only on a recent sign of life (``lifecycle_rules.may_move``). The contact's row is locked
    while the facts are read, so a concurrent move (an order delivered while a message arrives) cannot
    cross this one. ``engagements``: the contact's engaging touches when the caller read them for a batch.
    Idempotent: a second call finds the contact at its stage.
    """
    now = now or timezone.now()
    with transaction.atomic():
        state = inputs.contact_stage_for_update(contact_id)
        if state is None or state[1]:
            return None
        facts = rules.ContactFacts(contact_id, now=now, engagements=engagements)
        decided = rules.stage_from_facts(facts)
        if decided is None or not rules.may_move(state[0], decided.stage, facts):
            return None
        reason, at = decided.reason, decided.at
        if state[0] == LifecycleStage.INACTIVE:
            reason += rules.BACK_FROM_INACTIVE
            at = rules.back_from_inactive_at(decided, facts)
        # Dated at the fact, not at this pass (``contact_set_lifecycle_stage`` keeps it between the
        # previous move and now): the weekly funnel counts the move in the fact's week.
        contact_set_lifecycle_stage(contact_id=contact_id, stage=decided.stage, reason=reason, automatic=True,
                                    at=at)
        return decided.stage


def lifecycle_update_from_orders(*, contact_id: int) -> str | None:
    """:func:`lifecycle_update` after an order event (a delivery, feedback, a status change): the order
    rules are the ones that may now hold (1 delivered order -> customer, 2 -> repeat customer, a repeat
    customer who brought a buyer, or rated us well and shared their link -> ambassador)."""
    return lifecycle_update(contact_id=contact_id)


def lifecycle_engagements_apply(*, now: datetime | None = None, every_touch: bool = False) -> int:
    """Move the contacts still ``suspect`` or ``inactive`` who engaged (``lifecycle_rules.ENGAGING_KINDS``
    in the last ``LIFECYCLE_INACTIVE_AFTER_DAYS``): a suspect who wrote becomes a prospect, an inactive
    customer who wrote is a customer again. Returns how many moved.

    By default only touches written in the last ``LIFECYCLE_RECENT_HOURS`` are looked at (the frequent
    pass: an index range on the newest touchpoints); ``every_touch`` looks at all of the window (the
    nightly pass, which also catches what a longer outage left). The touchpoints and the stages are the
    truth: no cursor, and a contact who should have moved is found again by the next pass. Idempotent.
    """
    now = now or timezone.now()
    since = now - timedelta(days=conf.INACTIVE_AFTER_DAYS)
    recorded_since = None if every_touch else now - timedelta(hours=conf.LIFECYCLE_RECENT_HOURS)
    moved = seen = after = 0
    while seen < _ENGAGED_MAX:
        ids = inputs.engaged_contacts_at(stages=(LifecycleStage.SUSPECT, LifecycleStage.INACTIVE),
                                         kinds=rules.ENGAGING_KINDS, since=since, recorded_since=recorded_since,
                                         after_id=after, limit=_ENGAGED_BATCH)
        if not ids:
            break
        touches = inputs.engagement_touches(ids, kinds=rules.ENGAGING_KINDS, since=since)
        for contact_id in ids:
            if lifecycle_update(contact_id=contact_id, now=now, engagements=touches.get(contact_id, [])):
                moved += 1
        seen += len(ids)
        after = ids[-1]
    return moved


def lifecycle_sweep_inactive(*, now: datetime | None = None) -> int:
    """Make contacts inactive after ``LIFECYCLE_INACTIVE_AFTER_DAYS`` without an order or a touch
    (``lifecycle_rules.INACTIVE_RULE``), each move dated when that period ran out: their last sign of life
    plus the period (``lifecycle_rules.inactive_since``).

    Staff-locked stages and contacts already inactive are left alone. Returns how many moved. Idempotent.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(days=conf.INACTIVE_AFTER_DAYS)
    ids = inputs.silent_contacts(cutoff, _SWEEP_LIMIT)
    last_alive = inputs.last_signs_of_life(ids)
    reason = rules.INACTIVE_RULE.format(days=conf.INACTIVE_AFTER_DAYS)
    for contact_id in ids:
        # Dated when the contact became inactive, not tonight (``contact_set_lifecycle_stage`` keeps it between
        # the previous move and now): the weekly funnel counts them in that week, whenever the sweep ran.
        contact_set_lifecycle_stage(contact_id=contact_id, stage=LifecycleStage.INACTIVE.value, reason=reason,
                                    at=rules.inactive_since(last_alive.get(contact_id)))
    return len(ids)


def lifecycle_nightly(*, now: datetime | None = None) -> dict[str, int]:
    """The nightly lifecycle pass: the engagement rules over every touch of the window, then the sweep of
    silent contacts (the two never pick the same contact: one needs a recent touch, the other none).
    Returns ``{"engaged": moved, "inactive": swept}``. Idempotent."""
    now = now or timezone.now()
    engaged = lifecycle_engagements_apply(now=now, every_touch=True)
    return {"engaged": engaged, "inactive": lifecycle_sweep_inactive(now=now)}
