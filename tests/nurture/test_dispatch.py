"""Sending: checks at send time, caps, windows, 429s, unreachable chats, and a worker that dies mid-send."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime, timedelta
from datetime import time as dtime

import pytest
from django.utils import timezone

from api.contacts.models import Consent
from api.contacts.services import contact_opt_out, contact_update
from api.nurture import conf, senders
from api.nurture.models import OutboundMessage
from api.nurture.ratelimit import RateLimiterBase
from api.nurture.services import (
    broadcast_create,
    broadcast_start,
    outbound_recover_stuck,
    outbound_retry,
    window_next,
)
from api.nurture.services import dispatch as dispatch_module
from tests.nurture.conftest import dispatch, make_contact, marketing

pytestmark = pytest.mark.django_db


def test_consent_is_checked_again_when_the_message_is_sent(fake_telegram):
    contact = make_contact(1001)
    message = marketing(contact, "Promo")
    contact_opt_out(contact_id=contact.pk, how="phone call")  # after the message was queued
    stats = dispatch()
    message.refresh_from_db()
    assert message.state == "skipped"
    assert message.reason == "opted_out"
    assert stats.sent == 0
    assert fake_telegram.sent_messages == []


def test_a_contact_without_telegram_consent_gets_no_marketing_but_a_reply(fake_telegram):
    contact = make_contact(1002, consent=False)
    promo = marketing(contact, "Promo")
    reply = marketing(contact, "Réponse", category="service")
    dispatch()
    promo.refresh_from_db(), reply.refresh_from_db()
    assert (promo.state, promo.reason) == ("skipped", "no_consent")
    assert reply.state == "sent"
    assert [m.text for m in fake_telegram.sent_messages] == ["Réponse"]


def no_per_chat_limit(fake, settings):
    """Let one chat receive several messages in a second (tests about counting, not pacing)."""
    fake.per_chat_rate = None
    settings.TELEGRAM_PER_CHAT_RATE_PER_SECOND = 1000


def test_the_weekly_cap_counts_every_marketing_message(fake_telegram, settings):
    settings.NURTURE_WEEKLY_CAP = 2
    no_per_chat_limit(fake_telegram, settings)
    make_contact(1003)
    for i in range(3):
        broadcast = broadcast_create(name=f"b{i}", text=f"Broadcast {i}", send_at=timezone.now(),
                                     channels=["telegram"])
        broadcast_start(broadcast_id=broadcast.pk)
        dispatch()
    states = sorted(OutboundMessage.objects.values_list("state", "reason"))
    assert states == [("sent", ""), ("sent", ""), ("skipped", "weekly_cap")]
    assert len(fake_telegram.messages_to(1003)) == 2
    assert conf.get("NURTURE_WEEKLY_CAP") == 2


def test_a_sequence_step_over_the_cap_waits_for_room_instead_of_being_lost(fake_telegram, settings):
    from api.nurture.services import enrollment_create, sequence_create

    settings.NURTURE_WEEKLY_CAP = 1
    no_per_chat_limit(fake_telegram, settings)
    contact = make_contact(1004)
    marketing(contact, "Broadcast du jour")
    dispatch()
    sequence = sequence_create(name="Intro", steps=[{"text": "Étape 1"}, {"text": "Étape 2", "delay": "01:00:00"}],
                               channels=["telegram"])
    enrollment = enrollment_create(sequence_id=sequence.pk, contact_id=contact.pk, trigger="staff")
    dispatch()
    first, second = enrollment.messages.order_by("id")
    assert first.state == "scheduled"
    assert first.reason == "weekly_cap"
    assert first.due_at > timezone.now() + timedelta(days=6)
    assert second.due_at > first.due_at  # the rest of the sequence moved along


def test_windows_defer_to_the_next_opening_in_business_time():
    douala_22h = datetime(2026, 11, 25, 21, 0, tzinfo=UTC)  # 22:00 in Douala (UTC+1)
    allowed = window_next(douala_22h, dtime(9), dtime(20))
    assert allowed == datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
    assert window_next(datetime(2026, 11, 25, 10, 0, tzinfo=UTC), dtime(9), dtime(20)).hour == 10
    # a window across midnight
    assert window_next(douala_22h, dtime(21), dtime(6)) == douala_22h


def test_the_contacts_preferred_hours_win_over_the_steps_window(fake_telegram, settings):
    settings.NURTURE_WINDOW_START, settings.NURTURE_WINDOW_END = "00:00", "23:59"
    contact = make_contact(1005)
    now_local = timezone.now().astimezone(timezone.get_current_timezone())
    closed_start = (now_local + timedelta(hours=2)).time().replace(second=0, microsecond=0)
    closed_end = (now_local + timedelta(hours=3)).time().replace(second=0, microsecond=0)
    contact_update(contact_id=contact.pk, preferred_hours_start=closed_start, preferred_hours_end=closed_end)
    message = marketing(contact, "Promo", window=(dtime(0, 0), dtime(23, 59)))
    dispatch()
    message.refresh_from_db()
    assert message.state == "scheduled"
    assert message.reason == "outside_sending_window"
    assert message.due_at > timezone.now() + timedelta(hours=1)
    assert fake_telegram.sent_messages == []


def test_messenger_outside_the_window_is_skipped_with_that_reason(fake_telegram):
    from api.contacts.services import consent_grant, contact_upsert

    contact = contact_upsert(facebook_psid="2400000000001", first_name="Line").contact
    consent_grant(contact_id=contact.pk, channel="messenger", how="test")
    message = marketing(contact, "Promo", channel="messenger")
    dispatch()
    message.refresh_from_db()
    assert (message.state, message.reason) == ("skipped", "outside_messaging_window")


def test_a_429_reschedules_at_retry_after_and_nothing_is_sent_twice(fake_telegram, settings):
    fake_telegram.global_rate = 5
    from tests.fakes.telegram_server import SlidingWindow

    fake_telegram._global_window = SlidingWindow(5)
    fake_telegram.retry_after = 0.3
    settings.TELEGRAM_GLOBAL_RATE_PER_SECOND = 1000  # our limiter lets bursts through: the fake answers 429
    contacts = [make_contact(2000 + i) for i in range(15)]
    for contact in contacts:
        marketing(contact, "Promo")
    for _ in range(20):
        dispatch(max_seconds=5)
        if not OutboundMessage.objects.filter(state="scheduled").exists():
            break
        time.sleep(0.3)
    assert fake_telegram.count_429 > 0
    assert sorted(m.chat_id for m in fake_telegram.sent_messages) == [2000 + i for i in range(15)]
    assert set(OutboundMessage.objects.values_list("state", flat=True)) == {"sent"}
    assert OutboundMessage.objects.filter(attempts__gt=1).exists()


def test_an_unreachable_chat_cancels_its_other_pending_messages(fake_telegram):
    contact = make_contact(3001)
    fake_telegram.block(3001)
    first = marketing(contact, "Un")
    second = marketing(contact, "Deux", due_at=timezone.now() + timedelta(hours=1))
    dispatch()
    first.refresh_from_db(), second.refresh_from_db()
    assert first.state == "failed"
    assert first.reason == "unreachable: blocked"
    assert second.state == "cancelled"
    assert second.reason == "unreachable"
    assert Consent.objects.get(contact=contact, channel="telegram").unreachable_at is not None


class WorkerKilled(BaseException):
    """Stands for SIGKILL: not an ``Exception``, so no handler of the dispatcher sees it."""


def test_a_worker_that_dies_during_the_provider_call_leaves_the_message_unresent(fake_telegram, settings):
    contact = make_contact(4001)
    message = marketing(contact, "Promo")

    def dies_after_delivering(**kwargs):
        senders.deliver(**kwargs)
        raise WorkerKilled

    with pytest.raises(WorkerKilled):
        dispatch(deliver=dies_after_delivering)
    message.refresh_from_db()
    assert message.state == "sending"
    assert message.attempts == 1
    dispatch()  # within the lease: left alone
    message.refresh_from_db()
    assert message.state == "sending"

    later = timezone.now() + timedelta(seconds=conf.get("NURTURE_CLAIM_LEASE_SECONDS") + 1)
    assert outbound_recover_stuck(now=later) == 1
    dispatch()
    message.refresh_from_db()
    assert (message.state, message.reason) == ("failed", "unknown_outcome")
    assert len(fake_telegram.messages_to(4001)) == 1  # delivered once, never resent

    # Staff checked the chat and decided to send it again.
    no_per_chat_limit(fake_telegram, settings)
    outbound_retry(message_id=message.pk)
    dispatch()
    message.refresh_from_db()
    assert message.state == "sent"
    assert message.attempts == 2


def test_a_claim_whose_worker_died_before_sending_goes_back_to_the_pool(fake_telegram):
    from api.nurture.services.dispatch import _claim

    contact = make_contact(4002)
    message = marketing(contact, "Promo")
    assert _claim(token="dead-worker", batch=10, now=timezone.now()) == [message.pk]
    dispatch()  # the lease holds: not sent by someone else meanwhile
    assert fake_telegram.sent_messages == []
    OutboundMessage.objects.filter(pk=message.pk).update(claimed_until=timezone.now() - timedelta(seconds=1))
    dispatch()
    message.refresh_from_db()
    assert message.state == "sent"
    assert len(fake_telegram.messages_to(4002)) == 1


def test_the_batched_consent_check_answers_as_the_one_by_one_check():
    """The dispatcher reads consent for a whole batch: it must say what ``contact_can_receive`` says."""
    from api.contacts.selectors import contact_can_receive, contacts_can_receive
    from api.contacts.services import consent_revoke, contact_merge

    allowed = make_contact(5001)
    opted_out = make_contact(5002)
    contact_opt_out(contact_id=opted_out.pk, how="test")
    revoked = make_contact(5003)
    consent_revoke(contact_id=revoked.pk, channel="telegram", how="test")
    no_consent = make_contact(5004, consent=False)
    no_identity = make_contact(first_name="Sans Telegram", email="sans.telegram@example.cm")
    unreachable = make_contact(5005)
    Consent.objects.filter(contact=unreachable).update(unreachable_at=timezone.now())
    merged_away, survivor = make_contact(5006), make_contact(5007)
    contact_merge(source_id=merged_away.pk, target_id=survivor.pk)
    ids = [c.pk for c in (allowed, opted_out, revoked, no_consent, no_identity, unreachable, merged_away, survivor)]
    ids.append(max(ids) + 1000)  # no such contact

    batched = contacts_can_receive(ids, "telegram")

    assert batched == {cid: contact_can_receive(cid, "telegram") for cid in ids}
    assert batched[allowed.pk] == (True, "ok")
    assert {why for ok, why in batched.values() if not ok} >= {"opted_out", "consent_revoked", "no_consent",
                                                                "no_identity", "unreachable", "no_such_contact"}


def test_an_opt_out_during_a_batch_holds_back_the_batchs_later_messages(fake_telegram, settings, monkeypatch):
    from api.nurture.services import dispatch as dispatch_module

    settings.NURTURE_DISPATCH_BATCH = 10
    monkeypatch.setattr(dispatch_module, "CONSENT_FRESH_SECONDS", 0.0)  # the batch's answer is stale at once
    first, second = make_contact(6001), make_contact(6002)
    marketing(first, "Un", due_at=timezone.now() - timedelta(minutes=1))
    later = marketing(second, "Deux")

    def opt_out_the_second_after_the_first(**kwargs):
        provider_id = senders.deliver(**kwargs)
        contact_opt_out(contact_id=second.pk, how="STOP meanwhile")
        return provider_id

    stats = dispatch(deliver=opt_out_the_second_after_the_first)

    later.refresh_from_db()
    assert (later.state, later.reason) == ("skipped", "opted_out")
    assert stats.claimed == 2
    assert [m.chat_id for m in fake_telegram.sent_messages] == [6001]


def test_sending_a_message_costs_one_provider_call_and_about_one_statement(fake_telegram, settings):
    """No per-message ORM reads creep back in: the checks read the batch at once, and on PostgreSQL a
    message's ``sent`` record travels with the next one's ``sending`` (SQLite takes one statement each)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    settings.NURTURE_DISPATCH_BATCH = 100
    for i in range(40):
        marketing(make_contact(7000 + i), "Promo")

    started = time.monotonic()
    with CaptureQueriesContext(connection) as queries:
        stats = dispatch()
    # While Telegram paces, the worker asks at most once a second whether other providers have rows due.
    free_claims = math.ceil((time.monotonic() - started) / dispatch_module._FREE_CLAIM_RETRY_SECONDS)

    assert stats.sent == 40
    assert len(fake_telegram.sent_messages) == 40
    per_message = 1 if connection.vendor == "postgresql" else 2
    # + the batch's claim, reads and give-back
    assert len(queries.captured_queries) <= per_message * 40 + 25 + free_claims
    assert set(OutboundMessage.objects.values_list("state", flat=True)) == {"sent"}


class _TelegramBusyUntilMessengerDone(RateLimiterBase):
    """A shared limiter whose Telegram bucket stays empty until every Messenger message has gone (a
    provider pacing far slower than the other), then lets everything through."""

    def __init__(self, messenger_total: int):
        self.messenger_total = messenger_total
        self.delivered: list[tuple[str, str]] = []

    def acquire(self, provider: str, chat: str) -> tuple[float, str]:
        messenger_left = self.messenger_total - sum(1 for channel, _ in self.delivered if channel == "messenger")
        if provider == "telegram" and messenger_left > 0:
            return 0.01, "provider"
        return 0.0, ""

    def pause(self, provider: str, seconds: float) -> None:  # no 429 in this test
        pass

    def deliver(self, *, channel: str, recipient: str, **_: object) -> str:
        self.delivered.append((channel, recipient))
        return f"id-{len(self.delivered)}"


def test_a_provider_that_must_wait_does_not_hold_back_the_others():
    # Telegram rows are due first and Telegram must wait: the Messenger rows behind them go meanwhile
    # (one worker, one claim), then the Telegram ones, each row exactly once.
    telegram = [make_contact(3100 + i, first_name=f"T{i}") for i in range(3)]
    messenger = [make_contact(first_name=f"M{i}", facebook_psid=f"8000{i}") for i in range(4)]
    earlier = timezone.now() - timedelta(minutes=5)
    for contact in telegram:
        marketing(contact, "Bonjour", category="service", due_at=earlier)
    for contact in messenger:
        marketing(contact, "Bonjour", category="service", channel="messenger")
    limiter = _TelegramBusyUntilMessengerDone(messenger_total=len(messenger))

    stats = dispatch(limiter=limiter, deliver=limiter.deliver)

    assert [channel for channel, _ in limiter.delivered] == ["messenger"] * 4 + ["telegram"] * 3
    assert sorted(recipient for _, recipient in limiter.delivered[4:]) == sorted(
        str(c.telegram_chat_id) for c in telegram)
    assert stats.sent == 7
    assert set(OutboundMessage.objects.values_list("state", flat=True)) == {"sent"}


def test_messenger_over_the_pages_send_rate_is_put_back_and_sent_once_the_window_moves(messenger):
    # The fake Graph API answers 613 over its Send API rate, on its own frozen clock: the third
    # message comes back rate limited, waits, and goes once the test moves the clock on.
    clock = [1000.0]
    messenger.clock = lambda: clock[0]
    messenger.messenger_rate = 2
    contacts = [make_contact(first_name=f"M{i}", facebook_psid=f"7000{i}") for i in range(3)]
    rows = [marketing(c, "Bonjour", category="service", channel="messenger") for c in contacts]

    first = dispatch(max_seconds=5)
    states = sorted(OutboundMessage.objects.filter(pk__in=[r.pk for r in rows]).values_list("state", "reason"))
    assert (first.sent, first.rate_limited, messenger.messenger_throttled_count) == (2, 1, 1)
    assert states == [("scheduled", "rate_limited"), ("sent", ""), ("sent", "")]

    clock[0] += 1.0
    OutboundMessage.objects.filter(state="scheduled").update(due_at=timezone.now())  # its retry_after is over
    from api.nurture.ratelimit import get_rate_limiter

    get_rate_limiter().reset()
    assert dispatch(max_seconds=5).sent == 1
    assert sorted(m["to"] for m in messenger.sent if m["channel"] == "messenger") == ["70000", "70001", "70002"]


class _MessengerPausedForAMinute(_TelegramBusyUntilMessengerDone):
    """Messenger answered a 429 a moment ago: the whole provider waits a minute; Telegram is free."""

    def __init__(self) -> None:
        super().__init__(messenger_total=0)
        self.asked: list[str] = []

    def acquire(self, provider: str, chat: str) -> tuple[float, str]:
        self.asked.append(provider)
        return (60.0, "provider") if provider == "messenger" else (0.0, "")


def test_a_provider_paused_past_the_run_gives_its_rows_back_at_once_and_the_others_go_on():
    messenger = [make_contact(first_name=f"P{i}", facebook_psid=f"9100{i}") for i in range(5)]
    telegram = [make_contact(3200 + i, first_name=f"Q{i}") for i in range(3)]
    earlier = timezone.now() - timedelta(minutes=5)
    for contact in messenger:
        marketing(contact, "Bonjour", category="service", channel="messenger", due_at=earlier)
    for contact in telegram:
        marketing(contact, "Bonjour", category="service")
    limiter = _MessengerPausedForAMinute()

    stats = dispatch(limiter=limiter, deliver=limiter.deliver, max_seconds=10)

    assert [channel for channel, _ in limiter.delivered] == ["telegram"] * 3
    assert limiter.asked.count("messenger") == 1  # asked once; its other rows were not tried one by one
    waiting = OutboundMessage.objects.filter(channel="messenger")
    assert set(waiting.values_list("state", "claim_token")) == {("scheduled", "")}
    assert all(m.due_at > timezone.now() + timedelta(seconds=50) for m in waiting)
    assert stats.rescheduled == 5


# --- batches: a provider's rows start together (tokens and the durable ``sending`` in one go each) -----


class _Scripted(RateLimiterBase):
    """A limiter answering each ``acquire_many`` from a script (then every chat waits a minute), and
    a provider recording what it was asked to send."""

    def __init__(self, *answers: list[tuple[float, str]]):
        self.answers = list(answers)
        self.delivered: list[str] = []

    def acquire_many(self, provider: str, chats: list[str]) -> list[tuple[float, str]]:
        answer = self.answers.pop(0) if self.answers else [(60.0, "global")] * len(chats)
        return answer[:len(chats)]

    def pause(self, provider: str, seconds: float) -> None:
        pass

    def deliver(self, *, recipient: str, **_: object) -> str:
        self.delivered.append(recipient)
        return f"id-{len(self.delivered)}"


@pytest.fixture
def fast_telegram(settings):
    settings.TELEGRAM_GLOBAL_RATE_PER_SECOND = 1000  # a burst of 15: batches of several rows


def _three_rows(first_chat: int) -> list[OutboundMessage]:
    earlier = timezone.now() - timedelta(minutes=1)
    return [marketing(make_contact(first_chat + i, first_name=f"B{i}"), "Coffrets", category="service",
                      due_at=earlier + timedelta(seconds=i)) for i in range(3)]


def test_a_stale_row_of_a_batch_goes_back_and_a_provider_paused_past_the_run_takes_it_back_to_the_pool(
        fast_telegram, monkeypatch):
    # The limiter grants two rows of three, and the provider then waits past the run's end. The second
    # granted row's checks are stale once the first has gone (freshness 0 s here): it is checked again,
    # and with the third it goes back to the pool due when the provider frees; nothing is sent twice.
    monkeypatch.setattr(dispatch_module, "CONSENT_FRESH_SECONDS", 0.0)
    rows = _three_rows(7100)
    limiter = _Scripted([(0.0, ""), (0.0, ""), (60.0, "global")])

    stats = dispatch(limiter=limiter, deliver=limiter.deliver, max_seconds=5)

    assert limiter.delivered == [rows[0].recipient]
    assert stats.sent == 1
    states = list(OutboundMessage.objects.filter(pk__in=[r.pk for r in rows]).order_by("due_at")
                  .values_list("state", "claim_token", "attempts"))
    assert states == [("sent", "", 1), ("scheduled", "", 0), ("scheduled", "", 0)]
    assert OutboundMessage.objects.get(pk=rows[2].pk).due_at > timezone.now() + timedelta(seconds=50)


def test_a_run_interrupted_mid_batch_gives_back_the_rows_it_did_not_call(fast_telegram):
    rows = _three_rows(7200)
    limiter = _Scripted([(0.0, "")] * 3)

    def killed_on_the_second(**kwargs):
        if limiter.delivered:
            raise WorkerKilled
        return limiter.deliver(**kwargs)

    with pytest.raises(WorkerKilled):
        dispatch(limiter=limiter, deliver=killed_on_the_second)

    states = [OutboundMessage.objects.get(pk=r.pk).state for r in rows]
    # The first went (its record written on the way out), the second was in flight (never resent: it
    # ends as unknown_outcome), the third was never called: back in the pool, due now.
    assert states == ["sent", "sending", "scheduled"]
    assert OutboundMessage.objects.get(pk=rows[2].pk).claim_token == ""


def test_a_contacts_second_message_waits_for_the_next_batch_so_the_weekly_cap_counts_the_first(
        fast_telegram, settings):
    settings.NURTURE_WEEKLY_CAP = 1
    contact = make_contact(7300)
    first = marketing(contact, "Un", due_at=timezone.now() - timedelta(minutes=2))
    second = marketing(contact, "Deux", due_at=timezone.now() - timedelta(minutes=1))
    limiter = _Scripted([(0.0, "")] * 15, [(0.0, "")] * 15)

    dispatch(limiter=limiter, deliver=limiter.deliver)

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.state, second.state, second.reason) == ("sent", "skipped", "weekly_cap")
    assert limiter.delivered == ["7300"]
