"""Care for unhappy customers: a low rating opens a complaint, alerts staff, apologises and pauses
marketing to the person until staff close the case."""

from __future__ import annotations

import pytest
from django.utils import timezone

from api.nurture.models import OutboundMessage
from api.nurture.services import broadcast_create, broadcast_start, enrollment_create, sequence_create
from api.orders import conf as orders_conf
from api.orders.selectors import complaint_list
from api.orders.services import (
    complaint_update,
    feedback_record,
    order_create,
    order_status_change,
    product_create,
)
from tests.nurture.conftest import STAFF_CHAT, dispatch, make_contact, marketing

pytestmark = pytest.mark.django_db

DELIVERY = ["confirmed", "preparing", "ready", "out_for_delivery", "delivered"]


@pytest.fixture
def ginger(db):
    return product_create(sku="SIR-GING-50", name="Sirop de gingembre", price_xaf=3500, unit_cost_xaf=1200)


@pytest.fixture(autouse=True)
def _one_chat_many_messages(fake_telegram, settings):
    """Counting, not pacing: one chat may get the apology and a broadcast within a second."""
    fake_telegram.per_chat_rate = None
    settings.TELEGRAM_PER_CHAT_RATE_PER_SECOND = 1000


def _delivered_order(contact, product):
    order = order_create(contact_id=contact.pk, lines=[{"product_id": product.pk, "quantity": 1}])
    for status in DELIVERY:
        order_status_change(order_id=order.pk, status=status)
    return order


def _rate(order, rating, capture, comment=""):
    with capture(execute=True):  # the order event reaches nurture's listener right after the commit
        feedback_record(order_id=order.pk, rating=rating, comment=comment)


def _broadcast(text):
    broadcast = broadcast_create(name=text, text=text, send_at=timezone.now(), channels=["telegram"])
    broadcast_start(broadcast_id=broadcast.pk)
    return OutboundMessage.objects.get(broadcast=broadcast)


def _texts_to(fake, chat):
    return [m.text for m in fake.messages_to(chat)]


def test_a_rating_of_1_opens_a_complaint_alerts_staff_apologises_and_pauses_marketing_until_closed(
        fake_telegram, ginger, django_capture_on_commit_callbacks):
    # given a delivered customer who rates the order 1/5
    awa = make_contact(2001, first_name="Awa", phone="+237690445566")
    order = _delivered_order(awa, ginger)
    _rate(order, 1, django_capture_on_commit_callbacks, comment="Bouteille fêlée")

    # then a complaint case is open on the order, first in the staff list
    complaint = complaint_list().first()
    assert (complaint.contact_id, complaint.order_id, complaint.state, complaint.channel) == (
        awa.pk, order.pk, "open", "rating")
    assert complaint.text == f"Note 1/5 pour la commande {order.number} : « Bouteille fêlée »"

    # and while it is open, a broadcast and a sequence step to Awa are skipped, saying why
    promo = _broadcast("Promo bissap -10 %")
    sequence = sequence_create(name="Relance", steps=[{"text": "Avez-vous goûté le gingembre ?"}],
                               channels=["telegram"])
    enrollment = enrollment_create(sequence_id=sequence.pk, contact_id=awa.pk, trigger="staff")
    dispatch()
    promo.refresh_from_db()
    step = enrollment.messages.get()
    assert (promo.state, promo.reason) == ("skipped", "open_complaint")
    assert (step.state, step.reason) == ("skipped", "open_complaint")

    # but the apology from the template went to her at once, and staff were alerted
    assert _texts_to(fake_telegram, 2001) == [
        f"Bonjour Awa, nous sommes sincèrement désolés que votre commande {order.number} ne vous ait pas donné "
        "satisfaction. Un membre de l'équipe Confiotes vous contacte très vite pour arranger les choses. "
        "Merci de nous l'avoir dit."]
    alert, = (t for t in _texts_to(fake_telegram, int(STAFF_CHAT)) if "mécontent" in t)
    assert f"{order.number} 1/5" in alert
    assert "Bouteille fêlée" in alert
    assert f"Réclamation #{complaint.pk}" in alert
    assert "Excuses envoyées sur Telegram" in alert

    # when staff resolve the case, marketing to her goes again
    complaint_update(complaint_id=complaint.pk, state="resolved", resolution="Bouteille remplacée")
    again = _broadcast("Nouveau : liqueur de bissap")
    dispatch()
    again.refresh_from_db()
    assert again.state == "sent"
    assert _texts_to(fake_telegram, 2001)[-1] == "Nouveau : liqueur de bissap"


def test_a_rating_of_3_opens_no_complaint_and_marketing_goes_on(fake_telegram, ginger,
                                                                 django_capture_on_commit_callbacks):
    binta = make_contact(2002, first_name="Binta")
    order = _delivered_order(binta, ginger)
    _rate(order, 3, django_capture_on_commit_callbacks, comment="Correct")

    promo = _broadcast("Promo bissap -10 %")
    dispatch()
    promo.refresh_from_db()
    assert not complaint_list().exists()
    assert promo.state == "sent"
    assert _texts_to(fake_telegram, 2002) == ["Promo bissap -10 %"]
    assert not [t for t in _texts_to(fake_telegram, int(STAFF_CHAT)) if "mécontent" in t]


def test_the_threshold_setting_decides_which_rating_is_unhappy(monkeypatch, ginger,
                                                               django_capture_on_commit_callbacks):
    carine = make_contact(2003, first_name="Carine")
    monkeypatch.setattr(orders_conf, "UNHAPPY_RATING_THRESHOLD", 3)
    lukewarm = _delivered_order(carine, ginger)
    _rate(lukewarm, 3, django_capture_on_commit_callbacks)
    assert [c.order_id for c in complaint_list()] == [lukewarm.pk]
    assert OutboundMessage.objects.filter(idempotency_key=f"apology:{lukewarm.pk}", category="service").exists()

    monkeypatch.setattr(orders_conf, "UNHAPPY_RATING_THRESHOLD", 1)
    poor = _delivered_order(carine, ginger)
    _rate(poor, 2, django_capture_on_commit_callbacks)
    assert [c.order_id for c in complaint_list()] == [lukewarm.pk]
    assert not OutboundMessage.objects.filter(idempotency_key=f"apology:{poor.pk}").exists()


def test_a_customer_with_no_channel_is_named_to_staff_to_be_called(ginger, django_capture_on_commit_callbacks):
    paul = make_contact(None, first_name="Paul", phone="+237699001122")  # no chat, no consent
    order = _delivered_order(paul, ginger)
    _rate(order, 2, django_capture_on_commit_callbacks)
    assert not OutboundMessage.objects.filter(idempotency_key=f"apology:{order.pk}").exists()
    alert = OutboundMessage.objects.get(category="staff", text__contains="mécontent")
    assert "appelez-le au +237699001122" in alert.text


def test_the_feedback_endpoint_opens_the_case_and_closing_it_through_the_api_resumes_marketing(
        staff_client, fake_telegram, ginger, django_capture_on_commit_callbacks):
    # given an order delivered through the staff API
    awa = make_contact(2005, first_name="Awa")
    order = staff_client.post("/api/v1/orders", {"contact_id": awa.pk, "lines": [
        {"product_id": ginger.pk, "quantity": 1}]}, format="json").json()
    for status in DELIVERY:
        assert staff_client.post(f"/api/v1/orders/{order['id']}/status", {"status": status},
                                 format="json").status_code == 200

    # when the customer's rating of 1 is recorded
    with django_capture_on_commit_callbacks(execute=True):
        answer = staff_client.post(f"/api/v1/orders/{order['id']}/feedback", {"rating": 1, "comment": "Trop sucré"},
                                   format="json")
    assert answer.status_code == 201

    # then the complaint list opens on her case, and her marketing waits
    case = staff_client.get("/api/v1/complaints").json()["results"][0]
    assert (case["contact_id"], case["order_number"], case["state"], case["channel"], case["unhappy"]) == (
        awa.pk, order["number"], "open", "rating", True)
    paused = marketing(awa, "Promo du mois")
    dispatch()
    paused.refresh_from_db()
    assert (paused.state, paused.reason) == ("skipped", "open_complaint")
    assert OutboundMessage.objects.get(idempotency_key=f"apology:{order['id']}").state == "sent"
    assert OutboundMessage.objects.filter(category="staff", text__contains="mécontent", state="sent").count() == 1

    # when staff close it, marketing goes again
    closed = staff_client.patch(f"/api/v1/complaints/{case['id']}", {"state": "closed"}, format="json")
    assert closed.status_code == 200
    resumed = marketing(awa, "Promo de la semaine")
    dispatch()
    resumed.refresh_from_db()
    assert resumed.state == "sent"
