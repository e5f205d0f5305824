"""The dispatcher: claims due ``OutboundMessage`` rows and sends them, each exactly as its state says.

Sending is a state machine on ``OutboundMessage`` rows, each transition a guarded UPDATE
(``... WHERE state = <expected>``), so that two dispatchers never send one row:

``scheduled`` --claim (lease)--> ``scheduled`` + ``claim_token`` --start--> ``sending``
--provider answered--> ``sent`` | ``failed`` | back to ``scheduled`` (429, transient error).
Checks that find the message unwanted end it as ``skipped`` with a reason; a stopped sequence,
a cancelled broadcast or an unreachable identity ends it as ``cancelled``.

Rows of one provider start together, in batches of at most ``SEND_BATCH_MAX`` (one durable
statement), and are then handed to the provider one by one. A row left in ``sending`` past the
lease belongs to a worker that died during its batch: nobody knows whether the message went out,
and Telegram, Messenger and WhatsApp have no idempotency key to ask, so it becomes ``failed`` with
reason ``unknown_outcome`` and is never resent automatically (at most once); staff may resend it by
hand (``outbound_retry``). A worker killed outright (SIGKILL, power loss) thus leaves at most its
batch so: the rows it sent (their ``sent`` records go with the next statement), the one in flight and
the ones not yet called. The price of one durable write per batch instead of one per message; staff
check the chat before resending. Any exit Python sees (an exception, a 429) puts the rows not yet
called back.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import time as dtime
from typing import Any

from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from api.campaigns.selectors import messaging_windows_until
from api.common.errors import ApplicationError
from api.contacts.enums import Channel
from api.contacts.selectors import contacts_can_receive
from api.contacts.services import contact_mark_unreachable
from api.nurture import conf, senders
from api.nurture.models import NurtureProfile, OutboundMessage
from api.nurture.ratelimit import get_rate_limiter, provider_limits
from api.nurture.services.channels import contact_recipient, parse_clock, window_next
from api.nurture.services.outbox import outbound_cancel_for_identity
from api.nurture.services.send_transitions import SentRecords, record_sent, start_sending, unstart
from api.nurture.services.templates import template_drop_inside_window, template_refusal
from api.orders.selectors import contacts_with_open_complaint
from integrations.errors import NotConfigured, PermanentError, RateLimited, TransientError, Unreachable

logger = logging.getLogger(__name__)

State = OutboundMessage.State
Category = OutboundMessage.Category

# Reasons of ``contact_can_receive`` that stop even a service reply: the chat itself is gone.
_SERVICE_BLOCKING = {"no_such_contact", "erased", "no_identity", "unreachable", "unknown_channel"}
# Transient errors back off 30 s, 60 s, 120 s... capped at an hour.
_BACKOFF_FIRST_SECONDS = 30
_BACKOFF_MAX_SECONDS = 3600
# Consent, opt-out and reachability are read for a whole claimed batch at once, and read again when
# older than this at a row's checks; a row's checks are made again when older than this at its send.
# So a STOP recorded meanwhile holds back the batch's later messages within two seconds at most (the
# inbound pipeline also cancels the person's queued rows at once, which ``scheduled -> sending`` honours).
# Asking the contacts app for each message cost three queries, 1.1 ms of a worker's CPU per message
# in ``bench/dispatch.py`` (2026-12-03), more than the provider call.
CONSENT_FRESH_SECONDS = 1.0


@dataclass
class DispatchStats:
    """What one dispatcher run did."""

    claimed: int = 0
    sent: int = 0
    skipped: int = 0
    failed: int = 0
    cancelled: int = 0
    rescheduled: int = 0
    rate_limited: int = 0
    recovered: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def count(self, what: str, reason: str = "", n: int = 1) -> None:
        setattr(self, what, getattr(self, what) + n)
        if reason and n:
            self.reasons[reason] = self.reasons.get(reason, 0) + n


def outbound_recover_stuck(*, now: datetime | None = None) -> int:
    """End rows left in ``sending`` past the lease as ``failed``/``unknown_outcome`` (never resent blindly).

    Such a row's worker died while the provider call was in flight: the message may or may not have
    been delivered and no provider we use can tell us, so it is not sent again automatically.
    Returns how many rows it ended.
    """
    now = now or timezone.now()
    lease = timedelta(seconds=conf.get("NURTURE_CLAIM_LEASE_SECONDS"))
    stuck = list(OutboundMessage.objects.filter(state=State.SENDING, claimed_at__lt=now - lease)
                 .values_list("id", flat=True)[:1000])
    if not stuck:
        return 0
    count = OutboundMessage.objects.filter(id__in=stuck, state=State.SENDING).update(
        state=State.FAILED, reason="unknown_outcome", claim_token="", claimed_until=None, updated_at=now)
    if count:
        logger.warning("%s outbound messages ended as unknown_outcome (worker died during the provider call)",
                       count)
    return count


# --- claiming and releasing rows -------------------------------------------------------------------------


def _claim(*, token: str, batch: int, now: datetime, exclude_channels: Iterable[str] = (),
           channel: str | None = None) -> list[int]:
    """Lease up to ``batch`` due rows to ``token`` and return their ids, oldest due first; rows of
    ``exclude_channels`` (providers this worker is waiting for) are left to others; with ``channel``,
    only that provider's rows.

    PostgreSQL: ``SELECT ... FOR UPDATE SKIP LOCKED`` so concurrent dispatchers take disjoint rows
    without waiting. SQLite (one writer at a time): a guarded ``UPDATE ... WHERE state='scheduled'
    AND lease free`` claims; the rows this token got are read back.
    """
    lease_until = now + timedelta(seconds=conf.get("NURTURE_CLAIM_LEASE_SECONDS"))
    free = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    due = OutboundMessage.objects.filter(free, state=State.SCHEDULED, due_at__lte=now)
    excluded = list(exclude_channels)
    if excluded:
        due = due.exclude(channel__in=excluded)
    if channel is not None:
        due = due.filter(channel=channel)
    due = due.order_by("due_at", "id")
    with transaction.atomic():
        if connection.vendor == "postgresql":
            ids = list(due.select_for_update(skip_locked=True, of=("self",)).values_list("id", flat=True)[:batch])
        else:
            ids = list(due.values_list("id", flat=True)[:batch])
        if not ids:
            return []
        OutboundMessage.objects.filter(free, id__in=ids, state=State.SCHEDULED).update(
            claim_token=token, claimed_until=lease_until)
    return list(OutboundMessage.objects.filter(id__in=ids, claim_token=token, state=State.SCHEDULED)
                .order_by("due_at", "id").values_list("id", flat=True))


def _load_batch(ids: list[int]) -> list[OutboundMessage]:
    """The claimed rows, with their contacts, in claim order (one query)."""
    rows = OutboundMessage.objects.select_related("contact").in_bulk(ids)
    return [rows[i] for i in ids if i in rows]


def _release(message_id: int | list[int], token: str, *, due_at: datetime, reason: str = "") -> int:
    """Give claimed, not yet attempted rows back to the pool, due at ``due_at``; how many went back."""
    fields: dict[str, Any] = {"claim_token": "", "claimed_until": None, "due_at": due_at,
                              "updated_at": timezone.now()}
    if reason:
        fields["reason"] = reason
    ids = message_id if isinstance(message_id, list) else [message_id]
    return OutboundMessage.objects.filter(pk__in=ids, state=State.SCHEDULED, claim_token=token).update(**fields)


def _give_back(ids: list[int], token: str) -> None:
    """Return the rows of a claim that a run did not reach to the pool (also on a crash that Python sees)."""
    OutboundMessage.objects.filter(id__in=ids, claim_token=token, state=State.SCHEDULED).update(
        claim_token="", claimed_until=None)


def _end(message_id: int, token: str, state: str, reason: str) -> bool:
    """End a claimed, not yet attempted row (skipped, cancelled)."""
    return bool(OutboundMessage.objects.filter(pk=message_id, state=State.SCHEDULED, claim_token=token).update(
        state=state, reason=reason[:200], claim_token="", claimed_until=None, updated_at=timezone.now()))


# --- checks at send time (DESIGN rule 3) -------------------------------------------------------------------


@dataclass
class _Verdict:
    action: str  # "send", "skip", "defer"
    reason: str = ""
    until: datetime | None = None


class _SentHistory:
    """Marketing messages sent in the last 30 days to the contacts of one claimed batch, and their profiles.

    Read in three queries per batch and kept up to date with this worker's own sends; a send by another
    worker to the same contact during the batch (a few seconds) is not seen, so the caps may be
    exceeded by one in that rare race. Consent, opt-out and reachability (``can_receive``) are asked
    of the contacts app for the whole batch, and asked again once that answer is older than
    ``CONSENT_FRESH_SECONDS``.
    """

    def __init__(self, contact_ids: Iterable[int], now: datetime):
        contact_ids = set(contact_ids)
        self._contact_ids = contact_ids
        self._consent: dict[str, tuple[float, dict[int, tuple[bool, str]]]] = {}  # channel -> (read at, verdicts)
        self._asked: dict[str, set[int]] = {}  # channel -> contacts whose verdict was used
        # channel -> (read at, contact -> end of the open messaging window)
        self._windows: dict[str, tuple[float, dict[int, datetime]]] = {}
        # Whose complaint case is still open: no marketing to them until staff close it (read from
        # the orders app each batch, never copied, so closing the case resumes marketing at once).
        self.complaining = contacts_with_open_complaint(contact_ids)
        # Nurture preferences (frequency, a pending STOP) of the batch's contacts, read with it.
        self.profiles = {p.contact_id: p for p in NurtureProfile.objects.filter(contact_id__in=contact_ids)}
        self._by_contact: dict[int, list[datetime]] = {}
        since = now - timedelta(days=max(conf.get("NURTURE_MONTHLY_ONLY_DAYS"), 7))
        rows = (OutboundMessage.objects.filter(contact_id__in=contact_ids, category=Category.MARKETING,
                                               state=State.SENT, sent_at__gte=since)
                .order_by("sent_at").values_list("contact_id", "sent_at"))
        for contact_id, sent_at in rows:
            if contact_id is not None and sent_at is not None:
                self._by_contact.setdefault(contact_id, []).append(sent_at)

    def since(self, contact_id: int, since: datetime) -> list[datetime]:
        return [at for at in self._by_contact.get(contact_id, []) if at >= since]

    def add(self, contact_id: int, at: datetime) -> None:
        self._by_contact.setdefault(contact_id, []).append(at)

    def can_receive(self, contact_id: int, channel: str) -> tuple[bool, str]:
        """``contact_can_receive`` of the contacts app, read for the batch at most ``CONSENT_FRESH_SECONDS`` ago."""
        clock = time.monotonic()
        read_at, verdicts = self._consent.get(channel, (0.0, {}))
        if contact_id not in verdicts or clock - read_at > CONSENT_FRESH_SECONDS:
            # The batch's contacts not asked yet on this channel, read again together.
            asked = self._asked.setdefault(channel, set())
            verdicts = contacts_can_receive((self._contact_ids - asked) | {contact_id}, channel)
            self._consent[channel] = (clock, verdicts)
        self._asked.setdefault(channel, set()).add(contact_id)
        return verdicts[contact_id]

    def window_until(self, contact_id: int, channel: str, now: datetime) -> datetime | None:
        """``messaging_window_until`` of the campaigns app, read for the whole batch at once; a window
        found closed is read again (for the batch) once that answer is older than ``CONSENT_FRESH_SECONDS``:
        a message the person wrote since opens it."""
        clock = time.monotonic()
        read_at, windows = self._windows.get(channel, (0.0, None))
        until = windows.get(contact_id) if windows is not None else None
        if windows is None or ((until is None or until <= now) and clock - read_at > CONSENT_FRESH_SECONDS):
            windows = messaging_windows_until(contact_ids=self._contact_ids | {contact_id}, channel=channel, now=now)
            self._windows[channel] = (clock, windows)
            until = windows.get(contact_id)
        return until if until is not None and until > now else None


def _message_window(message: OutboundMessage) -> tuple[dtime | None, dtime | None]:
    """The contact's preferred hours win; else the message's (step's) window; else the default."""
    contact = message.contact
    if contact is not None and contact.preferred_hours_start and contact.preferred_hours_end:
        return contact.preferred_hours_start, contact.preferred_hours_end
    if message.window_start and message.window_end:
        return message.window_start, message.window_end
    return parse_clock(conf.get("NURTURE_WINDOW_START")), parse_clock(conf.get("NURTURE_WINDOW_END"))


def _check_at_send_time(message: OutboundMessage, now: datetime, history: _SentHistory | None = None) -> _Verdict:
    """Consent, opt-out, reachability, an open complaint, frequency, caps and windows, checked now
    (DESIGN rule 3); on WhatsApp outside the 24-hour window, the template and Meta's rules for it
    (``services.templates.template_refusal``). Inside the window a WhatsApp message about to be sent
    drops its template (it goes as text); outside it the row keeps the template that ``deliver`` sends."""
    history = history or _SentHistory([message.contact_id] if message.contact_id else [], now)
    if message.category == Category.STAFF:
        return _Verdict("send")
    contact = message.contact
    if contact is None:
        return _Verdict("skip", "no_contact")
    ok, why = history.can_receive(contact.pk, message.channel)
    # WhatsApp outside the 24-hour window: only an approved template may go (services.templates says
    # which of Meta's rules apply); inside it the message goes as its free text. A service reply
    # without a template is the answer to someone who just wrote: Meta judges it (131047).
    as_template = False
    if message.category == Category.SERVICE:
        # A reply to someone who wrote to us (even "STOP") goes out unless the chat is gone.
        if not ok and why in _SERVICE_BLOCKING:
            return _Verdict("skip", why)
        if message.channel == Channel.WHATSAPP and message.template_name:
            until = history.window_until(contact.pk, Channel.WHATSAPP, now)
            as_template = until is None or until <= now
            refusal = template_refusal(message, now=now, can_receive=(ok, why)) if as_template else ""
            if refusal:
                return _Verdict("skip", refusal)
            if not as_template:
                template_drop_inside_window(message)
        return _Verdict("send")
    if not ok:
        return _Verdict("skip", why)
    if contact.pk in history.complaining:
        return _Verdict("skip", "open_complaint")
    profile = history.profiles.get(contact.pk)
    if profile is not None and profile.frequency == NurtureProfile.Frequency.MONTHLY:
        days = conf.get("NURTURE_MONTHLY_ONLY_DAYS")
        if history.since(contact.pk, now - timedelta(days=days)):
            return _Verdict("skip", "monthly_only")
    if message.channel == Channel.MESSENGER:
        until = history.window_until(contact.pk, Channel.MESSENGER, now)
        if until is None or until <= now:
            return _Verdict("skip", "outside_messaging_window")
    elif message.channel == Channel.WHATSAPP:
        until = history.window_until(contact.pk, Channel.WHATSAPP, now)
        as_template = until is None or until <= now
        refusal = template_refusal(message, now=now, can_receive=(ok, why)) if as_template else ""
        if refusal:
            return _Verdict("skip", refusal)
    start, end = _message_window(message)
    allowed = window_next(now, start, end)
    if allowed > now:
        return _Verdict("defer", "outside_sending_window", allowed)
    cap = conf.get("NURTURE_WEEKLY_CAP")
    recent = history.since(contact.pk, now - timedelta(days=7))
    if len(recent) >= cap:
        if message.enrollment_id:  # a sequence step waits for room; a broadcast is of its day
            return _Verdict("defer", "weekly_cap", recent[len(recent) - cap] + timedelta(days=7, minutes=1))
        return _Verdict("skip", "weekly_cap")
    if message.channel == Channel.WHATSAPP and not as_template:
        template_drop_inside_window(message)
    return _Verdict("send")


# --- sending one row, step by step (its SQL transitions: ``send_transitions``) -------------------------


def _apply_verdict(message: OutboundMessage, token: str, verdict: _Verdict, stats: DispatchStats) -> None:
    """End a row the checks refused (skip) or give it back due later (defer)."""
    if verdict.action == "skip":
        if _end(message.pk, token, State.SKIPPED, verdict.reason):
            stats.count("skipped", verdict.reason)
        return
    until = verdict.until or timezone.now()  # a deferral always says until when
    if _release(message.pk, token, due_at=until, reason=verdict.reason):
        stats.count("rescheduled", verdict.reason)
        if message.enrollment_id and verdict.reason == "weekly_cap":
            # The sequence's later steps keep their spacing behind this one.
            shift = until - message.due_at
            OutboundMessage.objects.filter(enrollment_id=message.enrollment_id, state=State.SCHEDULED,
                                           due_at__gt=message.due_at).exclude(pk=message.pk).update(
                due_at=F("due_at") + shift)


def _refresh_recipient(message: OutboundMessage) -> None:
    """Send to the contact's current identity on the channel (it may have changed since queueing)."""
    if message.contact is None:
        return
    current = contact_recipient(message.contact, message.channel)
    if current and current != message.recipient:
        OutboundMessage.objects.filter(pk=message.pk).update(recipient=current)
        message.recipient = current


def _deliver(message: OutboundMessage, *, limiter: Any, stats: DispatchStats, deliver: Callable[..., str],
             history: _SentHistory, sent: SentRecords) -> float:
    """Call the provider for a row in ``sending`` and record the outcome on it; returns how long the
    whole provider must now wait (its 429's ``retry_after``), else 0."""
    try:
        provider_id = deliver(channel=message.channel, recipient=message.recipient, text=message.text,
                              image_url=message.image_url, reply_markup=message.reply_markup,
                              template_name=message.template_name, template_language=message.template_language,
                              template_parameters=message.template_parameters, message_id=message.pk)
    except Exception as exc:
        _record_failure(message, exc, limiter=limiter, stats=stats)
        return exc.retry_after if isinstance(exc, RateLimited) else 0.0
    sent_at = sent.add(message, provider_id)
    if message.contact_id and message.category == Category.MARKETING:
        history.add(message.contact_id, sent_at)
    stats.count("sent")
    return 0.0


def _record_failure(message: OutboundMessage, exc: Exception, *, limiter: Any, stats: DispatchStats) -> None:
    """What a failed provider call means for a row in ``sending`` (called while ``exc`` is handled).

    A 429 and a transient error put the row back (with ``retry_after`` or a backoff); an unreachable
    identity, a permanent error and our own bug end it as ``failed`` (the last one as
    ``unknown_outcome``: the call may have gone out, so it is not resent blindly).
    """
    sending = OutboundMessage.objects.filter(pk=message.pk, state=State.SENDING)
    released: dict[str, Any] = {"claim_token": "", "claimed_until": None, "updated_at": timezone.now()}
    attempts = message.attempts + 1  # the attempt ``start_sending`` counted
    if isinstance(exc, RateLimited):
        limiter.pause(message.channel, exc.retry_after)
        sending.update(state=State.SCHEDULED, due_at=timezone.now() + timedelta(seconds=exc.retry_after),
                       reason="rate_limited", **released)
        stats.count("rate_limited")
    elif isinstance(exc, Unreachable):
        why = getattr(exc, "reason", "") or "unreachable"
        sending.update(state=State.FAILED, reason=f"unreachable: {why}"[:200], **released)
        stats.count("failed", "unreachable")
        _identity_unreachable(message, why)
    elif isinstance(exc, NotConfigured):
        sending.update(state=State.SKIPPED, reason="channel_not_configured", **released)
        stats.count("skipped", "channel_not_configured")
    elif isinstance(exc, TransientError):
        if attempts >= conf.get("NURTURE_MAX_ATTEMPTS"):
            sending.update(state=State.FAILED, reason=f"transient: {exc.message}"[:200], **released)
            stats.count("failed", "transient")
        else:
            # A transient error (5xx, timeout) may hide a delivered message on a timeout; Telegram
            # answers 5xx before delivering, so the retry is worth the rare duplicate risk only there.
            backoff = min(_BACKOFF_FIRST_SECONDS * 2 ** (attempts - 1), _BACKOFF_MAX_SECONDS)
            sending.update(state=State.SCHEDULED, due_at=timezone.now() + timedelta(seconds=backoff),
                           reason="transient_error", **released)
            stats.count("rescheduled", "transient")
    elif isinstance(exc, PermanentError):
        sending.update(state=State.FAILED, reason=f"permanent: {exc.message}"[:200], **released)
        stats.count("failed", "permanent")
    else:  # our bug, after the call may have gone out: do not resend blindly
        logger.exception("outbound message %s: unexpected error during send", message.pk)
        sending.update(state=State.FAILED, reason=f"unknown_outcome: {exc.__class__.__name__}", **released)
        stats.count("failed", "unknown_outcome")


def _identity_unreachable(message: OutboundMessage, why: str) -> None:
    """The provider says the identity is gone: mark it and cancel its other pending messages."""
    outbound_cancel_for_identity(channel=message.channel, recipient=message.recipient, reason="unreachable")
    if message.contact_id is not None and message.category != Category.STAFF:
        try:
            contact_mark_unreachable(contact_id=message.contact_id, channel=message.channel, reason=why)
        except ApplicationError:
            logger.warning("could not mark contact %s unreachable", message.contact_id)


# --- the run ---------------------------------------------------------------------------------------------

# A worker holds the claimed rows of every provider at once and never sleeps while one of them could
# go: when the row next in turn must wait for its provider (the shared limiter says how long), the
# rows of the other providers go meanwhile. Telegram at 30/s waits 33 ms between two messages, time in
# which Messenger at 300/s takes ten. Only when nothing in hand can go does the worker claim rows of
# the providers that are free, and only when none is due does it sleep until the soonest one frees.
# Rows of one provider go in batches: one limiter call takes the tokens of them all and one durable
# statement starts them, then the provider is called for each in turn. A batch is as large as the
# tokens the provider's bucket holds, so it grows when the worker falls behind (a slow machine) and
# the cost per message falls with it. ``bench/dispatch.py --mixed`` measures it.
SEND_BATCH_MAX = 10  # rows of one provider asked for at once (started together: see ``_send_batch``)
_HAND_MAX_BATCHES = 4  # rows held at most: this many claims (rows of busy providers wait in hand)
_FREE_CLAIM_RETRY_SECONDS = 1.0  # after a claim for the free providers found nothing, ask again after this


@dataclass
class _Held:
    """A claimed row in hand, with the send-time facts read with its claim."""

    message: OutboundMessage
    history: _SentHistory
    checked_at: float | None = None  # when the send-time checks passed (monotonic); then it waits only for
    # its provider, and is checked again once that is older than ``CONSENT_FRESH_SECONDS``


class _Hand:
    """The rows one dispatcher run holds, in a queue per provider (oldest due first), and the time
    each provider's shared bucket frees again."""

    def __init__(self, *, token: str, limiter: Any, stats: DispatchStats, deadline: float,
                 deliver: Callable[..., str], batch_size: int):
        self.token = token
        self.limiter = limiter
        self.stats = stats
        self.deadline = deadline
        self.deliver = deliver
        self.batch_size = batch_size
        self.sent = SentRecords()
        self.queues: dict[str, deque[_Held]] = {}
        self.busy_until: dict[str, float] = {}  # provider -> monotonic time it may be asked again
        self._free_claim_after = 0.0
        self._refill_after: dict[str, float] = {}  # provider -> when to ask again for its rows (none were due)
        self.paused: set[str] = set()  # providers that wait past this run's end (a 429): none of their rows

    def held(self) -> int:
        return sum(len(queue) for queue in self.queues.values())

    def claim(self, exclude: Iterable[str] = (), channel: str | None = None) -> bool:
        """Claim due rows (none of ``exclude``'s providers; only ``channel``'s when given) into the hand;
        False when none was due."""
        ids = _claim(token=self.token, batch=self.batch_size, now=timezone.now(),
                     exclude_channels={*exclude, *self.paused}, channel=channel)
        if not ids:
            return False
        # The sends kept in memory are written before the new rows' caps read them from the table.
        record_sent(self.sent)
        self.stats.claimed += len(ids)
        batch = _load_batch(ids)
        history = _SentHistory([m.contact_id for m in batch if m.contact_id], timezone.now())
        for message in batch:
            self.queues.setdefault(message.channel, deque()).append(_Held(message, history))
        return True

    def claim_for_free_providers(self) -> bool:
        """Everything in hand waits for its provider: claim rows of the others, if any are due."""
        now = time.monotonic()
        if now < self._free_claim_after or self.held() >= _HAND_MAX_BATCHES * self.batch_size:
            return False
        busy = [channel for channel, until in self.busy_until.items() if until > now]
        if self.claim(exclude=busy):
            return True
        self._free_claim_after = now + _FREE_CLAIM_RETRY_SECONDS
        return False

    def refill_dry_providers(self) -> None:
        """A provider free again whose rows in hand ran out gets rows of its own, if any are due: the
        worker busy with the other providers' rows would otherwise leave it idle until they are done.
        (With nothing in hand at all, the run's own claim takes whatever is due.)"""
        if not self.held():
            return
        now = time.monotonic()
        for channel, queue in self.queues.items():
            if (not queue and channel not in self.paused and self.busy_until.get(channel, 0.0) <= now and now >= self._refill_after.get(channel, 0.0)
                    and self.held() < _HAND_MAX_BATCHES * self.batch_size
                    and not self.claim(channel=channel)):
                self._refill_after[channel] = now + _FREE_CLAIM_RETRY_SECONDS

    def next_ready(self) -> str | None:
        """The provider free now whose oldest row in hand is the oldest of all."""
        now = time.monotonic()
        ready = [(queue[0].message.due_at, queue[0].message.pk, channel) for channel, queue in self.queues.items()
                 if queue and self.busy_until.get(channel, 0.0) <= now]
        return min(ready)[2] if ready else None

    def wait_for_a_provider(self) -> None:
        """Sleep until the soonest busy provider frees (the kept sent records are written first when long)."""
        now = time.monotonic()
        waits = [until - now for channel, until in self.busy_until.items() if self.queues.get(channel)]
        wait = min(min(waits, default=0.0), self.deadline - now)
        if self.sent.due_before_sleeping(wait):
            record_sent(self.sent)
        if wait > 0:
            time.sleep(wait)

    def advance(self, channel: str) -> None:
        """Check, pace and send the next rows of ``channel``'s queue; every exit leaves each row in a
        state that says what happened, or back in hand at the head of the queue when the provider must
        wait (also when an error interrupts the run: ``close`` then gives them back).

        The rows were read with their claim; every transition below is guarded by state and claim
        token, so a row cancelled since then is left alone.
        """
        batch = self._take_checked(channel)
        if not batch:
            return
        # A wait for the whole provider (its pace, or the pause after a 429) keeps the rows in hand
        # while the other providers go on; a chat that must wait (1 message per second per chat) or a
        # wait past this run's end gives the row back to the pool until then.
        try:
            grants = self.limiter.acquire_many(channel, [held.message.recipient for held in batch])
        except BaseException:
            self.queues[channel].extendleft(reversed(batch))
            raise
        going: list[_Held] = []
        provider_wait = 0.0
        for index, (held, (wait, scope)) in enumerate(zip(batch, grants, strict=True)):
            if wait <= 0:
                going.append(held)
            elif scope == "chat":
                if _release(held.message.pk, self.token, due_at=timezone.now() + timedelta(seconds=wait)):
                    self.stats.count("rescheduled", "paced")
            else:  # this row and the later ones wait for the provider (the limiter took none of theirs)
                self.queues[channel].extendleft(reversed(batch[index:]))
                provider_wait = wait
                break
        if going:
            self._send_batch(going)
        if provider_wait:  # after the batch: a pause gives back every row in hand, some may have come back
            if time.monotonic() + provider_wait > self.deadline:
                self.pause_provider(channel, provider_wait)
            else:
                self.busy_until[channel] = time.monotonic() + provider_wait

    def _take_checked(self, channel: str) -> list[_Held]:
        """Up to ``SEND_BATCH_MAX`` rows from the head of ``channel``'s queue that passed the send-time
        checks (a refused row ends or is deferred here). A contact's second row stays in the queue for
        the next batch: the caps count the first one's send."""
        queue = self.queues[channel]
        batch: list[_Held] = []
        contacts: set[int | None] = set()
        fresh_since = time.monotonic() - CONSENT_FRESH_SECONDS
        # No more rows than the provider's bucket can ever grant at once (its burst: one on Telegram and
        # WhatsApp at their documented rates, four on Messenger's 300 a second).
        most = min(SEND_BATCH_MAX, max(1, int(provider_limits(channel).burst)))
        try:
            while queue and len(batch) < most:
                held = queue[0]
                if held.message.contact_id is not None and held.message.contact_id in contacts:
                    break
                if (held.checked_at is None or held.checked_at < fresh_since) and not self._check(held):
                    queue.popleft()  # ended or deferred by its checks
                    continue
                batch.append(queue.popleft())
                contacts.add(held.message.contact_id)
        except BaseException:
            queue.extendleft(reversed(batch))
            raise
        return batch

    def _check(self, held: _Held) -> bool:
        """The send-time checks of a row taken from the hand: True when it may go (its recipient made
        current), else the row is ended or deferred as the verdict says."""
        message = held.message
        if message.state != State.SCHEDULED or message.claim_token != self.token:
            return False
        verdict = _check_at_send_time(message, timezone.now(), held.history)
        if verdict.action != "send":
            _apply_verdict(message, self.token, verdict, self.stats)
            return False
        _refresh_recipient(message)
        held.checked_at = time.monotonic()
        return True

    def _send_batch(self, batch: list[_Held]) -> None:
        """Start the rows (one durable statement) and call the provider for each in turn.

        After a 429 the rows not yet called go back to the pool due when the provider frees; so do they
        when the run is interrupted (an exception Python sees), as none of them went out. A row whose
        checks grew older than ``CONSENT_FRESH_SECONDS`` while the ones before it went (a slow provider)
        goes back to the head of the hand to be checked again: a STOP meanwhile holds it back.
        """
        started = start_sending([held.message.pk for held in batch], self.token, self.sent)
        waiting = deque(held for held in batch if held.message.pk in started)  # others were cancelled meanwhile
        provider_wait = 0.0
        first = True  # checked just now by ``_take_checked`` (again if its checks were older than allowed)
        try:
            while waiting and not provider_wait:
                held = waiting[0]
                if not first and time.monotonic() - (held.checked_at or 0.0) > CONSENT_FRESH_SECONDS:
                    unstart([h.message.pk for h in waiting], self.token, due_at=None)
                    for stale in waiting:
                        stale.checked_at = None
                    self.queues.setdefault(held.message.channel, deque()).extendleft(reversed(waiting))
                    waiting.clear()
                    break
                waiting.popleft()
                first = False
                provider_wait = _deliver(held.message, limiter=self.limiter, stats=self.stats, deliver=self.deliver,
                                         history=held.history, sent=self.sent)
        finally:
            if waiting:  # a 429, or an error that interrupts the run
                back = unstart([held.message.pk for held in waiting], self.token,
                                due_at=timezone.now() + timedelta(seconds=provider_wait))
                self.stats.count("rescheduled", "paced" if provider_wait else "interrupted", back)

    def pause_provider(self, channel: str, wait: float) -> None:
        """The provider waits past this run's end (the pause after a 429): its rows in hand go back to
        the pool due when it frees, in one statement, and this run claims none of its rows any more.
        Giving them back one by one and claiming them again cost more than the sends themselves."""
        queue = self.queues.pop(channel, deque())
        self.paused.add(channel)
        back = _release([held.message.pk for held in queue], self.token,
                        due_at=timezone.now() + timedelta(seconds=wait))
        self.stats.count("rescheduled", "paced", back)

    def close(self) -> None:
        """Write the kept sent record and give the rows still in hand back to the pool."""
        record_sent(self.sent)
        left = [held.message.pk for queue in self.queues.values() for held in queue]
        self.queues.clear()
        if left:
            _give_back(left, self.token)


def outbound_dispatch(*, max_seconds: float | None = None, batch_size: int | None = None, limiter: Any = None,
                      deliver: Callable[..., str] | None = None, stop_when_idle: bool = True,
                      idle_sleep: float = 0.2) -> DispatchStats:
    """Claim due rows and send them, every provider at its own pace, until none is due (or
    ``max_seconds`` passed).

    Safe to run in any number of processes at once (claims are disjoint); safe to kill at any
    point: an unstarted claimed row returns to the pool when its lease ends, a row killed during
    the provider call ends as ``unknown_outcome`` (see the module docstring).
    """
    max_seconds = conf.get("NURTURE_DISPATCH_MAX_SECONDS") if max_seconds is None else max_seconds
    stats = DispatchStats()
    stats.recovered = outbound_recover_stuck()
    hand = _Hand(token=uuid.uuid4().hex, limiter=limiter or get_rate_limiter(), stats=stats,
                 deadline=time.monotonic() + max_seconds, deliver=deliver or senders.deliver,
                 batch_size=batch_size or conf.get("NURTURE_DISPATCH_BATCH"))
    try:
        while time.monotonic() < hand.deadline:
            hand.refill_dry_providers()
            channel = hand.next_ready()
            if channel is not None:
                hand.advance(channel)
            elif not hand.held():
                if hand.claim():
                    continue
                if stop_when_idle:
                    break
                record_sent(hand.sent)
                time.sleep(idle_sleep)
            elif not hand.claim_for_free_providers():
                hand.wait_for_a_provider()
    finally:
        hand.close()
    return stats
