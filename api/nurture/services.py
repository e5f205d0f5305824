"""Writes of the nurture app: queueing, dispatching, sequences, broadcasts, the Telegram bot, lead score.

Sending is a state machine on ``OutboundMessage`` rows, each transition a guarded UPDATE
(``... WHERE state = <expected>``), so that two dispatchers never send one row:

``scheduled`` --claim (lease)--> ``scheduled`` + ``claim_token`` --start--> ``sending``
--provider answered--> ``sent`` | ``failed`` | back to ``scheduled`` (429, transient error).
Checks that find the message unwanted end it as ``skipped`` with a reason; a stopped sequence,
a cancelled broadcast or an unreachable identity ends it as ``cancelled``.

A row left in ``sending`` past the lease belongs to a worker that died during the provider
call: nobody knows whether the message went out, and Telegram, Messenger and WhatsApp have no
idempotency key to ask, so it becomes ``failed`` with reason ``unknown_outcome`` and is never
resent automatically (at most once); staff may resend it by hand (``outbound_retry``).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.dateparse import parse_duration

from api.common.errors import ApplicationError, ConflictError, NotFoundError, field_error
from api.nurture import conf, senders
from api.nurture.enums import Purpose
from api.nurture.models import (
    Broadcast,
    Cursor,
    Enrollment,
    NurtureProfile,
    OutboundMessage,
    ScoreEvent,
    Sequence,
    SequenceStep,
    TelegramUpdate,
)
from api.nurture.ratelimit import get_rate_limiter
from integrations.errors import NotConfigured, PermanentError, RateLimited, TransientError, Unreachable

logger = logging.getLogger(__name__)

State = OutboundMessage.State
Category = OutboundMessage.Category
SUPPORTED_CHANNELS = ("telegram", "messenger", "whatsapp")
# Answers to "Comment nous avez-vous connus ?": callback key -> self-reported source.
SOURCE_CHOICES: list[tuple[str, str]] = [
    ("facebook", "Facebook"),
    ("whatsapp", "WhatsApp"),
    ("friend", "Un ami / bouche-à-oreille"),
    ("tasting", "Une dégustation"),
    ("fair", "Un salon / une foire"),
    ("reseller", "Un revendeur"),
    ("other", "Autre"),
]
INTRO_TEXT = ("Bonjour {first_name} ! Bienvenue chez Confiotes 🍹 : sirops, liqueurs et coffrets "
              "faits au Cameroun. Écrivez-nous ici à tout moment ; tapez STOP pour ne plus recevoir de messages.")
SOURCE_QUESTION = "Comment nous avez-vous connus ?"
STOP_OFFER = ("Vous souhaitez moins de messages ? Nous pouvons vous écrire seulement une fois par mois, "
              "ou plus du tout.")
STOP_CONFIRM = "C'est noté : vous ne recevrez plus de messages de Confiotes ici. Tapez /start pour revenir."
MONTHLY_CONFIRM = "C'est noté : vous ne recevrez plus qu'un message par mois."
NEW_LEADS_LISTED = 10  # above this many new contacts in one run, staff get one summary line


def _tz() -> ZoneInfo:
    return ZoneInfo(settings.BUSINESS_TIME_ZONE)


def _parse_time(value: str) -> dtime:
    hours, minutes = value.split(":", 1)
    return dtime(int(hours), int(minutes))


# --- contracts of other apps (imported late: they import nothing of nurture, but load after it) -------


def _touchpoint(**kwargs: Any) -> None:
    """Record a touchpoint through the campaigns app; without it, the event goes to the contact's timeline."""
    try:
        from api.campaigns import services as campaigns
    except ImportError:
        campaigns = None  # type: ignore[assignment]
    if campaigns is not None and hasattr(campaigns, "touchpoint_record"):
        campaigns.touchpoint_record(**kwargs)
        return
    _contact_event(kwargs["contact_id"], kwargs["kind"], f"{kwargs['kind']} on {kwargs['channel']}",
                   {k: v for k, v in kwargs.items() if k in ("campaign_code", "details")})


def _contact_event(contact_id: int, kind: str, summary: str, data: dict | None = None) -> None:
    from api.contacts.services import contact_event_record

    contact_event_record(contact_id=contact_id, kind=kind, summary=summary[:500], data=data or {})


def _messaging_window_until(contact_id: int, channel: str) -> datetime | None:
    try:
        from api.campaigns.selectors import messaging_window_until
    except ImportError:
        return None  # no record of inbound messages: the window counts as closed
    return messaging_window_until(contact_id=contact_id, channel=channel)


# --- templates, channels and windows -------------------------------------------------------------


class _Vars(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def render_text(template: str, contact: Any) -> str:
    """Fill ``{first_name}``, ``{name}``, ``{salutation}``, ``{referral_code}`` with what the contact chose.

    A contact without a first name is greeted by the name they gave, else by nothing (the double
    space left is collapsed). Unknown variables stay as they are rather than failing a send.
    """
    first = getattr(contact, "first_name", "") or getattr(contact, "name", "") or ""
    values = _Vars(first_name=first, name=getattr(contact, "name", "") or first,
                   salutation=getattr(contact, "salutation", "") or "",
                   referral_code=getattr(contact, "referral_code", "") or "")
    try:
        text = template.format_map(values)
    except (ValueError, IndexError):
        text = template
    return " ".join(part for part in text.split(" ") if part != "") if "  " in text else text


def contact_recipient(contact: Any, channel: str) -> str:
    """The identity of ``contact`` on ``channel`` ("" when it has none)."""
    if channel == "telegram":
        return str(contact.telegram_chat_id or "")
    if channel == "messenger":
        return str(contact.facebook_psid or "")
    if channel == "whatsapp":
        return str(contact.whatsapp or contact.phone or "")
    return ""


def channel_choose(contact: Any, channels: Iterable[str]) -> str | None:
    """The first usable channel: the contact's preferred one wins over the sequence's order.

    Usable means the contact has the identity and ``contact_can_receive`` agrees now.
    """
    from api.contacts.selectors import contact_can_receive

    order: list[str] = []
    if getattr(contact, "preferred_channel", "") in SUPPORTED_CHANNELS:
        order.append(contact.preferred_channel)
    order += [c for c in channels if c in SUPPORTED_CHANNELS and c not in order]
    for channel in order:
        if contact_recipient(contact, channel) and contact_can_receive(contact.pk, channel)[0]:
            return channel
    return None


def window_next(at: datetime, start: dtime | None, end: dtime | None) -> datetime:
    """``at`` when it falls in the daily window [start, end) of the business time zone, else the next start.

    A window may cross midnight (22:00-06:00). No window (either bound None, or equal) allows any time.
    """
    if start is None or end is None or start == end:
        return at
    tz = _tz()
    local = at.astimezone(tz)
    now_t = local.time()
    inside = (start <= now_t < end) if start < end else (now_t >= start or now_t < end)
    if inside:
        return at
    candidate = datetime.combine(local.date(), start, tzinfo=tz)
    if candidate <= local:
        candidate += timedelta(days=1)
    return candidate.astimezone(UTC)


def _message_window(message: OutboundMessage) -> tuple[dtime | None, dtime | None]:
    """The contact's preferred hours win; else the message's (step's) window; else the default."""
    contact = message.contact
    if contact is not None and contact.preferred_hours_start and contact.preferred_hours_end:
        return contact.preferred_hours_start, contact.preferred_hours_end
    if message.window_start and message.window_end:
        return message.window_start, message.window_end
    return _parse_time(conf.get("NURTURE_WINDOW_START")), _parse_time(conf.get("NURTURE_WINDOW_END"))


# --- queueing --------------------------------------------------------------------------------------


def _kick_dispatcher() -> None:
    if not getattr(settings, "NURTURE_KICK_DISPATCHER", True):
        return
    try:
        from workers.tasks.nurture import outbound_dispatch_task

        outbound_dispatch_task.apply_async(expires=30)
    except Exception:  # the broker may be down: beat's next tick finds the rows anyway
        logger.warning("could not kick the dispatcher", exc_info=True)


def outbound_enqueue(*, idempotency_key: str, channel: str, recipient: str, text: str,
                     contact_id: int | None = None, category: str = Category.MARKETING,
                     due_at: datetime | None = None, image_url: str = "", reply_markup: dict | None = None,
                     window: tuple[dtime | None, dtime | None] = (None, None), enrollment_id: int | None = None,
                     step_id: int | None = None, broadcast_id: int | None = None) -> OutboundMessage:
    """Queue one message, once per ``idempotency_key`` (a second call returns the first row).

    The dispatcher is kicked after commit; without a broker, beat's next tick finds the row.
    """
    defaults = {"contact_id": contact_id, "channel": channel, "recipient": recipient, "text": text,
                "category": category, "due_at": due_at or timezone.now(), "image_url": image_url,
                "reply_markup": reply_markup, "window_start": window[0], "window_end": window[1],
                "enrollment_id": enrollment_id, "step_id": step_id, "broadcast_id": broadcast_id}
    try:
        with transaction.atomic():
            message, created = OutboundMessage.objects.get_or_create(idempotency_key=idempotency_key[:120],
                                                                     defaults=defaults)
    except IntegrityError:  # a simultaneous call queued it first
        message, created = OutboundMessage.objects.get(idempotency_key=idempotency_key[:120]), False
    if created and message.due_at <= timezone.now() + timedelta(seconds=5):
        transaction.on_commit(_kick_dispatcher)
    return message


def staff_notify(*, key: str, text: str) -> OutboundMessage | None:
    """Tell staff in the configured Telegram chat (once per ``key``); a no-op when no chat is configured."""
    chat = str(settings.TELEGRAM_STAFF_CHAT_ID or "")
    if not chat:
        return None
    return outbound_enqueue(idempotency_key=f"staff:{key}", channel="telegram", recipient=chat, text=text[:4000],
                            category=Category.STAFF)


def outbound_cancel_for_identity(*, channel: str, recipient: str, reason: str) -> int:
    """Cancel every pending message to this identity (it became unreachable). Returns how many."""
    return (OutboundMessage.objects.filter(channel=channel, recipient=recipient, state=State.SCHEDULED)
            .exclude(category=Category.STAFF).update(state=State.CANCELLED, reason=reason[:200],
                                                     claim_token="", claimed_until=None,
                                                     updated_at=timezone.now()))


def outbound_retry(*, message_id: int) -> OutboundMessage:
    """Staff decided to send a failed message again (e.g. an ``unknown_outcome`` they checked)."""
    updated = OutboundMessage.objects.filter(pk=message_id, state=State.FAILED).update(
        state=State.SCHEDULED, due_at=timezone.now(), reason="retried by staff", claim_token="",
        claimed_until=None, updated_at=timezone.now())
    message = OutboundMessage.objects.filter(pk=message_id).first()
    if message is None:
        raise NotFoundError(f"No outbound message #{message_id}.")
    if not updated:
        raise ConflictError(f"Only a failed message can be retried; this one is {message.state}.",
                            code="invalid_state")
    transaction.on_commit(_kick_dispatcher)
    return message


# --- the dispatcher ----------------------------------------------------------------------------------


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

    def count(self, what: str, reason: str = "") -> None:
        setattr(self, what, getattr(self, what) + 1)
        if reason:
            self.reasons[reason] = self.reasons.get(reason, 0) + 1


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


def _claim(*, token: str, batch: int, now: datetime) -> list[int]:
    """Lease up to ``batch`` due rows to ``token`` and return their ids, oldest due first.

    PostgreSQL: ``SELECT ... FOR UPDATE SKIP LOCKED`` so concurrent dispatchers take disjoint rows
    without waiting. SQLite (one writer at a time): a guarded ``UPDATE ... WHERE state='scheduled'
    AND lease free`` claims; the rows this token got are read back.
    """
    lease_until = now + timedelta(seconds=conf.get("NURTURE_CLAIM_LEASE_SECONDS"))
    free = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    due = OutboundMessage.objects.filter(free, state=State.SCHEDULED, due_at__lte=now).order_by("due_at", "id")
    with transaction.atomic():
        if connection.vendor == "postgresql":
            ids = list(due.select_for_update(skip_locked=True, of=("self",)).values_list("id", flat=True)[:batch])
        else:
            ids = list(due.values_list("id", flat=True)[:batch])
        if not ids:
            return []
        OutboundMessage.objects.filter(free, id__in=ids, state=State.SCHEDULED).update(
            claim_token=token, claimed_until=lease_until)
    return list(OutboundMessage.objects.filter(claim_token=token, state=State.SCHEDULED)
                .order_by("due_at", "id").values_list("id", flat=True))


def _release(message_id: int, token: str, *, due_at: datetime, reason: str = "") -> bool:
    fields: dict[str, Any] = {"claim_token": "", "claimed_until": None, "due_at": due_at,
                              "updated_at": timezone.now()}
    if reason:
        fields["reason"] = reason
    return bool(OutboundMessage.objects.filter(pk=message_id, state=State.SCHEDULED, claim_token=token)
                .update(**fields))


def _end(message_id: int, token: str, state: str, reason: str) -> bool:
    """End a claimed, not yet attempted row (skipped, cancelled)."""
    return bool(OutboundMessage.objects.filter(pk=message_id, state=State.SCHEDULED, claim_token=token).update(
        state=state, reason=reason[:200], claim_token="", claimed_until=None, updated_at=timezone.now()))


@dataclass
class _Verdict:
    action: str  # "send", "skip", "defer"
    reason: str = ""
    until: datetime | None = None


_SERVICE_BLOCKING = {"no_such_contact", "erased", "no_identity", "unreachable", "unknown_channel"}


class _SentHistory:
    """Marketing messages sent in the last 30 days to the contacts of one claimed batch, and their profiles.

    Read in two queries per batch and kept up to date with this worker's own sends; a send by another
    worker to the same contact during the batch (a few seconds) is not seen, so the caps may be
    exceeded by one in that rare race. Consent, opt-out and reachability are not read here: they are
    asked of the contacts app for each message, at the moment it is sent.
    """

    def __init__(self, contact_ids: Iterable[int], now: datetime):
        contact_ids = set(contact_ids)
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


def _check_at_send_time(message: OutboundMessage, now: datetime, history: _SentHistory | None = None) -> _Verdict:
    """Consent, opt-out, reachability, frequency, caps and windows, checked now (DESIGN rule 3)."""
    history = history or _SentHistory([message.contact_id] if message.contact_id else [], now)
    if message.category == Category.STAFF:
        return _Verdict("send")
    contact = message.contact
    if contact is None:
        return _Verdict("skip", "no_contact")
    from api.contacts.selectors import contact_can_receive

    ok, why = contact_can_receive(contact.pk, message.channel)
    if message.category == Category.SERVICE:
        # A reply to someone who wrote to us (even "STOP") goes out unless the chat is gone.
        return _Verdict("skip", why) if (not ok and why in _SERVICE_BLOCKING) else _Verdict("send")
    if not ok:
        return _Verdict("skip", why)
    profile = history.profiles.get(contact.pk)
    if profile is not None:
        if profile.stop_offered_at and profile.frequency == NurtureProfile.Frequency.NORMAL:
            return _Verdict("skip", "stop_requested")
        if profile.frequency == NurtureProfile.Frequency.MONTHLY:
            days = conf.get("NURTURE_MONTHLY_ONLY_DAYS")
            if history.since(contact.pk, now - timedelta(days=days)):
                return _Verdict("skip", "monthly_only")
    if message.channel == "messenger":
        until = _messaging_window_until(contact.pk, "messenger")
        if until is None or until <= now:
            return _Verdict("skip", "outside_messaging_window")
    elif message.channel == "whatsapp":
        until = _messaging_window_until(contact.pk, "whatsapp")
        if until is None or until <= now:
            return _Verdict("skip", "template_required")
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
    return _Verdict("send")


@contextmanager
def _relaxed_commit() -> Iterator[None]:
    """A transaction whose commit does not wait for the disk (PostgreSQL ``synchronous_commit = off``).

    Used only for ``sending -> sent``: if the database crashed and lost that commit, the row would
    stay ``sending`` and end as ``unknown_outcome`` (never resent), so durability is not needed
    there, and skipping the flush halves the disk waits per message. ``scheduled -> sending`` stays
    durable: losing it could let a delivered message be sent again.
    """
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        yield


def _send_one(message: OutboundMessage, token: str, *, limiter: Any, stats: DispatchStats, deadline: float,
              deliver: Callable[..., str], history: _SentHistory) -> None:
    """Check, pace, and send one claimed row; every exit leaves the row in a state that says what happened.

    ``message`` was read with the batch; every transition below is guarded by state and claim token,
    so a row cancelled since then is left alone.
    """
    if message.state != State.SCHEDULED or message.claim_token != token:
        return
    now = timezone.now()
    verdict = _check_at_send_time(message, now, history)
    if verdict.action == "skip":
        if _end(message.pk, token, State.SKIPPED, verdict.reason):
            stats.count("skipped", verdict.reason)
        return
    if verdict.action == "defer" and verdict.until is not None:
        if _release(message.pk, token, due_at=verdict.until, reason=verdict.reason):
            stats.count("rescheduled", verdict.reason)
            if message.enrollment_id and verdict.reason == "weekly_cap":
                shift = verdict.until - message.due_at
                OutboundMessage.objects.filter(enrollment_id=message.enrollment_id, state=State.SCHEDULED,
                                               due_at__gt=message.due_at).exclude(pk=message.pk).update(
                    due_at=F("due_at") + shift)
        return
    if message.contact is not None:
        current = contact_recipient(message.contact, message.channel)
        if current and current != message.recipient:
            OutboundMessage.objects.filter(pk=message.pk).update(recipient=current)
            message.recipient = current

    # Pace through the shared limiter: a global wait is slept; a chat that must wait
    # (1 message per second per chat) goes back to the pool until then.
    while True:
        wait, scope = limiter.acquire(message.channel, message.recipient)
        if wait <= 0:
            break
        if scope == "chat" or time.monotonic() + wait > deadline:
            if _release(message.pk, token, due_at=timezone.now() + timedelta(seconds=wait)):
                stats.count("rescheduled", "paced")
            return
        time.sleep(wait)  # the whole provider waits (pace or a 429's retry_after): so does this worker

    started = timezone.now()
    if not OutboundMessage.objects.filter(pk=message.pk, state=State.SCHEDULED, claim_token=token).update(
            state=State.SENDING, claimed_at=started, attempts=F("attempts") + 1, updated_at=started):
        return  # cancelled meanwhile (stop, unreachable, broadcast cancel)
    attempts = message.attempts + 1
    sending = OutboundMessage.objects.filter(pk=message.pk, state=State.SENDING)
    try:
        provider_id = deliver(channel=message.channel, recipient=message.recipient, text=message.text,
                              image_url=message.image_url, reply_markup=message.reply_markup)
    except RateLimited as exc:
        limiter.pause(message.channel, exc.retry_after)
        sending.update(state=State.SCHEDULED, due_at=timezone.now() + timedelta(seconds=exc.retry_after),
                       claim_token="", claimed_until=None, reason="rate_limited", updated_at=timezone.now())
        stats.count("rate_limited")
        return
    except Unreachable as exc:
        why = getattr(exc, "reason", "") or "unreachable"
        sending.update(state=State.FAILED, reason=f"unreachable: {why}"[:200], claim_token="", claimed_until=None,
                       updated_at=timezone.now())
        stats.count("failed", "unreachable")
        _identity_unreachable(message, why)
        return
    except NotConfigured:
        sending.update(state=State.SKIPPED, reason="channel_not_configured", claim_token="", claimed_until=None,
                       updated_at=timezone.now())
        stats.count("skipped", "channel_not_configured")
        return
    except TransientError as exc:
        if attempts >= conf.get("NURTURE_MAX_ATTEMPTS"):
            sending.update(state=State.FAILED, reason=f"transient: {exc.message}"[:200], claim_token="",
                           claimed_until=None, updated_at=timezone.now())
            stats.count("failed", "transient")
        else:
            # A transient error (5xx, timeout) may hide a delivered message on a timeout; Telegram
            # answers 5xx before delivering, so the retry is worth the rare duplicate risk only there.
            backoff = min(30 * 2 ** (attempts - 1), 3600)
            sending.update(state=State.SCHEDULED, due_at=timezone.now() + timedelta(seconds=backoff),
                           claim_token="", claimed_until=None, reason="transient_error", updated_at=timezone.now())
            stats.count("rescheduled", "transient")
        return
    except PermanentError as exc:
        sending.update(state=State.FAILED, reason=f"permanent: {exc.message}"[:200], claim_token="",
                       claimed_until=None, updated_at=timezone.now())
        stats.count("failed", "permanent")
        return
    except Exception as exc:  # our bug, after the call may have gone out: do not resend blindly
        logger.exception("outbound message %s: unexpected error during send", message.pk)
        sending.update(state=State.FAILED, reason=f"unknown_outcome: {exc.__class__.__name__}", claim_token="",
                       claimed_until=None, updated_at=timezone.now())
        stats.count("failed", "unknown_outcome")
        return
    sent_at = timezone.now()
    with _relaxed_commit():
        sending.update(state=State.SENT, provider_message_id=provider_id[:100], sent_at=sent_at, claim_token="",
                       claimed_until=None, reason="", updated_at=sent_at)
    if message.contact_id and message.category == Category.MARKETING:
        history.add(message.contact_id, sent_at)
    stats.count("sent")


def _identity_unreachable(message: OutboundMessage, why: str) -> None:
    """The provider says the identity is gone: mark it and cancel its other pending messages."""
    outbound_cancel_for_identity(channel=message.channel, recipient=message.recipient, reason="unreachable")
    if message.contact_id is not None and message.category != Category.STAFF:
        from api.contacts.services import contact_mark_unreachable

        try:
            contact_mark_unreachable(contact_id=message.contact_id, channel=message.channel, reason=why)
        except ApplicationError:
            logger.warning("could not mark contact %s unreachable", message.contact_id)


def outbound_dispatch(*, max_seconds: float | None = None, batch_size: int | None = None, limiter: Any = None,
                      deliver: Callable[..., str] | None = None, stop_when_idle: bool = True,
                      idle_sleep: float = 0.2) -> DispatchStats:
    """Claim due rows in batches and send them until none is due (or ``max_seconds`` passed).

    Safe to run in any number of processes at once (claims are disjoint); safe to kill at any
    point: an unstarted claimed row returns to the pool when its lease ends, a row killed during
    the provider call ends as ``unknown_outcome`` (see the module docstring).
    """
    limiter = limiter or get_rate_limiter()
    deliver = deliver or senders.deliver
    max_seconds = conf.get("NURTURE_DISPATCH_MAX_SECONDS") if max_seconds is None else max_seconds
    batch_size = batch_size or conf.get("NURTURE_DISPATCH_BATCH")
    deadline = time.monotonic() + max_seconds
    stats = DispatchStats()
    stats.recovered = outbound_recover_stuck()
    while time.monotonic() < deadline:
        token = uuid.uuid4().hex
        ids = _claim(token=token, batch=batch_size, now=timezone.now())
        if not ids:
            if stop_when_idle:
                break
            time.sleep(idle_sleep)
            continue
        stats.claimed += len(ids)
        try:
            batch = OutboundMessage.objects.select_related("contact").in_bulk(ids)
            history = _SentHistory([m.contact_id for m in batch.values() if m.contact_id], timezone.now())
            for message_id in ids:
                if time.monotonic() >= deadline:
                    break
                if message_id in batch:
                    _send_one(batch[message_id], token, limiter=limiter, stats=stats, deadline=deadline,
                              deliver=deliver, history=history)
        finally:
            # Give back what this run did not reach (also on a crash that Python sees).
            OutboundMessage.objects.filter(claim_token=token, state=State.SCHEDULED).update(
                claim_token="", claimed_until=None)
    return stats


# --- sequences and enrollments --------------------------------------------------------------------------


def _validate_channels(channels: list[str]) -> None:
    bad = [c for c in channels if c not in SUPPORTED_CHANNELS]
    if bad or not channels:
        raise ApplicationError("Channels must be a non-empty list of telegram, messenger, whatsapp.",
                               code="validation_error", errors=[field_error("channels", f"Unknown: {bad}")])


def _validate_audience(audience: dict[str, Any]) -> None:
    from api.contacts.selectors import contacts_audience

    contacts_audience(audience)  # raises a 400 on an unknown filter


@transaction.atomic
def sequence_create(*, name: str, steps: list[dict[str, Any]], purpose: str = Purpose.MANUAL,
                    campaign_code: str = "", audience: dict[str, Any] | None = None,
                    channels: list[str] | None = None, stop_on_order: bool = True, stop_on_reply: bool = False,
                    is_active: bool = True) -> Sequence:
    """Create a sequence with its steps (``delay``, ``text``, ``image_url``, ``window_start``/``end``)."""
    channels = list(channels or ["telegram", "messenger", "whatsapp"])
    audience = dict(audience or {})
    _validate_channels(channels)
    _validate_audience(audience)
    if purpose == Purpose.CAMPAIGN and not campaign_code:
        raise ApplicationError("A campaign sequence needs its campaign code.", code="validation_error",
                               errors=[field_error("campaign_code", "Required for purpose campaign.", "required")])
    sequence = Sequence(name=name, purpose=purpose, campaign_code=campaign_code.strip().upper(), audience=audience,
                        channels=channels, stop_on_order=stop_on_order, stop_on_reply=stop_on_reply,
                        is_active=is_active)
    sequence.full_clean()
    sequence.save()
    for position, step in enumerate(steps, start=1):
        SequenceStep.objects.create(sequence=sequence, position=position, delay=_duration(step.get("delay"), position),
                                    text=step["text"], image_url=step.get("image_url") or "",
                                    window_start=_clock(step.get("window_start")),
                                    window_end=_clock(step.get("window_end")))
    return sequence


def _duration(value: Any, position: int) -> timedelta:
    if value is None or value == "":
        return timedelta()
    if isinstance(value, timedelta):
        return value
    parsed = parse_duration(str(value))
    if parsed is None or parsed < timedelta():
        raise ApplicationError("A step delay is a positive duration such as `1 00:00:00`.", code="validation_error",
                               errors=[field_error(f"steps[{position - 1}].delay", "Invalid duration.")])
    return parsed


def _clock(value: Any) -> dtime | None:
    if value is None or value == "" or isinstance(value, dtime):
        return value or None
    return _parse_time(str(value)[:5])


@transaction.atomic
def sequence_update(*, sequence_id: int, **fields: Any) -> Sequence:
    """Change a sequence's settings (not its steps); running enrollments keep their queued messages."""
    sequence = Sequence.objects.select_for_update().filter(pk=sequence_id).first()
    if sequence is None:
        raise NotFoundError(f"No sequence #{sequence_id}.")
    if "channels" in fields:
        _validate_channels(fields["channels"])
    if "audience" in fields:
        _validate_audience(fields["audience"])
    for key, value in fields.items():
        setattr(sequence, key, value)
    sequence.full_clean()
    sequence.save()
    return sequence


def _audience_matches(contact_id: int, audience: dict[str, Any]) -> bool:
    from api.contacts.selectors import contacts_audience

    return contacts_audience(audience).filter(pk=contact_id).exists()


def enrollment_create(*, sequence_id: int, contact_id: int, trigger: str, trigger_ref: str = "",
                      enrolled_by: Any = None, check_audience: bool = True,
                      now: datetime | None = None) -> Enrollment | None:
    """Enroll a contact and queue every step as an ``OutboundMessage`` (due times from the delays).

    Returns None (nothing done) when the sequence is inactive, the contact is outside its audience,
    already active in it, or has no usable channel. Idempotent per ``(sequence, contact, trigger_ref)``.
    """
    from api.contacts.models import Contact

    now = now or timezone.now()
    with transaction.atomic():
        sequence = Sequence.objects.filter(pk=sequence_id).first()
        if sequence is None:
            raise NotFoundError(f"No sequence #{sequence_id}.")
        contact = Contact.objects.filter(pk=contact_id, merged_into__isnull=True, erased_at__isnull=True).first()
        if contact is None:
            raise NotFoundError(f"No contact #{contact_id}.")
        if not sequence.is_active:
            return None
        if Enrollment.objects.filter(sequence=sequence, contact=contact, state=Enrollment.State.ACTIVE).exists():
            return None
        if Enrollment.objects.filter(sequence=sequence, contact=contact, trigger_ref=trigger_ref).exists():
            return None
        if check_audience and sequence.audience and not _audience_matches(contact.pk, sequence.audience):
            return None
        channel = channel_choose(contact, sequence.channels)
        if channel is None:
            return None
        try:
            with transaction.atomic():
                enrollment = Enrollment.objects.create(sequence=sequence, contact=contact, trigger=trigger[:40],
                                                       trigger_ref=trigger_ref[:100],
                                                       enrolled_by=enrolled_by if getattr(enrolled_by, "pk", None)
                                                       else None)
        except IntegrityError:
            return None
        due = now
        recipient = contact_recipient(contact, channel)
        for step in sequence.steps.order_by("position"):
            due = due + step.delay
            outbound_enqueue(idempotency_key=f"seq:{enrollment.pk}:{step.position}", channel=channel,
                             recipient=recipient, text=render_text(step.text, contact), contact_id=contact.pk,
                             due_at=due, image_url=step.image_url, window=(step.window_start, step.window_end),
                             enrollment_id=enrollment.pk, step_id=step.pk)
    return enrollment


def enrollment_stop(*, enrollment_id: int, reason: str) -> Enrollment:
    """Stop one enrollment and cancel its queued messages. Idempotent."""
    with transaction.atomic():
        enrollment = Enrollment.objects.select_for_update().filter(pk=enrollment_id).first()
        if enrollment is None:
            raise NotFoundError(f"No enrollment #{enrollment_id}.")
        if enrollment.state == Enrollment.State.ACTIVE:
            enrollment.state, enrollment.stopped_reason, enrollment.ended_at = (
                Enrollment.State.STOPPED, reason[:100], timezone.now())
            enrollment.save(update_fields=["state", "stopped_reason", "ended_at"])
            OutboundMessage.objects.filter(enrollment=enrollment, state=State.SCHEDULED).update(
                state=State.CANCELLED, reason=f"sequence stopped: {reason}"[:200], claim_token="",
                claimed_until=None, updated_at=timezone.now())
    return enrollment


def enrollments_stop_for_contact(*, contact_id: int, reason: str, on_order: bool = False, on_reply: bool = False,
                                 keep_purposes: Iterable[str] = ()) -> int:
    """Stop the contact's active enrollments whose stop conditions match ``reason``. Returns how many."""
    qs = Enrollment.objects.filter(contact_id=contact_id, state=Enrollment.State.ACTIVE)
    if on_order:
        qs = qs.filter(sequence__stop_on_order=True)
    if on_reply:
        qs = qs.filter(sequence__stop_on_reply=True)
    qs = qs.exclude(sequence__purpose__in=list(keep_purposes))
    ids = list(qs.values_list("id", flat=True))
    for enrollment_id in ids:
        enrollment_stop(enrollment_id=enrollment_id, reason=reason)
    return len(ids)


def enrollments_complete(*, now: datetime | None = None) -> int:
    """Mark active enrollments without any pending message as completed."""
    pending = OutboundMessage.objects.filter(enrollment__isnull=False, state__in=[State.SCHEDULED, State.SENDING])
    active = Enrollment.objects.filter(state=Enrollment.State.ACTIVE).exclude(
        pk__in=pending.values("enrollment_id"))
    return active.update(state=Enrollment.State.COMPLETED, ended_at=now or timezone.now())


def _cursor(name: str, initial: Callable[[], int]) -> Cursor:
    cursor = Cursor.objects.select_for_update().filter(name=name).first()
    if cursor is None:
        try:
            with transaction.atomic():
                cursor = Cursor.objects.create(name=name, value=initial())
        except IntegrityError:
            cursor = Cursor.objects.select_for_update().get(name=name)
    return cursor


def new_contacts_enroll(*, limit: int = 500, now: datetime | None = None) -> int:
    """Trigger "new contact": enroll contacts created since the cursor into the introduction sequence(s).

    The cursor (``Cursor`` row ``new_contacts``) is the last contact id handled, moved in the same
    transaction as the enrollments, so a crash re-runs only an uncommitted batch. On its first run it
    starts from contacts created in the last 24 hours, not from the whole file.
    """
    from api.contacts.models import Contact

    now = now or timezone.now()
    with transaction.atomic():
        cursor = _cursor("new_contacts", lambda: (
            Contact.objects.filter(created_at__lt=now - timedelta(days=1)).order_by("-id")
            .values_list("id", flat=True).first() or 0))
        contacts = list(Contact.objects.filter(pk__gt=cursor.value, merged_into__isnull=True)
                        .order_by("id")[:limit])
        sequences = list(Sequence.objects.filter(purpose=Purpose.INTRODUCTION, is_active=True))
        enrolled = 0
        # Staff hear of each new lead, but a CSV import of hundreds is one line, not hundreds.
        if len(contacts) > NEW_LEADS_LISTED:
            staff_notify(key=f"new_leads:{contacts[0].pk}-{contacts[-1].pk}",
                         text=f"🆕 {len(contacts)} nouveaux contacts (#{contacts[0].pk} à #{contacts[-1].pk}).")
        for contact in contacts:
            if len(contacts) <= NEW_LEADS_LISTED:
                staff_notify(key=f"new_lead:{contact.pk}",
                             text=f"🆕 Nouveau contact : {contact.display_name} (#{contact.pk}, "
                                  f"{contact.acquisition_channel or 'source inconnue'})")
            for sequence in sequences:
                if enrollment_create(sequence_id=sequence.pk, contact_id=contact.pk, trigger="new_contact",
                                     now=now):
                    enrolled += 1
        if contacts:
            cursor.value = contacts[-1].pk
            cursor.save(update_fields=["value", "updated_at"])
    return enrolled


def monthly_messages_enroll(*, now: datetime | None = None, limit: int = 5000) -> int:
    """Enroll every audience contact into each monthly sequence once per calendar month (business time)."""
    from api.contacts.selectors import contacts_audience

    now = now or timezone.now()
    month = now.astimezone(_tz()).strftime("%Y-%m")
    enrolled = 0
    for sequence in Sequence.objects.filter(purpose=Purpose.MONTHLY, is_active=True):
        # Last month's message, if still queued (held by a window or a cap), gives way to this month's.
        stale = Enrollment.objects.filter(sequence=sequence, state=Enrollment.State.ACTIVE).exclude(
            trigger_ref=f"month:{month}").values_list("id", flat=True)
        for enrollment_id in list(stale):
            enrollment_stop(enrollment_id=enrollment_id, reason="superseded by next month")
        done = Enrollment.objects.filter(sequence=sequence, trigger_ref=f"month:{month}").values("contact_id")
        audience = contacts_audience(sequence.audience).exclude(pk__in=done)
        for contact_id in audience.values_list("id", flat=True)[:limit]:
            if enrollment_create(sequence_id=sequence.pk, contact_id=contact_id, trigger="monthly",
                                 trigger_ref=f"month:{month}", check_audience=False, now=now):
                enrolled += 1
    return enrolled


# --- broadcasts -------------------------------------------------------------------------------------------


def broadcast_create(*, name: str, text: str, send_at: datetime, audience: dict[str, Any] | None = None,
                     channels: list[str] | None = None, image_url: str = "", created_by: Any = None) -> Broadcast:
    """Plan a broadcast; beat queues its messages at ``send_at``."""
    audience = dict(audience or {})
    channels = list(channels or ["telegram", "messenger", "whatsapp"])
    _validate_channels(channels)
    _validate_audience(audience)
    broadcast = Broadcast(name=name, text=text, send_at=send_at, audience=audience, channels=channels,
                          image_url=image_url, created_by=created_by if getattr(created_by, "pk", None) else None)
    broadcast.full_clean()
    broadcast.save()
    return broadcast


def broadcast_start(*, broadcast_id: int, now: datetime | None = None) -> int:
    """Queue one message per audience contact (on their best channel), once.

    The ``scheduled -> running`` transition and every row are one transaction: a crash leaves the
    broadcast scheduled with nothing queued, and a second run finds it running and does nothing.
    A contact without any usable channel gets a ``skipped`` row, so that progress adds up to the total.
    """
    from api.contacts.selectors import contacts_audience

    now = now or timezone.now()
    with transaction.atomic():
        if not Broadcast.objects.filter(pk=broadcast_id, state=Broadcast.State.SCHEDULED).update(
                state=Broadcast.State.RUNNING):
            return 0
        broadcast = Broadcast.objects.get(pk=broadcast_id)
        rows: list[OutboundMessage] = []
        for contact in contacts_audience(broadcast.audience).order_by("id").iterator(chunk_size=1000):
            order = ([contact.preferred_channel] if contact.preferred_channel in broadcast.channels else []) + [
                c for c in broadcast.channels if c != contact.preferred_channel]
            channel = next((c for c in order if contact_recipient(contact, c)), None)
            row = OutboundMessage(contact=contact, channel=channel or order[0],
                                  recipient=contact_recipient(contact, channel) if channel else "",
                                  text=render_text(broadcast.text, contact), image_url=broadcast.image_url,
                                  due_at=max(broadcast.send_at, now), broadcast=broadcast,
                                  idempotency_key=f"bc:{broadcast.pk}:{contact.pk}")
            if channel is None:
                row.state, row.reason = State.SKIPPED, "no_channel"
            rows.append(row)
        OutboundMessage.objects.bulk_create(rows, batch_size=500, ignore_conflicts=True)
        broadcast.total = len(rows)
        broadcast.save(update_fields=["total"])
        transaction.on_commit(_kick_dispatcher)
    return len(rows)


def broadcasts_start_due(*, now: datetime | None = None) -> int:
    """Start every scheduled broadcast whose time has come. Returns how many messages were queued."""
    now = now or timezone.now()
    ids = list(Broadcast.objects.filter(state=Broadcast.State.SCHEDULED, send_at__lte=now)
               .values_list("id", flat=True))
    return sum(broadcast_start(broadcast_id=i, now=now) for i in ids)


def broadcast_cancel(*, broadcast_id: int) -> Broadcast:
    """Cancel a broadcast: nothing more goes out; what was sent stays sent. Idempotent."""
    with transaction.atomic():
        broadcast = Broadcast.objects.select_for_update().filter(pk=broadcast_id).first()
        if broadcast is None:
            raise NotFoundError(f"No broadcast #{broadcast_id}.")
        if broadcast.state != Broadcast.State.CANCELLED:
            broadcast.state, broadcast.cancelled_at = Broadcast.State.CANCELLED, timezone.now()
            broadcast.save(update_fields=["state", "cancelled_at"])
        OutboundMessage.objects.filter(broadcast=broadcast, state=State.SCHEDULED).update(
            state=State.CANCELLED, reason="broadcast cancelled", claim_token="", claimed_until=None,
            updated_at=timezone.now())
    return broadcast


# --- lead score --------------------------------------------------------------------------------------------


def _profile(contact_id: int) -> NurtureProfile:
    profile, _ = NurtureProfile.objects.get_or_create(contact_id=contact_id)
    return profile


def lead_score_record(*, contact_id: int, kind: str, ref: str, points: int | None = None) -> int:
    """Add the points of ``kind`` to the contact's lead score, once per ``ref``; returns the new score.

    Crossing ``NURTURE_MATURE_THRESHOLD`` marks a suspect or prospect mature (once): a timeline
    event and a staff notification. Other apps call this for link clicks, tastings, feedback.
    """
    from api.contacts.models import Contact

    value = conf.score_points().get(kind, 0) if points is None else points
    with transaction.atomic():
        try:
            with transaction.atomic():
                ScoreEvent.objects.create(contact_id=contact_id, kind=kind[:40], points=value, ref=ref[:120])
        except IntegrityError:
            return _profile(contact_id).lead_score
        profile = _profile(contact_id)
        NurtureProfile.objects.filter(pk=profile.pk).update(lead_score=F("lead_score") + value)
        profile.refresh_from_db()
        contact = Contact.objects.get(pk=contact_id)
        if (profile.matured_at is None and profile.lead_score >= conf.get("NURTURE_MATURE_THRESHOLD")
                and contact.lifecycle_stage in ("suspect", "prospect")):
            profile.matured_at = timezone.now()
            profile.save(update_fields=["matured_at", "updated_at"])
            _contact_event(contact_id, "matured", f"Prospect mûr : score {profile.lead_score}",
                           {"score": profile.lead_score})
            staff_notify(key=f"mature:{contact_id}",
                         text=f"🌟 Prospect mûr : {contact.display_name} (#{contact_id}), score {profile.lead_score}. "
                              "À contacter personnellement.")
    return profile.lead_score


# --- orders ------------------------------------------------------------------------------------------------


def order_event_handle(event: Any) -> None:
    """Listener of ``api.orders.events``: an order stops sequences, a delivery starts the after-sale one.

    Also tells staff of a new order and thanks happy customers with their referral code.
    """
    if not event.contact_id:
        return
    if event.kind == "created" and event.is_sample:
        return  # a tasting sample is not a purchase
    if event.kind == "created":
        enrollments_stop_for_contact(contact_id=event.contact_id, reason="ordered", on_order=True)
        staff_notify(key=f"order:{event.order_id}",
                     text=f"🛒 Nouvelle commande {event.order_number} : {event.total_xaf} XAF "
                          f"(contact #{event.contact_id}).")
    elif event.kind == "status_changed" and event.status == "delivered":
        for sequence in Sequence.objects.filter(purpose=Purpose.AFTER_SALE, is_active=True):
            enrollment_create(sequence_id=sequence.pk, contact_id=event.contact_id, trigger="delivered_order",
                              trigger_ref=f"order:{event.order_id}")
    elif event.kind == "feedback":
        lead_score_record(contact_id=event.contact_id, kind="feedback", ref=f"feedback:{event.order_id}")
        if event.rating is not None and event.rating >= 4:
            from api.contacts.models import Contact

            contact = Contact.objects.get(pk=event.contact_id)
            channel = channel_choose(contact, SUPPORTED_CHANNELS)
            if channel:
                outbound_enqueue(
                    idempotency_key=f"referral:{event.order_id}", channel=channel,
                    recipient=contact_recipient(contact, channel), contact_id=contact.pk,
                    text=render_text("Merci {first_name} ! Offrez à vos proches une remise sur leur première "
                                     "commande avec votre code {referral_code}.", contact))


# --- replenishment ------------------------------------------------------------------------------------------


def replenishment_plan(*, now: datetime | None = None, limit: int = 2000) -> int:
    """From each customer's usual gap between orders, remind them when they should run out.

    The usual gap is the median of the gaps between their last (up to 6) non-cancelled orders;
    a customer with 2 orders or more is due at last order + gap. When that day comes (business time):
    a reseller's owner gets a follow-up task, anyone else a reminder message. Once per last order.
    """
    from api.contacts.models import Contact
    from api.orders.models import Order

    now = now or timezone.now()
    today: date = now.astimezone(_tz()).date()
    done = 0
    orders = (Order.objects.exclude(status__in=["cancelled", "refunded"]).filter(is_sample=False)
              .order_by("contact_id", "-created_at").values_list("contact_id", "id", "created_at"))
    history: dict[int, list[tuple[int, datetime]]] = {}
    for contact_id, order_id, created_at in orders.iterator(chunk_size=2000):
        rows = history.setdefault(contact_id, [])
        if len(rows) < 6:
            rows.append((order_id, created_at))
    for contact_id, rows in list(history.items())[:limit]:
        if len(rows) < 2:
            continue
        gaps = sorted((rows[i][1] - rows[i + 1][1]) for i in range(len(rows) - 1))
        gap = gaps[len(gaps) // 2]
        if gap < timedelta(days=3):
            continue
        due = rows[0][1] + gap
        profile = _profile(contact_id)
        if profile.replenishment_due_at != due:
            NurtureProfile.objects.filter(pk=profile.pk).update(replenishment_due_at=due)
        if due.astimezone(_tz()).date() > today:
            continue
        key = f"replenish:{contact_id}:{rows[0][0]}"
        if OutboundMessage.objects.filter(idempotency_key=key).exists() or ScoreEvent.objects.filter(ref=key).exists():
            continue
        contact = Contact.objects.filter(pk=contact_id, merged_into__isnull=True, erased_at__isnull=True).first()
        if contact is None:
            continue
        if contact.segment == "reseller":
            from api.contacts.services import task_create

            with transaction.atomic():
                task_create(contact_id=contact_id, kind="call", due_at=now, owner=contact.owner,
                            note="Réassort probable : l'intervalle habituel entre ses commandes est écoulé.")
                ScoreEvent.objects.create(contact_id=contact_id, kind="replenishment_task", points=0, ref=key)
        else:
            channel = channel_choose(contact, SUPPORTED_CHANNELS)
            if channel is None:
                continue
            outbound_enqueue(idempotency_key=key, channel=channel, recipient=contact_recipient(contact, channel),
                             contact_id=contact_id,
                             text=render_text("Bonjour {first_name}, votre dernier sirop Confiotes doit bientôt être "
                                              "fini 🙂 Voulez-vous qu'on vous prépare la même commande ?", contact))
        done += 1
    return done


# --- the Telegram bot ---------------------------------------------------------------------------------------


def telegram_update_receive(*, payload: dict[str, Any]) -> TelegramUpdate:
    """Store an update (webhook or polling) once per ``update_id`` and process it if not done yet."""
    from integrations.telegram import parse_update

    try:
        update = parse_update(payload)
    except ValueError as exc:
        raise ApplicationError(str(exc), code="invalid_update",
                               errors=[field_error("update_id", "An integer update_id is required.")]) from None
    row, _ = TelegramUpdate.objects.get_or_create(
        update_id=update.update_id,
        defaults={"kind": update.kind, "chat_id": str(update.chat_id or ""), "payload": payload})
    if row.processed_at is None:
        telegram_update_process(update_id=update.update_id)
        row.refresh_from_db()
    return row


def telegram_update_process(*, update_id: int) -> bool:
    """Apply one stored update, exactly once: row lock + ``processed_at`` in the same transaction.

    Returns False when it was already processed. An exception rolls everything back (the update
    stays unprocessed and a redelivery of the webhook tries again).
    """
    from integrations.telegram import parse_update

    with transaction.atomic():
        row = TelegramUpdate.objects.select_for_update().filter(update_id=update_id).first()
        if row is None or row.processed_at is not None:
            return False
        update = parse_update(row.payload)
        if update.kind == "message" and update.chat_id is not None and update.chat_type in (None, "private"):
            if update.is_start:
                _bot_start(update)
            elif update.is_stop:
                _bot_stop(update)
            elif update.text:
                _bot_inbound(update)
        elif update.kind == "callback_query" and update.chat_id is not None:
            _bot_callback(update)
        elif update.kind == "my_chat_member" and update.chat_id is not None and update.blocked:
            _bot_blocked(update)
        row.processed_at = timezone.now()
        row.save(update_fields=["processed_at"])
    return True


def _tg_contact(update: Any, **extra: Any) -> Any:
    from api.contacts.models import Contact
    from api.contacts.services import contact_upsert

    user = update.user
    names: dict[str, Any] = {}
    if not Contact.objects.filter(telegram_chat_id=str(update.chat_id)).exists():
        # Names come from Telegram only for a new contact: a name staff or the person gave later wins.
        names = {"first_name": (user.first_name if user else None) or None,
                 "last_name": (user.last_name if user else None) or None}
    return contact_upsert(telegram_chat_id=str(update.chat_id),
                          telegram_username=(user.username if user else None) or None, **names, **extra)


def _reply(update: Any, contact: Any, suffix: str, text: str, reply_markup: dict | None = None) -> None:
    outbound_enqueue(idempotency_key=f"tg:{update.update_id}:{suffix}", channel="telegram",
                     recipient=str(update.chat_id), text=text, contact_id=contact.pk, category=Category.SERVICE,
                     reply_markup=reply_markup)


def _bot_start(update: Any) -> None:
    """``/start [code]``: contact, consent, bot-start touchpoint, intro, "how did you hear of us", enrollments."""
    from api.contacts.models import Contact
    from api.contacts.services import consent_grant
    from integrations.telegram import inline_keyboard

    code = (update.start_payload or "").strip().upper()
    known = Contact.objects.filter(telegram_chat_id=str(update.chat_id)).exists()
    result = _tg_contact(update, **({} if known else {"acquisition_channel": "telegram"}))
    contact = result.contact
    consent_grant(contact_id=contact.pk, channel="telegram", how="bot /start")
    _touchpoint(contact_id=contact.pk, channel="telegram", kind="bot_start", campaign_code=code or None,
                provider_event_id=f"tg:{update.update_id}", details={"payload": update.start_payload or ""})
    profile = _profile(contact.pk)
    if profile.stop_offered_at:  # coming back with /start ends a pending STOP
        NurtureProfile.objects.filter(pk=profile.pk).update(stop_offered_at=None)
    _reply(update, contact, "intro", render_text(INTRO_TEXT, contact))
    if not contact.self_reported_source:
        rows = [[(label, f"src:{key}")] for key, label in SOURCE_CHOICES]
        _reply(update, contact, "source", SOURCE_QUESTION, inline_keyboard(rows))
    lead_score_record(contact_id=contact.pk, kind="bot_start", ref=f"tg:{update.update_id}")
    if result.created:
        staff_notify(key=f"new_lead:{contact.pk}",
                     text=f"🆕 Nouveau prospect Telegram : {contact.display_name}"
                          f"{' @' + contact.telegram_username if contact.telegram_username else ''} (#{contact.pk})"
                          f"{', campagne ' + code if code else ''}.")
    sequences = list(Sequence.objects.filter(purpose=Purpose.CAMPAIGN, campaign_code=code, is_active=True)) if code \
        else []
    if not sequences and result.created:
        sequences = list(Sequence.objects.filter(purpose=Purpose.INTRODUCTION, is_active=True))
    for sequence in sequences:
        enrollment_create(sequence_id=sequence.pk, contact_id=contact.pk,
                          trigger="bot_start" if code else "new_contact")


def _stop_buttons() -> dict[str, Any]:
    from integrations.telegram import inline_keyboard

    return inline_keyboard([[("Un message par mois", "freq:monthly")], [("Ne plus rien recevoir", "stop:all")]])


def _bot_stop(update: Any) -> None:
    """STOP: first offer "monthly only" (marketing is held meanwhile); a second STOP opts out at once."""
    contact = _tg_contact(update).contact
    profile = _profile(contact.pk)
    if profile.stop_offered_at is None:
        NurtureProfile.objects.filter(pk=profile.pk).update(stop_offered_at=timezone.now())
        _contact_event(contact.pk, "stop_requested", "A demandé STOP sur Telegram : moins de messages proposé")
        _reply(update, contact, "stop-offer", STOP_OFFER, _stop_buttons())
    else:
        _opt_out_telegram(update, contact)


def _opt_out_telegram(update: Any, contact: Any) -> None:
    from api.contacts.services import consent_revoke

    consent_revoke(contact_id=contact.pk, channel="telegram", how="bot STOP")
    enrollments_stop_for_contact(contact_id=contact.pk, reason="opted_out")
    OutboundMessage.objects.filter(contact_id=contact.pk, channel="telegram", state=State.SCHEDULED,
                                   category=Category.MARKETING).update(state=State.CANCELLED, reason="opted_out",
                                                                       claim_token="", claimed_until=None)
    NurtureProfile.objects.filter(contact_id=contact.pk).update(stop_offered_at=None)
    _reply(update, contact, "stop-confirm", STOP_CONFIRM)


def _bot_callback(update: Any) -> None:
    """Inline buttons: the self-reported source, or the answer to the STOP offer."""
    data = update.callback_data or ""
    contact = _tg_contact(update).contact
    if update.callback_query_id:
        query_id = update.callback_query_id

        def answer() -> None:
            try:
                senders.telegram_client().answer_callback_query(query_id)
            except Exception:  # a late or failed answer only leaves a spinner on the button
                logger.info("answerCallbackQuery failed", exc_info=True)

        transaction.on_commit(answer)
    if data.startswith("src:"):
        label = dict(SOURCE_CHOICES).get(data[4:])
        if label is None:
            return
        from api.contacts.services import contact_upsert

        contact_upsert(telegram_chat_id=str(update.chat_id), self_reported_source=label, create=False)
        _touchpoint(contact_id=contact.pk, channel="telegram", kind="self_reported_source",
                    provider_event_id=f"tg:{update.update_id}", details={"source": label})
        lead_score_record(contact_id=contact.pk, kind="self_reported_source", ref=f"tg:{update.update_id}")
        _reply(update, contact, "source-thanks", "Merci ! 🙏")
    elif data == "freq:monthly":
        NurtureProfile.objects.filter(contact_id=contact.pk).update(
            frequency=NurtureProfile.Frequency.MONTHLY, stop_offered_at=None)
        enrollments_stop_for_contact(contact_id=contact.pk, reason="monthly_only", keep_purposes=[Purpose.MONTHLY])
        _contact_event(contact.pk, "frequency_changed", "Ne veut plus qu'un message par mois (Telegram)")
        _reply(update, contact, "monthly-confirm", MONTHLY_CONFIRM)
    elif data == "stop:all":
        _opt_out_telegram(update, contact)


def _bot_inbound(update: Any) -> None:
    """Any other text: an inbound touchpoint, a reply stop condition, points, and a copy to staff."""
    contact = _tg_contact(update).contact
    _touchpoint(contact_id=contact.pk, channel="telegram", kind="inbound_message",
                provider_event_id=f"tg:{update.update_id}", details={"text": (update.text or "")[:500]})
    enrollments_stop_for_contact(contact_id=contact.pk, reason="replied", on_reply=True)
    lead_score_record(contact_id=contact.pk, kind="inbound_message", ref=f"tg:{update.update_id}")
    who = contact.display_name + (f" @{contact.telegram_username}" if contact.telegram_username else "")
    staff_notify(key=f"inbound:{update.update_id}", text=f"💬 {who} (#{contact.pk}) : {update.text}")


def _bot_blocked(update: Any) -> None:
    """The person blocked the bot: the identity is unreachable and its pending messages are cancelled."""
    from api.contacts.models import Contact
    from api.contacts.services import contact_mark_unreachable

    contact = Contact.objects.filter(telegram_chat_id=str(update.chat_id)).first()
    outbound_cancel_for_identity(channel="telegram", recipient=str(update.chat_id), reason="unreachable")
    if contact is not None:
        contact_mark_unreachable(contact_id=contact.pk, channel="telegram", reason="blocked")


def telegram_updates_retry(*, now: datetime | None = None, limit: int = 100) -> int:
    """Process again stored updates that failed on an unexpected error (not a business refusal).

    Telegram redelivers a webhook that answered 500, but gives up after a while; polling refetches
    only until the offset moves. Rows older than a minute and younger than a day are retried here.
    """
    now = now or timezone.now()
    rows = (TelegramUpdate.objects.filter(processed_at__isnull=True, received_at__lt=now - timedelta(minutes=1),
                                          received_at__gt=now - timedelta(days=1))
            .exclude(error__startswith="refused:").order_by("update_id").values_list("update_id", flat=True)[:limit])
    done = 0
    for update_id in list(rows):
        try:
            done += telegram_update_process(update_id=update_id)
        except ApplicationError as exc:
            TelegramUpdate.objects.filter(update_id=update_id).update(
                error=f"refused: {exc.code}: {exc.message}"[:300])
        except Exception as exc:  # keep going with the others; the row says what happened
            logger.exception("telegram update %s failed again", update_id)
            TelegramUpdate.objects.filter(update_id=update_id).update(error=exc.__class__.__name__)
    return done


def telegram_poll_once(*, client: Any, timeout: int = 25) -> int:
    """One ``getUpdates`` round: process each update, then move the stored offset past it.

    The offset is a ``Cursor`` row; an update processed but not yet confirmed is fetched again after
    a crash and skipped by its ``update_id``. Returns how many updates came.
    """
    cursor = Cursor.objects.filter(name="telegram_offset").first()
    offset = cursor.value if cursor and cursor.value else None
    updates = client.get_updates(offset=offset, timeout=timeout)
    for update in updates:
        telegram_update_receive(payload=update.raw)
        Cursor.objects.update_or_create(name="telegram_offset", defaults={"value": update.update_id + 1})
    return len(updates)


def contact_messages_erase(contact_id: int) -> None:
    """Erase: drop the texts sent to the person and cancel anything still queued."""
    OutboundMessage.objects.filter(contact_id=contact_id, state=State.SCHEDULED).update(
        state=State.CANCELLED, reason="erased", claim_token="", claimed_until=None)
    OutboundMessage.objects.filter(contact_id=contact_id).update(text="(erased)", recipient="", reply_markup=None)
    NurtureProfile.objects.filter(contact_id=contact_id).delete()
