"""Replenishment: from each customer's usual gap between orders, remind them when they should run out."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from api.common.businesstime import business_localtime
from api.contacts.enums import Segment
from api.contacts.selectors import contact_live_get
from api.contacts.services import task_create
from api.nurture.models import NurtureProfile, OutboundMessage, ScoreEvent
from api.nurture.services.channels import SUPPORTED_CHANNELS, channel_choose, contact_recipient, render_text
from api.nurture.services.outbox import outbound_enqueue
from api.nurture.services.scoring import nurture_profile_get
from api.orders.facts import kept_order_history

RECENT_ORDERS = 6  # the gaps between this many last orders give the usual gap
MIN_GAP = timedelta(days=3)  # closer orders are one purchase split, not a rhythm
# The follow-up task of a reseller's owner (``FollowUpTask.Kind`` in the contacts app).
_TASK_KIND_CALL = "call"
REMINDER_TEXT = ("Bonjour {first_name}, votre dernier sirop Confiotes doit bientôt être fini 🙂 Voulez-vous qu'on "
                 "vous prépare la même commande ?")


def _recent_orders() -> dict[int, list[tuple[int, datetime]]]:
    """``{contact_id: [(order_id, created_at), ...]}``: the last ``RECENT_ORDERS`` kept orders, newest first.

    Kept orders (``api.orders.facts``: not cancelled, not refunded, not a free sample) say how fast a
    customer uses up what they bought: a returned bottle is not being drunk.
    """
    history: dict[int, list[tuple[int, datetime]]] = {}
    for contact_id, order_id, created_at in kept_order_history():
        rows = history.setdefault(contact_id, [])
        if len(rows) < RECENT_ORDERS:
            rows.append((order_id, created_at))
    return history


def replenishment_plan(*, now: datetime | None = None, limit: int = 2000) -> int:
    """From each customer's usual gap between orders, remind them when they should run out.

    The usual gap is the median of the gaps between their last (up to 6) kept orders; a
    customer with 2 orders or more is due at last order + gap (stored on their nurture profile).
    When that day comes (business time): a reseller's owner gets a follow-up task, anyone else a
    reminder message. Once per last order (keyed by it); returns how many reminders were made.
    """
    now = now or timezone.now()
    today = business_localtime(now).date()
    done = 0
    for contact_id, rows in list(_recent_orders().items())[:limit]:
        if len(rows) < 2:
            continue
        gaps = sorted((rows[i][1] - rows[i + 1][1]) for i in range(len(rows) - 1))
        gap = gaps[len(gaps) // 2]
        if gap < MIN_GAP:
            continue
        due = rows[0][1] + gap
        profile = nurture_profile_get(contact_id)
        if profile.replenishment_due_at != due:
            NurtureProfile.objects.filter(pk=profile.pk).update(replenishment_due_at=due)
        if business_localtime(due).date() > today:
            continue
        key = f"replenish:{contact_id}:{rows[0][0]}"
        if _remind(contact_id, key=key, now=now):
            done += 1
    return done


def _remind(contact_id: int, *, key: str, now: datetime) -> bool:
    """Remind once per ``key``: a call task for a reseller's owner, else a message; False when nothing was due."""
    if OutboundMessage.objects.filter(idempotency_key=key).exists() or ScoreEvent.objects.filter(ref=key).exists():
        return False
    contact = contact_live_get(contact_id)
    if contact is None:
        return False
    if contact.segment == Segment.RESELLER:
        with transaction.atomic():
            task_create(contact_id=contact_id, kind=_TASK_KIND_CALL, due_at=now, owner=contact.owner,
                        note="Réassort probable : l'intervalle habituel entre ses commandes est écoulé.")
            # The task is not a message: this zero-point row is what marks the reminder as made.
            ScoreEvent.objects.create(contact_id=contact_id, kind="replenishment_task", points=0, ref=key)
        return True
    channel = channel_choose(contact, SUPPORTED_CHANNELS)
    if channel is None:
        return False
    outbound_enqueue(idempotency_key=key, channel=channel, recipient=contact_recipient(contact, channel),
                     contact_id=contact_id, text=render_text(REMINDER_TEXT, contact))
    return True
