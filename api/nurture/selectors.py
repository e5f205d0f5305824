"""Reads of the nurture app: lists for the API, broadcast progress, the contact timeline sources."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Count, Exists, F, Max, Min, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from api.campaigns.selectors import messaging_window_until
from api.common.errors import NotFoundError
from api.contacts.enums import Channel, LifecycleStage
from api.contacts.registry import TimelineEvent
from api.contacts.selectors import contacts_live
from api.nurture import conf
from api.nurture.models import (
    Broadcast,
    Conversation,
    Enrollment,
    InboundMessage,
    NurtureProfile,
    OutboundMessage,
    Sequence,
    TelegramUpdate,
    WhatsAppTemplate,
)

State = OutboundMessage.State
# What a contact's timeline shows of the messages sent to them (queued and cancelled ones are not events).
_TIMELINE_STATES = {State.SENT: "Message sent", State.FAILED: "Message failed", State.SKIPPED: "Message skipped"}


def sequence_list() -> QuerySet[Sequence]:
    """Every sequence with its steps, newest first."""
    return Sequence.objects.prefetch_related("steps").order_by("-created_at", "-id")


def sequence_get(sequence_id: int) -> Sequence:
    """One sequence with its steps (404 ``NotFoundError`` when there is none)."""
    sequence = sequence_list().filter(pk=sequence_id).first()
    if sequence is None:
        raise NotFoundError(f"No sequence #{sequence_id}.")
    return sequence


def enrollment_list() -> QuerySet[Enrollment]:
    """Every enrollment with its sequence (the list view filters them: api/nurture/filters.py)."""
    return Enrollment.objects.select_related("sequence")


def outbound_list() -> QuerySet[OutboundMessage]:
    """Every outbound message (the list view filters them: api/nurture/filters.py)."""
    return OutboundMessage.objects.all()


def outbound_get(message_id: int) -> OutboundMessage:
    """One outbound message (404 ``NotFoundError`` when there is none)."""
    message = OutboundMessage.objects.filter(pk=message_id).first()
    if message is None:
        raise NotFoundError(f"No outbound message #{message_id}.")
    return message


def broadcast_list() -> QuerySet[Broadcast]:
    """Every broadcast, newest first (the model's ordering)."""
    return Broadcast.objects.all()


def broadcast_get(broadcast_id: int) -> Broadcast:
    """One broadcast (404 ``NotFoundError`` when there is none)."""
    broadcast = Broadcast.objects.filter(pk=broadcast_id).first()
    if broadcast is None:
        raise NotFoundError(f"No broadcast #{broadcast_id}.")
    return broadcast


def broadcast_progress(broadcast: Broadcast) -> dict[str, Any]:
    """Messages of a broadcast by outcome: sent, skipped, failed, cancelled, pending, of total; of the sent
    ones, how many the provider reported delivered and read; failed and skipped ones by reason.

    Two grouped queries on the broadcast's messages (``outbound_broadcast_idx``).
    """
    messages = OutboundMessage.objects.filter(broadcast=broadcast)
    counts: dict[str, int] = {}
    reasons: dict[str, dict[str, int]] = {State.FAILED: {}, State.SKIPPED: {}}
    for state, reason, n in messages.values_list("state", "reason").annotate(n=Count("id")).order_by():
        counts[state] = counts.get(state, 0) + n
        if state in reasons:
            key = reason or "unknown"
            reasons[state][key] = reasons[state].get(key, 0) + n
    seen = messages.aggregate(delivered=Count("id", filter=Q(delivered_at__isnull=False) | Q(read_at__isnull=False)),
                              read=Count("id", filter=Q(read_at__isnull=False)))
    pending = counts.get(State.SCHEDULED, 0) + counts.get(State.SENDING, 0)
    return {"total": broadcast.total, "sent": counts.get(State.SENT, 0), "skipped": counts.get(State.SKIPPED, 0),
            "failed": counts.get(State.FAILED, 0), "cancelled": counts.get(State.CANCELLED, 0), "pending": pending,
            "delivered": seen["delivered"], "read": seen["read"],
            "failed_reasons": reasons[State.FAILED], "skipped_reasons": reasons[State.SKIPPED]}


def whatsapp_template_list() -> QuerySet[WhatsAppTemplate]:
    """Every WhatsApp template of the business account as last synced, by name and language."""
    return WhatsAppTemplate.objects.order_by("name", "language", "id")


def telegram_update_is_processed(update_id: int) -> bool:
    """Whether the Telegram update ``update_id`` was already stored and applied (a redelivery)."""
    return TelegramUpdate.objects.filter(update_id=update_id, processed_at__isnull=False).exists()


# --- timeline sources (registered in apps.py) ----------------------------------------------------------


def outbound_timeline(contact_id: int, before: datetime | None, limit: int) -> list[TimelineEvent]:
    """Messages sent, failed or skipped to a contact, at their last change."""
    qs = OutboundMessage.objects.filter(contact_id=contact_id, state__in=list(_TIMELINE_STATES))
    if before is not None:
        qs = qs.filter(updated_at__lte=before)
    events = []
    for m in qs.order_by("-updated_at", "-id")[:limit]:
        verb = _TIMELINE_STATES[State(m.state)]
        summary = f"{verb} on {m.channel}" + (f" ({m.reason})" if m.reason else "") + f": {m.text[:120]}"
        events.append(TimelineEvent(at=m.updated_at, kind=f"message_{m.state}", summary=summary, source="nurture",
                                    ref=f"message:{m.pk:012d}",
                                    data={"message_id": m.pk, "channel": m.channel, "category": m.category,
                                          "broadcast_id": m.broadcast_id, "enrollment_id": m.enrollment_id,
                                          "reason": m.reason, "text": m.text[:120]}))
    return events


def enrollment_timeline(contact_id: int, before: datetime | None, limit: int) -> list[TimelineEvent]:
    """Enrollments of a contact into sequences."""
    qs = Enrollment.objects.filter(contact_id=contact_id).select_related("sequence")
    if before is not None:
        qs = qs.filter(created_at__lte=before)
    return [TimelineEvent(at=e.created_at, kind="sequence_enrolled",
                          summary=f"Enrolled in \u201c{e.sequence.name}\u201d ({e.trigger})"
                                  + (f", {e.state}: {e.stopped_reason}" if e.stopped_reason else ""),
                          source="nurture_enrollments", ref=f"enrollment:{e.pk:012d}",
                          data={"enrollment_id": e.pk, "sequence_id": e.sequence_id, "state": e.state,
                                "sequence": e.sequence.name, "trigger": e.trigger,
                                "stopped_reason": e.stopped_reason})
            for e in qs.order_by("-created_at", "-id")[:limit]]


_INBOUND_VERBS = {"stop": "Asked to stop (STOP)", "monthly": "Chose one message a month",
                  "source": "Said how they heard of us", "welcome": "First contact (welcomed)"}


def inbound_timeline(contact_id: int, before: datetime | None, limit: int) -> list[TimelineEvent]:
    """Messages the contact wrote to us, at the time they wrote them (the provider's time)."""
    qs = InboundMessage.objects.filter(contact_id=contact_id)
    if before is not None:
        qs = qs.filter(occurred_at__lte=before)
    events = []
    for m in qs.order_by("-occurred_at", "-id")[:limit]:
        verb = _INBOUND_VERBS.get(m.action, "Message received")
        events.append(TimelineEvent(at=m.occurred_at, kind=f"inbound_{m.action or m.kind}",
                                    summary=f"{verb} on {m.channel}: {m.text[:120]}", source="nurture_inbound",
                                    ref=f"inbound:{m.pk:012d}",
                                    data={"inbound_message_id": m.pk, "channel": m.channel, "kind": m.kind,
                                          "action": m.action, "received_at": m.received_at.isoformat(),
                                          "text": m.text}))
    return events


# --- lead score, maturity, predicted reorder date (staff screens) --------------------------------------


def lead_mature_threshold() -> int:
    """The lead score from which a suspect or prospect is "mature" (``NURTURE_MATURE_THRESHOLD``)."""
    return int(conf.get("NURTURE_MATURE_THRESHOLD"))


def nurture_profile_find(contact_id: int) -> NurtureProfile | None:
    """The contact's lead score, ``matured_at`` and ``replenishment_due_at``, or None when nurture
    never scored them. Reads only: ``services.scoring.nurture_profile_get`` creates the row."""
    return NurtureProfile.objects.filter(contact_id=contact_id).first()


def contacts_recently_matured(*, since: datetime, limit: int = 20) -> list[NurtureProfile]:
    """Live suspects and prospects who became mature (``services.scoring.lead_score_record`` stamps
    ``matured_at`` when their score crosses the threshold) at or after ``since``, the latest first,
    with their contact. Those who have bought since are no longer prospects and are left out."""
    prospects = contacts_live().filter(lifecycle_stage__in=[LifecycleStage.SUSPECT, LifecycleStage.PROSPECT])
    return list(NurtureProfile.objects.select_related("contact")
                .filter(matured_at__gte=since, contact_id__in=prospects.values("pk"))
                .order_by("-matured_at", "-id")[:limit])


def contacts_due_to_reorder(*, start: datetime, end: datetime, limit: int = 20) -> list[NurtureProfile]:
    """Live customers whose predicted reorder date (``services.replenishment.replenishment_plan``:
    last kept order + their usual gap) falls between ``start`` and ``end``, the earliest first,
    with their contact. A new order moves the date forward at the next plan."""
    return list(NurtureProfile.objects.select_related("contact")
                .filter(replenishment_due_at__gte=start, replenishment_due_at__lt=end,
                        contact_id__in=contacts_live().values("pk"))
                .order_by("replenishment_due_at", "id")[:limit])


# --- the staff inbox: conversations across channels --------------------------------------------------------

# The person's own words wait for an answer; a tapped source answer, STOP or "one message a month" do not
# (the bot answered them), nor does a bot start or a postback.
_WAITING_KINDS = (InboundMessage.Kind.TEXT, InboundMessage.Kind.OTHER)
_NOT_WAITING_ACTIONS = ("stop", "monthly", "source")
# What a conversation shows as sent to the person: what went out, or is going out now.
_SHOWN_OUT_STATES = (State.SENT, State.SENDING, State.SCHEDULED, State.FAILED, State.SKIPPED)


def _inbound_of_conversation() -> QuerySet[InboundMessage]:
    return InboundMessage.objects.filter(contact_id=OuterRef("contact_id"))


def conversation_list(*, state: str | None = None, owner_id: int | None = None, unowned: bool = False,
                      channel: str | None = None, waiting: bool | None = None) -> QuerySet[Conversation]:
    """Conversations of live contacts, annotated ``unread`` (inbound messages after the last read mark),
    ``waiting_since`` (the oldest of the person's own words after the answered mark; None when nothing
    waits) and ``last_inbound_at``; waiting ones first, the newest waiting first, then the latest written.

    Filters: ``state`` (open / done), ``owner_id`` or ``unowned``, ``channel`` (the person wrote from
    it), ``waiting``. One row per contact: after a merge moved a second row to a contact, the oldest
    stands for both (``services.inbox`` folds them on the next write).
    """
    unread = (_inbound_of_conversation().filter(id__gt=OuterRef("last_read_inbound_id"))
              .order_by().values("contact_id").annotate(n=Count("id")).values("n"))
    waiting_since = (_inbound_of_conversation().filter(id__gt=OuterRef("answered_inbound_id"), kind__in=_WAITING_KINDS)
                     .exclude(action__in=_NOT_WAITING_ACTIONS).order_by().values("contact_id")
                     .annotate(at=Min("occurred_at")).values("at"))
    last_inbound = _inbound_of_conversation().order_by("-occurred_at", "-id").values("occurred_at")[:1]
    older_row = Conversation.objects.filter(contact_id=OuterRef("contact_id"), id__lt=OuterRef("id"))
    qs = (Conversation.objects.select_related("contact", "owner")
          .filter(contact_id__in=contacts_live().values("pk"))
          .exclude(Exists(older_row))
          .annotate(unread=Coalesce(Subquery(unread), 0), waiting_since=Subquery(waiting_since),
                    last_inbound_at=Subquery(last_inbound)))
    if state:
        qs = qs.filter(state=state)
    if unowned:
        qs = qs.filter(owner__isnull=True)
    elif owner_id is not None:
        qs = qs.filter(owner_id=owner_id)
    if channel:
        qs = qs.filter(Exists(_inbound_of_conversation().filter(channel=channel)))
    if waiting is True:
        qs = qs.filter(waiting_since__isnull=False)
    elif waiting is False:
        qs = qs.filter(waiting_since__isnull=True)
    return qs.order_by(F("waiting_since").desc(nulls_last=True), F("last_inbound_at").desc(nulls_last=True), "-id")


def conversation_get(contact_id: int) -> Conversation:
    """The conversation with contact ``contact_id``, annotated like ``conversation_list`` (404 when none)."""
    conversation = conversation_list().filter(contact_id=contact_id).first()
    if conversation is None:
        raise NotFoundError(f"No conversation with contact #{contact_id}.")
    return conversation


@dataclass(frozen=True)
class ConversationMessage:
    """One message of a conversation: ``direction`` ``in`` (the person wrote) or ``out`` (we sent).

    ``at`` is when the person wrote, or when ours went out (when it is due, until then). Outbound
    messages carry their delivery: ``state``, ``delivered_at``, ``read_at``, ``failure_code``, ``reason``.
    """

    id: int
    direction: str
    channel: str
    at: datetime
    text: str
    kind: str = ""
    category: str = ""
    state: str = ""
    reason: str = ""
    sent_at: datetime | None = None
    delivered_at: datetime | None = None
    read_at: datetime | None = None
    failure_code: str = ""
    template_name: str = ""


def _out_message(m: OutboundMessage) -> ConversationMessage:
    return ConversationMessage(id=m.pk, direction="out", channel=m.channel, at=m.sent_at or m.due_at, text=m.text,
                               category=m.category, state=m.state, reason=m.reason, sent_at=m.sent_at,
                               delivered_at=m.delivered_at, read_at=m.read_at, failure_code=m.failure_code,
                               template_name=m.template_name)


def _in_message(m: InboundMessage) -> ConversationMessage:
    return ConversationMessage(id=m.pk, direction="in", channel=m.channel, at=m.occurred_at, text=m.text, kind=m.kind)


def conversation_messages(contact_id: int, *, before: datetime | None = None, limit: int = 50
                          ) -> list[ConversationMessage]:
    """The latest ``limit`` messages with the contact (before ``before`` when given), both directions
    interleaved by time, oldest first. Outbound ones due later (a sequence's next step) are not shown."""
    conversation_get(contact_id)
    horizon = before or timezone.now()
    inbound = (InboundMessage.objects.filter(contact_id=contact_id, occurred_at__lt=horizon)
               .order_by("-occurred_at", "-id")[:limit])
    outbound = (OutboundMessage.objects.filter(contact_id=contact_id, state__in=_SHOWN_OUT_STATES)
                .annotate(at=Coalesce("sent_at", "due_at")).filter(at__lt=horizon)
                .order_by("-at", "-id")[:limit])
    merged = [_in_message(m) for m in inbound] + [_out_message(m) for m in outbound]
    merged.sort(key=lambda m: (m.at, m.direction == "out", m.id), reverse=True)
    return list(reversed(merged[:limit]))


@dataclass(frozen=True)
class ConversationFacts:
    """What a conversation row shows beyond its annotations: the last message either way, the channels
    the person wrote from (the last one first) and when the WhatsApp 24-hour window closes (None: closed)."""

    last_message: ConversationMessage | None
    channels: list[str]
    whatsapp_window_until: datetime | None


def conversation_facts(contact_ids: list[int]) -> dict[int, ConversationFacts]:
    """``ConversationFacts`` of a page of conversations, by contact id: four queries for the page, then one
    per contact who wrote on WhatsApp (the window is the campaigns app's rule, read as the dispatcher reads it)."""
    now = timezone.now()
    channels_of: dict[int, list[str]] = {}
    by_recency = (InboundMessage.objects.filter(contact_id__in=contact_ids).values("contact_id", "channel")
                  .annotate(at=Max("occurred_at")).order_by("contact_id", "-at"))
    for row in by_recency:
        channels_of.setdefault(row["contact_id"], []).append(row["channel"])
    shown_out = (OutboundMessage.objects.filter(contact_id=OuterRef("contact_id"), state__in=_SHOWN_OUT_STATES,
                                                due_at__lte=now)
                 .annotate(at=Coalesce("sent_at", "due_at")).order_by("-at", "-id").values("id")[:1])
    last_ids = list(Conversation.objects.filter(contact_id__in=contact_ids).values("contact_id").distinct()
                    .annotate(last_in=Subquery(_inbound_of_conversation().order_by("-occurred_at", "-id")
                                               .values("id")[:1]),
                              last_out=Subquery(shown_out))
                    .values_list("contact_id", "last_in", "last_out"))
    inbound = InboundMessage.objects.in_bulk([i for _, i, _ in last_ids if i])
    outbound = OutboundMessage.objects.in_bulk([o for _, _, o in last_ids if o])
    last_of: dict[int, ConversationMessage] = {}
    for contact_id, in_id, out_id in last_ids:
        candidates = [_in_message(inbound[in_id])] if in_id in inbound else []
        candidates += [_out_message(outbound[out_id])] if out_id in outbound else []
        if candidates:
            last_of[contact_id] = max(candidates, key=lambda m: (m.at, m.direction == "out"))
    facts: dict[int, ConversationFacts] = {}
    for contact_id in contact_ids:
        channels = channels_of.get(contact_id, [])
        window = (messaging_window_until(contact_id=contact_id, channel=Channel.WHATSAPP, now=now)
                  if Channel.WHATSAPP in channels else None)
        facts[contact_id] = ConversationFacts(last_message=last_of.get(contact_id), channels=channels,
                                              whatsapp_window_until=window)
    return facts


@dataclass(frozen=True)
class WaitingConversation:
    """A conversation waiting for staff, as "Ma journée" lists it."""

    contact_id: int
    name: str
    channel: str
    waiting_since: datetime
    unread: int
    owner_id: int | None


def conversations_waiting(*, limit: int = 20) -> list[WaitingConversation]:
    """Open conversations with words of the person not yet answered, the newest waiting first."""
    rows = list(conversation_list(state=Conversation.State.OPEN, waiting=True)[:limit])
    last_channels = dict(InboundMessage.objects.filter(contact_id__in=[r.contact_id for r in rows])
                         .order_by("contact_id", "occurred_at", "id").values_list("contact_id", "channel"))
    # ``waiting_since`` and ``unread`` are annotations of ``conversation_list``.
    return [WaitingConversation(contact_id=r.contact_id, name=r.contact.display_name,
                                channel=last_channels.get(r.contact_id, ""),
                                waiting_since=r.waiting_since, unread=r.unread,  # type: ignore[attr-defined]
                                owner_id=r.owner_id) for r in rows]


def conversation_message_out(message: OutboundMessage) -> ConversationMessage:
    """An outbound message as a conversation shows it (a reply just queued, for the reply's answer)."""
    return _out_message(message)


# --- campaign messages, for the reports' response rates (api/campaigns/message_recipients.py) -----------


def campaign_messages_sent(start: datetime, end: datetime) -> list[tuple[str, int, datetime]]:
    """``(campaign_code, contact_id, sent_at)`` of the messages of a campaign's sequences and broadcasts
    sent in ``[start, end)``: the recipients the CRM indicators divide responses and clicks by."""
    rows = (OutboundMessage.objects
            .filter(state=OutboundMessage.State.SENT, sent_at__gte=start, sent_at__lt=end, contact__isnull=False)
            .annotate(code=Coalesce(F("broadcast__campaign_code"), F("enrollment__sequence__campaign_code")))
            .exclude(code__isnull=True).exclude(code="")
            .values_list("code", "contact_id", "sent_at"))
    return [(code, contact_id, sent_at) for code, contact_id, sent_at in rows if sent_at is not None]
