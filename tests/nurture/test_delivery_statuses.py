"""What providers report after a send: WhatsApp statuses (in any order, twice), Messenger receipts by
watermark, what Meta charged as campaign costs, and a broadcast that finishes with its delivered and
read counts."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from api.campaigns.selectors import costs_per_campaign_day
from api.campaigns.services import campaign_create
from api.common.businesstime import business_localtime
from api.contacts.services import contact_upsert
from api.nurture.models import Broadcast, OutboundMessage
from api.nurture.services import (
    broadcast_create,
    broadcast_start,
    broadcasts_finish,
    enrollment_create,
    messenger_receipt_apply,
    outbound_status_apply,
    sequence_create,
    whatsapp_templates_sync,
)
from tests.fakes.whatsapp_server import template
from tests.nurture.meta_helpers import deliver_all

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)  # 09:00 in Douala


def _sent(*, channel: str = "whatsapp", recipient: str = "+237677100001", provider_id: str = "wamid.A",
          sent_at: datetime = T0, key: str | None = None, **fields: Any) -> OutboundMessage:
    return OutboundMessage.objects.create(channel=channel, recipient=recipient, text="Bonjour", state="sent",
                                          provider_message_id=provider_id, sent_at=sent_at, due_at=sent_at,
                                          idempotency_key=key or f"t:{provider_id}", **fields)


def _status(status: str, at: datetime, provider_id: str = "wamid.A", **kwargs: Any) -> bool:
    return outbound_status_apply(channel="whatsapp", provider_message_id=provider_id, status=status, at=at, **kwargs)


# --- WhatsApp statuses ----------------------------------------------------------------------------------


def test_statuses_out_of_order_or_twice_never_move_a_message_backwards():
    message = _sent()
    delivered, read = T0 + timedelta(seconds=5), T0 + timedelta(minutes=3)

    assert _status("read", read) is True  # read came first: it implies delivered
    message.refresh_from_db()
    assert (message.delivered_at, message.read_at) == (read, read)
    assert _status("delivered", delivered) is True  # the late delivered gives the true, earlier time
    assert _status("delivered", delivered) is False  # replayed
    assert _status("sent", T0) is False
    assert _status("failed", read, error_code="131000") is False  # a read message did not fail
    assert _status("read", read + timedelta(hours=1)) is False  # read once, at the first time reported
    message.refresh_from_db()
    assert (message.state, message.delivered_at, message.read_at, message.failure_code) == (
        "sent", delivered, read, "")


def test_a_failed_status_ends_the_message_with_its_reason_once():
    message = _sent()
    assert _status("failed", T0 + timedelta(seconds=2), error_code="131049",
                   error_title="This message was not delivered to maintain healthy ecosystem engagement.") is True
    message.refresh_from_db()
    assert (message.state, message.reason, message.failure_code) == ("failed", "meta_marketing_limit", "131049")
    assert _status("failed", T0 + timedelta(seconds=2), error_code="131049") is False
    other = _sent(provider_id="wamid.B")
    assert _status("failed", T0, provider_id="wamid.B", error_code="131026", error_title="Message undeliverable")
    other.refresh_from_db()
    assert (other.state, other.reason, other.failure_code) == (
        "failed", "failed: 131026 Message undeliverable", "131026")


def test_a_status_of_a_message_we_did_not_send_changes_nothing():
    _sent()
    assert _status("delivered", T0, provider_id="wamid.UNKNOWN") is False
    assert _status("bogus", T0) is False
    assert outbound_status_apply(channel="messenger", provider_message_id="wamid.A", status="read", at=T0) is False


def test_a_status_that_overtakes_the_record_of_the_send_finds_its_message():
    # The worker writes "sent" with its next statement; Meta's status may come first. The message still
    # ``sending`` to that person without a provider id is the one; the worker's record then completes it.
    from api.nurture.services.send_transitions import SentRecords, record_sent

    sending = OutboundMessage.objects.create(channel="whatsapp", recipient="+237677100009", text="Bonjour",
                                             state="sending", due_at=T0, claimed_at=T0, idempotency_key="t:overtaken")
    _sent(recipient="+237677100009", provider_id="wamid.EARLIER", key="t:earlier")  # an older, recorded message
    delivered = T0 + timedelta(seconds=1)

    assert _status("delivered", delivered, provider_id="wamid.NEW", recipient="+237677100009") is True
    assert _status("delivered", delivered, provider_id="wamid.OTHER", recipient="+237677100010") is False
    sending.refresh_from_db()
    assert (sending.provider_message_id, sending.delivered_at, sending.state) == ("wamid.NEW", delivered, "sending")

    record = SentRecords()
    record.add(sending, "wamid.NEW")
    record_sent(record)
    sending.refresh_from_db()
    assert (sending.state, sending.provider_message_id, sending.delivered_at) == ("sent", "wamid.NEW", delivered)


# --- Messenger receipts -----------------------------------------------------------------------------------


def test_messenger_receipts_cover_every_message_sent_up_to_the_watermark():
    psid = "6789012345678901"
    early = _sent(channel="messenger", recipient=psid, provider_id="m_1", sent_at=T0 - timedelta(minutes=3))
    on_time = _sent(channel="messenger", recipient=psid, provider_id="m_2", sent_at=T0)
    later = _sent(channel="messenger", recipient=psid, provider_id="m_3", sent_at=T0 + timedelta(minutes=1))
    someone_else = _sent(channel="messenger", recipient="1111", provider_id="m_4", sent_at=T0 - timedelta(minutes=9))

    assert messenger_receipt_apply(psid=psid, kind="delivery", watermark=T0) == 2
    assert messenger_receipt_apply(psid=psid, kind="delivery", watermark=T0) == 0  # replayed
    # A delivery naming a mid covers it even past the watermark.
    assert messenger_receipt_apply(psid=psid, kind="delivery", watermark=T0, mids=["m_3"]) == 1
    assert messenger_receipt_apply(psid=psid, kind="read", watermark=T0 + timedelta(seconds=30)) == 2
    for message in (early, on_time, later, someone_else):
        message.refresh_from_db()
    assert (early.delivered_at, early.read_at) == (T0, T0 + timedelta(seconds=30))
    assert (on_time.delivered_at, on_time.read_at) == (T0, T0 + timedelta(seconds=30))
    assert (later.delivered_at, later.read_at) == (T0, None)
    assert (someone_else.delivered_at, someone_else.read_at) == (None, None)
    assert messenger_receipt_apply(psid=psid, kind="read", watermark=T0 + timedelta(minutes=5)) == 1  # "later"


def test_a_messenger_read_implies_delivered():
    message = _sent(channel="messenger", recipient="222", provider_id="m_9")
    assert messenger_receipt_apply(psid="222", kind="read", watermark=T0 + timedelta(seconds=1)) == 1
    message.refresh_from_db()
    assert message.delivered_at == message.read_at == T0 + timedelta(seconds=1)


# --- what Meta charged -------------------------------------------------------------------------------------


def _week_costs(campaign_id: int) -> dict[date, int]:
    return {day: amount for cid, _, day, amount in costs_per_campaign_day(since=date(2026, 11, 30),
                                                                          until=date(2026, 12, 7))
            if cid == campaign_id}


def test_a_billable_message_of_a_campaign_sequence_becomes_its_cost_once(settings):
    settings.NURTURE_WHATSAPP_PRICES_XAF = {"marketing": "12.6", "utility": "2.24"}
    campaign = campaign_create(name="Noël Facebook", code="FB-NOEL", channel="facebook_ads")
    sequence = sequence_create(name="Relance Noël", purpose="campaign", campaign_code="fb-noel",
                               channels=["whatsapp"], steps=[{"text": "Bonjour"}])
    contact = contact_upsert(whatsapp="+237677100002", first_name="Awa", consents=["whatsapp"],
                             consent_how="test").contact
    enrollment = enrollment_create(sequence_id=sequence.pk, contact_id=contact.pk, trigger="test")
    first = enrollment.messages.get()
    OutboundMessage.objects.filter(pk=first.pk).update(state="sent", sent_at=T0, provider_message_id="wamid.C1")
    second = _sent(provider_id="wamid.C2", enrollment=enrollment, contact=contact, key="t:c2")
    day = business_localtime(T0).date()

    assert _status("sent", T0, provider_id="wamid.C1", pricing_category="marketing", billable=True)
    assert _week_costs(campaign.pk) == {day: 13}  # 12.6 XAF, rounded once per day
    # The same charge reported again (sent, then delivered with its pricing) costs nothing more.
    assert not _status("sent", T0, provider_id="wamid.C1", pricing_category="marketing", billable=True)
    assert _status("delivered", T0 + timedelta(seconds=3), provider_id="wamid.C1", pricing_category="marketing",
                   billable=True)
    assert _week_costs(campaign.pk) == {day: 13}
    # A free message (service, inside the window) costs nothing; a second charged one adds up.
    _status("sent", T0, provider_id="wamid.C2", pricing_category="service", billable=False)
    assert _week_costs(campaign.pk) == {day: 13}
    _status("delivered", T0, provider_id="wamid.C2", pricing_category="marketing", billable=True)
    assert _week_costs(campaign.pk) == {day: 25}  # 2 x 12.6 = 25.2
    second.refresh_from_db()
    assert (second.pricing_category, second.billable) == ("marketing", True)


def test_a_billable_broadcast_message_is_a_cost_of_the_broadcast_campaign():
    campaign = campaign_create(name="Salon Douala", code="SALON-DLA", channel="fair")
    broadcast = Broadcast.objects.create(name="Salon", text="x", send_at=T0, campaign_code="SALON-DLA")
    _sent(provider_id="wamid.D1", broadcast=broadcast)
    _sent(provider_id="wamid.D2")  # no campaign: not a campaign cost
    _status("delivered", T0, provider_id="wamid.D1", pricing_category="utility", billable=True)
    _status("delivered", T0, provider_id="wamid.D2", pricing_category="marketing", billable=True)
    assert _week_costs(campaign.pk) == {business_localtime(T0).date(): 2}  # 2.24 XAF


# --- a broadcast to WhatsApp contacts, end to end ------------------------------------------------------------


def test_a_broadcast_finishes_and_shows_delivered_and_read_counts(whatsapp, settings, staff_client):
    whatsapp.templates = [template("relance_coffret", "Bonjour {{1}}, votre code : {{2}}")]
    settings.WHATSAPP_BUSINESS_ACCOUNT_ID = whatsapp.waba_id
    whatsapp_templates_sync()
    campaign = campaign_create(name="Coffrets de Noël", code="COFFRETS", channel="whatsapp")
    contacts = [contact_upsert(whatsapp=f"+23767720000{i}", first_name=name, consents=["whatsapp"],
                               consent_how="test").contact for i, name in enumerate(["Awa", "Brice", "Carine"])]
    created = staff_client.post("/api/v1/nurture/broadcasts", {
        "name": "Coffrets", "text": "{first_name}, nos coffrets sont arrivés", "channels": ["whatsapp"],
        "send_at": timezone.now().isoformat(), "whatsapp_template": _template_id(),
        "campaign_code": "coffrets"}, format="json")
    assert created.status_code == 201, created.json()
    broadcast_id = created.json()["id"]
    broadcast_start(broadcast_id=broadcast_id)
    assert broadcasts_finish() == 0  # three messages still to send

    whatsapp.fail_next_delivery(contacts[2].whatsapp, 131049)
    deliver_all()
    assert broadcasts_finish() == 1
    assert broadcasts_finish() == 0
    # Meta's statuses come back through the app's webhook: two delivered, one of them read, one failed.
    whatsapp.post_statuses("delivered")
    whatsapp.post_statuses("read", to=contacts[0].whatsapp)

    body = staff_client.get(f"/api/v1/nurture/broadcasts/{broadcast_id}").json()
    assert body["state"] == "finished"
    assert body["finished_at"] is not None
    assert body["campaign_code"] == "COFFRETS"
    progress = body["progress"]
    assert (progress["total"], progress["sent"], progress["failed"], progress["pending"]) == (3, 2, 1, 0)
    assert (progress["delivered"], progress["read"]) == (2, 1)
    assert progress["failed_reasons"] == {"meta_marketing_limit": 1}
    assert [m.template_name for m in whatsapp.messages] == ["relance_coffret"] * 3
    # Meta charged the two delivered marketing templates: 2 x 12.6 XAF, a cost of the campaign (of the
    # day they were sent; the window around today keeps the test true across midnight).
    today = business_localtime(timezone.now()).date()
    costs = costs_per_campaign_day(since=today - timedelta(days=1), until=today + timedelta(days=2))
    assert sum(amount for cid, _, _, amount in costs if cid == campaign.pk) == 25


def test_a_broadcast_for_an_unknown_campaign_is_a_400(staff_client):
    response = staff_client.post("/api/v1/nurture/broadcasts", {
        "name": "Coffrets", "text": "x", "send_at": "2026-12-20T10:00:00+01:00", "campaign_code": "NOPE"},
        format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "campaign_code"
    assert not Broadcast.objects.exists()


def _template_id() -> int:
    from api.nurture.models import WhatsAppTemplate

    return WhatsAppTemplate.objects.get(name="relance_coffret").pk


def test_a_broadcast_nobody_can_receive_finishes_at_once():
    broadcast = broadcast_create(name="Vide", text="x", send_at=timezone.now(), audience={"segment": "reseller"})
    assert broadcast_start(broadcast_id=broadcast.pk) == 0
    broadcast.refresh_from_db()
    assert broadcast.state == "finished"
