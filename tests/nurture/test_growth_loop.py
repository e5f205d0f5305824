"""The growth loop of the plan's "after", end to end, as the shop lives it.

An ambassador's personal code opens the Telegram bot for a friend (the friend gets ``referred_by``); the
friend orders with that code as the coupon and the discount shows in the total; the order is delivered;
the ambassador earns a coupon of their own and is told on Telegram. Meanwhile another customer rates
an order 1/5: a complaint opens, staff are alerted, and marketing to that customer pauses.

Hand-computed: two ginger syrups at 3,500 = 7,000 XAF of goods, the friend's 10 % = 700 off, plus a
1,000 delivery fee: 7,300 XAF to pay. The ambassador's reward (15 %) is a single-use coupon.
"""

from __future__ import annotations

import pytest
from django.utils import timezone

from api.attribution import conf as attribution_conf
from api.attribution.models import ReferralReward
from api.contacts.models import Contact
from api.nurture.models import OutboundMessage
from api.nurture.services import broadcast_create, broadcast_start
from api.orders import conf as orders_conf
from api.orders.selectors import complaint_list
from api.orders.services import feedback_record, order_create, order_status_change, product_create
from tests.fakes.telegram_server import message_update
from tests.nurture.conftest import SECRET, STAFF_CHAT, dispatch, make_contact

pytestmark = pytest.mark.django_db

FLOW = ["confirmed", "preparing", "ready", "out_for_delivery", "delivered"]
AMBASSADOR_CHAT, FRIEND_CHAT, UNHAPPY_CHAT = 3001, 3002, 3003


@pytest.fixture(autouse=True)
def _loop_settings(monkeypatch, fake_telegram, settings):
    monkeypatch.setattr(orders_conf, "REFERRAL_FRIEND_DISCOUNT_PERCENT", 10)
    monkeypatch.setattr(attribution_conf, "REFERRAL_DISCOUNT_PERCENT", 15)
    monkeypatch.setattr(attribution_conf, "REFERRAL_REWARD_KIND", "discount")
    fake_telegram.per_chat_rate = None  # counting, not pacing: a chat may get two messages in a second
    settings.TELEGRAM_PER_CHAT_RATE_PER_SECOND = 1000


def _deliver(order_id: int, capture) -> None:
    with capture(execute=True):  # order events reach the other apps' listeners right after each commit
        for status in FLOW:
            order_status_change(order_id=order_id, status=status)


def _texts_to(fake, chat) -> list[str]:
    return [m.text or "" for m in fake.messages_to(chat)]


def test_an_ambassadors_code_brings_a_friend_who_buys_and_the_ambassador_is_rewarded_and_told(
        api_client, staff_client, fake_telegram, django_capture_on_commit_callbacks):
    ginger = product_create(sku="SIR-GING-50", name="Sirop de gingembre", price_xaf=3500, unit_cost_xaf=1200)
    awa = make_contact(AMBASSADOR_CHAT, first_name="Awa", phone="+237690000501")

    # The friend opens the bot with Awa's personal code (t.me/<bot>?start=<code>).
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post("/api/v1/webhooks/telegram",
                                   message_update(FRIEND_CHAT, f"/start {awa.referral_code}", update_id=91,
                                                  first_name="Brice"),
                                   format="json", HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=SECRET)
    assert response.status_code == 200, response.content
    brice = Contact.objects.get(telegram_chat_id=str(FRIEND_CHAT))
    assert brice.referred_by_id == awa.pk

    # Staff take Brice's order with Awa's code as the coupon: the friend's discount shows in the total.
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post("/api/v1/orders", {
            "contact_id": brice.pk, "coupon_code": awa.referral_code.lower(), "delivery_fee_xaf": 1000,
            "lines": [{"product_id": ginger.pk, "quantity": 2}]}, format="json")
    assert response.status_code == 201, response.json()
    order = response.json()
    assert (order["coupon_discount_xaf"], order["total_xaf"]) == (700, 7_300)

    # Delivered: Awa earns a coupon of her own, and the outbox tells her on Telegram.
    _deliver(order["id"], django_capture_on_commit_callbacks)
    reward = ReferralReward.objects.get()
    assert (reward.referrer_id, reward.referred_id, reward.order_id) == (awa.pk, brice.pk, order["id"])
    dispatch()
    told = [t for t in _texts_to(fake_telegram, AMBASSADOR_CHAT) if reward.code in t]
    assert len(told) == 1
    assert "15 %" in told[0]

    # Her reward is a real coupon: it takes 15 % off her own next order.
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post("/api/v1/orders", {
            "contact_id": awa.pk, "coupon_code": reward.code, "lines": [{"product_id": ginger.pk, "quantity": 2}]},
            format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["coupon_discount_xaf"] == 1_050

    # The leaderboard counts the referral made with her code.
    board = staff_client.get("/api/v1/reports/referrals/leaderboard").json()
    assert [(r["contact_id"], r["referrals_by_code"]) for r in board] == [(awa.pk, 1)]


def test_a_rating_of_1_opens_a_complaint_alerts_staff_and_pauses_marketing(
        fake_telegram, django_capture_on_commit_callbacks):
    ginger = product_create(sku="SIR-GING-50", name="Sirop de gingembre", price_xaf=3500, unit_cost_xaf=1200)
    carine = make_contact(UNHAPPY_CHAT, first_name="Carine", phone="+237690000503")
    order = order_create(contact_id=carine.pk, lines=[{"product_id": ginger.pk, "quantity": 1}])
    _deliver(order.pk, django_capture_on_commit_callbacks)

    with django_capture_on_commit_callbacks(execute=True):
        feedback_record(order_id=order.pk, rating=1, comment="Sirop tourné")

    complaint = complaint_list().first()
    assert (complaint.contact_id, complaint.state) == (carine.pk, "open")
    broadcast = broadcast_create(name="Promo", text="Promo bissap -10 %", send_at=timezone.now(),
                                 channels=["telegram"])
    broadcast_start(broadcast_id=broadcast.pk)
    dispatch()
    promo = OutboundMessage.objects.get(broadcast=broadcast, contact=carine)
    assert (promo.state, promo.reason) == ("skipped", "open_complaint")
    alerts = [t for t in _texts_to(fake_telegram, int(STAFF_CHAT)) if order.number in t and "1/5" in t]
    assert len(alerts) == 1
    assert "Sirop tourné" in alerts[0]
