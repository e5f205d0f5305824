"""Replenishment: from each customer's usual gap between orders, remind them when they should run out."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from itertools import groupby, islice
from operator import itemgetter
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from api.common.businesstime import business_localtime
from api.contacts.enums import Segment
from api.contacts.selectors import contact_live_get
from api.contacts.services import task_create
from api.nurture import conf
from api.nurture.models import NurtureProfile, OutboundMessage, ScoreEvent
from api.nurture.services.channels import SUPPORTED_CHANNELS, channel_choose, contact_recipient, render_text
from api.nurture.services.templates import (
    contact_parameters,
    outbound_enqueue_with_template,
    whatsapp_template_by_name,
)
from api.orders.facts import kept_order_history

RECENT_ORDERS = 6  # the gaps between this many last orders give the usual gap
MIN_GAP = timedelta(days=3)  # closer orders are one purchase split, not a rhythm
PAGE = 500  # customers whose profiles are read in one query; bounds the IN list, not the coverage
# The follow-up task of a reseller's owner (``FollowUpTask.Kind`` in the contacts app).
_TASK_KIND_CALL = "call"
REMINDER_TEXT = ("Bonjour {first_name}, votre dernier sirop Confiotes doit bientôt être fini 🙂 Voulez-vous qu'on "
                 "vous prépare la même commande ?")


def _recent_orders() -> Iterator[tuple[int, list[tuple[int, datetime]]]]:
    """``(contact_id, [(order_id, created_at), ...])`` of every customer, by contact id: their last
    ``RECENT_ORDERS`` kept orders, newest first.

    Read through one streamed query (``kept_order_history``: a server-side cursor on PostgreSQL,
    2,000 rows a fetch), so every customer is reached without holding them all in memory. Kept orders
    (``api.orders.facts``: not cancelled, not refunded, not a free sample) say how fast a customer uses
    up what they bought: a returned bottle is not being drunk.
    """
    for contact_id, orders in groupby(kept_order_history(), key=itemgetter(0)):
        yield contact_id, [(order_id, created_at) for _c, order_id, created_at in islice(orders, RECENT_ORDERS)]


def _due_at(rows: list[tuple[int, datetime]]) -> datetime | None:
    """Last order + the median gap between the last orders; None without a rhythm (one order, or orders
    closer than ``MIN_GAP``: one purchase split)."""
    if len(rows) < 2:
        return None
    gaps = sorted((rows[i][1] - rows[i + 1][1]) for i in range(len(rows) - 1))
    gap = gaps[len(gaps) // 2]
    if gap < MIN_GAP:
        return None
    return rows[0][1] + gap


def replenishment_plan(*, now: datetime | None = None) -> int:
    """From each customer's usual gap between orders, remind them when they should run out.

    The usual gap is the median of the gaps between their last (up to 6) kept orders; a
    customer with 2 orders or more is due at last order + gap (stored on their nurture profile as the
    predicted reorder date). When that day comes (business time): a reseller's owner gets a follow-up
    task, anyone else a reminder message. Every customer is looked at (streamed by contact id, their
    profiles read and written ``PAGE`` at a time); once per last order (keyed by it), so a second run
    the same day makes nothing. Returns how many reminders were made.
    """
    now = now or timezone.now()
    today = business_localtime(now).date()
    done = 0
    page: list[tuple[int, int, datetime]] = []  # (contact_id, last order id, due)
    for contact_id, rows in _recent_orders():
        due = _due_at(rows)
        if due is not None:
            page.append((contact_id, rows[0][0], due))
        if len(page) >= PAGE:
            done += _plan_page(page, today=today, now=now)
            page = []
    if page:
        done += _plan_page(page, today=today, now=now)
    return done


def _plan_page(page: list[tuple[int, int, datetime]], *, today: date, now: datetime) -> int:
    """Store the predicted reorder dates of a page of customers (one read, writes only where the date
    changed) and remind those due by ``today``; returns how many reminders were made."""
    stored = dict(NurtureProfile.objects.filter(contact_id__in=[c for c, _o, _d in page])
                  .values_list("contact_id", "replenishment_due_at"))
    missing = [NurtureProfile(contact_id=c, replenishment_due_at=d) for c, _o, d in page if c not in stored]
    # ignore_conflicts: a profile created meanwhile (a message scored) gets its date at the next plan.
    NurtureProfile.objects.bulk_create(missing, ignore_conflicts=True)
    for contact_id, _order_id, due in page:
        if contact_id in stored and stored[contact_id] != due:
            NurtureProfile.objects.filter(contact_id=contact_id).update(replenishment_due_at=due)
    done = 0
    for contact_id, order_id, due in page:
        if business_localtime(due).date() > today:
            continue
        if _remind(contact_id, key=f"replenish:{contact_id}:{order_id}", now=now):
            done += 1
    return done


def reorder_dates(contact_ids: list[int]) -> dict[int, datetime]:
    """``{contact_id: predicted reorder date}`` of those of ``contact_ids`` that have one (one query):
    what the contact's API shows as ``attributes.reorder_due_at``."""
    rows = (NurtureProfile.objects.filter(contact_id__in=contact_ids, replenishment_due_at__isnull=False)
            .values_list("contact_id", "replenishment_due_at"))
    return {contact_id: due for contact_id, due in rows if due is not None}


def reorder_due_contact_ids(before: datetime | None, after: datetime | None) -> QuerySet[Any]:
    """Contacts whose predicted reorder date is in ``[after, before)`` (``values("contact_id")``, a
    subquery): the contact list's ``reorder_due_before`` / ``reorder_due_after`` filters."""
    qs = NurtureProfile.objects.filter(replenishment_due_at__isnull=False)
    if before is not None:
        qs = qs.filter(replenishment_due_at__lt=before)
    if after is not None:
        qs = qs.filter(replenishment_due_at__gte=after)
    return qs.values("contact_id")


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
    # Outside WhatsApp's 24-hour window the reminder goes as the template named in the settings.
    template = whatsapp_template_by_name(conf.get("NURTURE_WHATSAPP_TEMPLATE_REPLENISHMENT"))
    outbound_enqueue_with_template(template=template, parameters=contact_parameters(contact), idempotency_key=key,
                                   channel=channel, recipient=contact_recipient(contact, channel),
                                   contact_id=contact_id, text=render_text(REMINDER_TEXT, contact))
    return True
