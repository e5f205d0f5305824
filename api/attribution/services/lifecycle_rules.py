"""The lifecycle rules: which facts put a contact at which stage, in the order they are tried.

Read :data:`RULES` top to bottom: the first rule that holds for a contact gives the stage the facts
call for, and its reason (in French, for staff) is written on the contact's timeline by
``contact_set_lifecycle_stage``. A rule holds when it finds its evidence: the evidence fills the
reason ("nous a écrit (WhatsApp) le 02/12/2026").

A move is dated when its fact happened, not when a pass found it (:class:`Decision`): the touch that made a
suspect a prospect, the delivery that made a customer, the friend's delivery that made an ambassador, the end
of the period without a sign of life that made a contact inactive (:func:`inactive_since`). The weekly funnel
counts moves by that date, so a message of Sunday 23:50 found by Monday's first pass counts in Sunday's week.

Whether the contact moves there is :func:`may_move`'s decision:

- a stage staff set by hand (``lifecycle_stage_locked``) is never moved automatically;
- nobody moves down the ladder ``suspect < prospect < customer < repeat_customer < ambassador`` (a
  cancelled order does not make a customer a prospect again);
- ``inactive`` stands beside the ladder: only the sweep (:data:`INACTIVE_RULE`, nightly) puts a
  contact there, and a rule takes them out only on a sign of life within the inactivity window (an
  order placed, or an engagement below, in the last ``LIFECYCLE_INACTIVE_AFTER_DAYS``), to the stage
  the facts give: an old customer who writes again is a customer, not a prospect.

Engagement (suspect -> prospect) is read from the touchpoints of the last ``LIFECYCLE_INACTIVE_AFTER_DAYS``
(older ones would be swept back to inactive at once): the person tasted our products (a tasting or a
fair visit), asked for information (a message that asks something), wrote to us (a message on any
channel, or a message sent from an ad), said where they heard of us (the source question), clicked a
tracked link or an ad, or opened the Telegram bot. A page like or a friend's referral alone is not
engagement: the person did nothing yet.

How the facts arrive: orders through attribution's order event listener (at once), touches through
the database itself: a beat pass every two minutes finds the contacts still ``suspect`` or
``inactive`` with an engaging touch written in the last ``LIFECYCLE_RECENT_HOURS``, and the nightly
pass looks at every touch of the window (``services.lifecycle``). No cursor to lose: a contact
who should have moved is found again by the next pass.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property

from api.attribution import conf
from api.attribution.services import inputs
from api.campaigns.enums import TouchpointKind
from api.common.businesstime import business_tz
from api.contacts.enums import LifecycleStage

# The ladder an automatic move only climbs; ``inactive`` is beside it (see the module's docstring).
LADDER: tuple[str, ...] = (LifecycleStage.SUSPECT, LifecycleStage.PROSPECT, LifecycleStage.CUSTOMER,
                           LifecycleStage.REPEAT_CUSTOMER, LifecycleStage.AMBASSADOR)

_TASTED = {TouchpointKind.TASTING_VISIT.value: "une dégustation", TouchpointKind.FAIR_VISIT.value: "un salon"}
_MESSAGES = (TouchpointKind.INBOUND_MESSAGE.value, TouchpointKind.AD_REFERRAL.value)
_CLICKS = (TouchpointKind.LINK_CLICK.value, TouchpointKind.AD_REFERRAL.value)
#: Every kind of touch some engagement rule reads.
ENGAGING_KINDS: tuple[str, ...] = (*_TASTED, TouchpointKind.INBOUND_MESSAGE.value, TouchpointKind.AD_REFERRAL.value,
                                   TouchpointKind.SELF_REPORTED_SOURCE.value, TouchpointKind.LINK_CLICK.value,
                                   TouchpointKind.BOT_START.value)
# How a reason names a touch's channel (staff read it on the timeline).
_CHANNEL_NAMES = {"telegram": "Telegram", "messenger": "Messenger", "whatsapp": "WhatsApp", "instagram": "Instagram",
                  "email": "e-mail", "sms": "SMS", "phone": "téléphone", "in_person": "en personne", "web": "site web"}
# A message that asks for information: a question mark, or the words people use to ask for prices,
# products or delivery (French and English: the country is bilingual).
_ASKS = re.compile(
    r"\?|\b(prix|combien|co[uû]t\w*|tarif\w*|infos?|informations?|renseignements?|catalogue|disponibles?|"
    r"livr\w*|commander|acheter|price|how much|cost|available|deliver\w*|order)\b", re.IGNORECASE)


#: What a rule found: the values its reason is filled with, and under :data:`AT` when its fact happened
#: (None or absent: the fact is happening now, e.g. the order event being handled); None when the rule
#: does not hold.
Evidence = dict[str, object] | None
#: The key of an evidence that says when its fact happened (it fills no reason).
AT = "at"


def latest(*times: datetime | None) -> datetime | None:
    """The latest of the known ``times`` (None ones are facts recorded before their time was); None when
    none is known."""
    known = [t for t in times if t is not None]
    return max(known) if known else None


class ContactFacts:
    """What the rules read of one contact, each fact read the first time a rule asks for it.

    ``engagements``: the contact's engaging touches of the window when the caller has read them for a
    batch of contacts; read here otherwise.
    """

    def __init__(self, contact_id: int, *, now: datetime, engagements: Sequence[inputs.TouchFact] | None = None):
        self.contact_id = contact_id
        self.now = now
        self.window_start = now - timedelta(days=conf.INACTIVE_AFTER_DAYS)
        if engagements is not None:
            self.__dict__["engagements"] = list(engagements)

    @cached_property
    def delivered_orders(self) -> int:
        return inputs.delivered_order_count(self.contact_id)

    @cached_property
    def delivery_times(self) -> list[datetime]:
        """When each delivered order reached the contact, earliest first (orders without a delivery time,
        delivered before the time was recorded, are left out)."""
        return inputs.delivery_times(self.contact_id)

    def delivered_at(self, nth: int) -> datetime | None:
        """When the ``nth`` delivery (1 = the first) reached the contact; None when unknown."""
        times = self.delivery_times
        return times[nth - 1] if len(times) >= nth else None

    @cached_property
    def brought_a_buyer(self) -> bool:
        return inputs.brought_a_buyer(self.contact_id)

    @cached_property
    def referred_buyer_delivered_at(self) -> datetime | None:
        """When the first order of someone the contact referred reached them; None when unknown."""
        return inputs.first_referred_buyer_delivery(self.contact_id)

    @cached_property
    def rated_well_and_shared_link(self) -> bool:
        return inputs.gave_good_feedback(self.contact_id) and inputs.shared_referral_link(self.contact_id)

    @cached_property
    def rated_well_and_shared_link_at(self) -> datetime | None:
        """When both had happened: the later of the first good rating and the first arrival with the link."""
        return latest(inputs.first_good_feedback_at(self.contact_id), inputs.first_referral_arrival(self.contact_id))

    @cached_property
    def engagements(self) -> list[inputs.TouchFact]:
        """Engaging touches of the window, oldest first."""
        return inputs.engagement_touches([self.contact_id], kinds=ENGAGING_KINDS, since=self.window_start).get(
            self.contact_id, [])

    @cached_property
    def alive_recently(self) -> bool:
        """An engagement or an order placed within the inactivity window."""
        return bool(self.engagements) or inputs.ordered_since(self.contact_id, self.window_start)

    @cached_property
    def first_sign_of_life(self) -> datetime | None:
        """When the contact first engaged or placed an order within the inactivity window; None if never."""
        ordered = inputs.first_order_placed_since(self.contact_id, self.window_start)
        times = [t for t in (ordered, self.engagements[0].occurred_at if self.engagements else None) if t]
        return min(times) if times else None

    def first_touch(self, test: Callable[[inputs.TouchFact], bool]) -> Evidence:
        """The evidence of the first engaging touch that passes ``test``: its channel and day."""
        for touch in self.engagements:
            if test(touch):
                return {"channel": _CHANNEL_NAMES.get(touch.channel, touch.channel or "autre"), "kind": touch.kind,
                        "day": touch.occurred_at.astimezone(business_tz()).strftime("%d/%m/%Y"),
                        AT: touch.occurred_at}
        return None


# --- what each rule looks for: evidence (values for its reason) or None ---------------------------------------


# The two ambassador rules are dated when the last of their facts happened (a repeat customer's second
# delivery, a friend's delivery; or a good rating and a first arrival with the link), not when the order event
# that runs them is handled: events are delivered by workers, and the rules hold at the next event whatever
# it is. The nightly pass does not look for them.


def brought_a_buyer(f: ContactFacts) -> Evidence:
    if f.delivered_orders >= 2 and f.brought_a_buyer:
        return {AT: latest(f.delivered_at(2), f.referred_buyer_delivered_at)}
    return None


def rated_well_and_shared_link(f: ContactFacts) -> Evidence:
    if f.delivered_orders >= 2 and f.rated_well_and_shared_link:
        return {"rating": conf.AMBASSADOR_MIN_RATING, AT: latest(f.delivered_at(2), f.rated_well_and_shared_link_at)}
    return None


def several_orders_delivered(f: ContactFacts) -> Evidence:
    # Dated at the second delivery: the one that made a repeat customer.
    return {"orders": f.delivered_orders, AT: f.delivered_at(2)} if f.delivered_orders >= 2 else None


def first_order_delivered(f: ContactFacts) -> Evidence:
    return {AT: f.delivered_at(1)} if f.delivered_orders >= 1 else None


def tasted(f: ContactFacts) -> Evidence:
    evidence = f.first_touch(lambda t: t.kind in _TASTED)
    return None if evidence is None else {**evidence, "where": _TASTED[str(evidence["kind"])]}


def asked_for_information(f: ContactFacts) -> Evidence:
    return f.first_touch(lambda t: t.kind in _MESSAGES and bool(_ASKS.search(t.text)))


def wrote(f: ContactFacts) -> Evidence:
    # A message sent from an ad has its text; an ad opened without a word is a click (below).
    return f.first_touch(lambda t: t.kind == TouchpointKind.INBOUND_MESSAGE or (t.kind in _MESSAGES and bool(t.text)))


def answered_the_source_question(f: ContactFacts) -> Evidence:
    return f.first_touch(lambda t: t.kind == TouchpointKind.SELF_REPORTED_SOURCE)


def clicked_a_tracked_link(f: ContactFacts) -> Evidence:
    return f.first_touch(lambda t: t.kind in _CLICKS)


def opened_the_bot(f: ContactFacts) -> Evidence:
    return f.first_touch(lambda t: t.kind == TouchpointKind.BOT_START)


@dataclass(frozen=True)
class Rule:
    """Contacts for whom ``looks_for`` finds evidence belong at ``stage``; ``reason`` is filled with the evidence."""

    stage: str
    looks_for: Callable[[ContactFacts], Evidence]
    reason: str


# The rules, strongest first: the first that holds gives the stage and the reason on the timeline.
RULES: tuple[Rule, ...] = (
    Rule(LifecycleStage.AMBASSADOR, brought_a_buyer, "client fidèle qui a amené un ami acheteur"),
    Rule(LifecycleStage.AMBASSADOR, rated_well_and_shared_link,
         "client fidèle qui a noté une commande {rating}+ et partagé son lien"),
    Rule(LifecycleStage.REPEAT_CUSTOMER, several_orders_delivered, "{orders} commandes livrées"),
    Rule(LifecycleStage.CUSTOMER, first_order_delivered, "première commande livrée"),
    Rule(LifecycleStage.PROSPECT, tasted, "a goûté nos produits à {where} le {day}"),
    Rule(LifecycleStage.PROSPECT, asked_for_information, "a demandé des informations ({channel}) le {day}"),
    Rule(LifecycleStage.PROSPECT, wrote, "nous a écrit ({channel}) le {day}"),
    Rule(LifecycleStage.PROSPECT, answered_the_source_question, "a dit d'où il nous connaît le {day}"),
    Rule(LifecycleStage.PROSPECT, clicked_a_tracked_link, "a cliqué sur un lien suivi ou une publicité le {day}"),
    Rule(LifecycleStage.PROSPECT, opened_the_bot, "a ouvert le bot Telegram le {day}"),
)

#: The sweep, nightly, after the rules: no order and no touch at all for this long makes a contact inactive.
INACTIVE_RULE = "ni commande ni signe de vie (message, clic, visite) depuis {days} jours"


def inactive_since(last_sign_of_life: datetime | None) -> datetime | None:
    """When a contact silent since ``last_sign_of_life`` became inactive: once ``LIFECYCLE_INACTIVE_AFTER_DAYS``
    had passed without a sign of life (None, unknown: now)."""
    return None if last_sign_of_life is None else last_sign_of_life + timedelta(days=conf.INACTIVE_AFTER_DAYS)


#: Added to the reason of a move out of ``inactive``.
BACK_FROM_INACTIVE = " ; de retour après une période inactive"


@dataclass(frozen=True)
class Decision:
    """Where the first rule that holds puts the contact, why (for the timeline), and when the fact behind it
    happened (None: now), the date the move is recorded with."""

    stage: str
    reason: str
    at: datetime | None


def stage_from_facts(facts: ContactFacts) -> Decision | None:
    """The :class:`Decision` of the first rule of :data:`RULES` that holds, None when none does."""
    for rule in RULES:
        evidence = rule.looks_for(facts)
        if evidence is not None:
            at = evidence.get(AT)
            return Decision(str(rule.stage), rule.reason.format(**evidence),
                            at if isinstance(at, datetime) else None)
    return None


def back_from_inactive_at(decision: Decision, facts: ContactFacts) -> datetime | None:
    """When a contact left ``inactive``: at the sign of life that woke them, not at the old order the rule
    read (nor before the fact of the rule, e.g. the delivery of the order that woke them); None: now."""
    woke = facts.first_sign_of_life
    if decision.at is None or woke is None:
        return decision.at
    return max(decision.at, woke)


def may_move(current: str, target: str, facts: ContactFacts) -> bool:
    """Whether an automatic move from ``current`` to ``target`` is allowed (the lock is checked by the caller).

    Up the ladder only; out of ``inactive`` only on a recent sign of life.
    """
    if current == target:
        return False
    if current == LifecycleStage.INACTIVE:
        return facts.alive_recently
    if current not in LADDER:
        return False
    return LADDER.index(target) > LADDER.index(current)
