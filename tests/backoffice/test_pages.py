"""The back office's screens through Django's test client: staff only, French by default, and the
services' errors shown on the forms with nothing changed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from api.backoffice.selectors import last_complete_week
from api.contacts.selectors import contact_list
from api.contacts.services import task_create
from api.orders.enums import OrderStatus, PaymentMethod
from api.orders.selectors import order_get, order_list
from api.orders.services import order_create, order_status_change, payment_record

pytestmark = pytest.mark.django_db

PAGES = ["home", "contact-list", "contact-create", "order-list", "order-create", "report-weekly"]


@pytest.mark.parametrize("name", PAGES)
def test_every_page_sends_a_visitor_to_the_sign_in_page(client, name):
    response = client.get(reverse(f"backoffice:{name}"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("backoffice:login"))


def test_an_account_that_is_not_staff_cannot_sign_in(client, django_user_model):
    django_user_model.objects.create_user(username="client", password="pw-client-123")
    response = client.post(reverse("backoffice:login"), {"username": "client", "password": "pw-client-123"})
    assert response.status_code == 200
    assert "pas un compte du personnel" in response.content.decode()
    assert client.get(reverse("backoffice:home")).status_code == 302


def test_staff_sign_in_in_french_and_land_on_their_day(client, staff):
    page = client.get(reverse("backoffice:login")).content.decode()
    assert "Connexion" in page
    assert "Mot de passe" in page
    response = client.post(reverse("backoffice:login"), {"username": "awa", "password": "pw-staff-123"}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("backoffice:home")
    page = response.content.decode()
    assert "Ma journée" in page
    assert "Cette semaine" in page
    assert "Réclamations ouvertes" in page


def test_english_is_one_click_away(office):
    response = office.post(reverse("backoffice:set-language"), {"language": "en", "next": "/app/"}, follow=True)
    assert "My day" in response.content.decode()


def test_the_rest_api_keeps_its_english_messages(client):
    response = client.get("/api/v1/contacts", HTTP_ACCEPT_LANGUAGE="fr")
    assert response.status_code == 401
    assert "Authentication credentials were not provided." in response.content.decode()


@pytest.mark.parametrize("name", PAGES)
def test_every_page_answers_in_french(office, coffret, name):
    response = office.get(reverse(f"backoffice:{name}"))
    assert response.status_code == 200
    assert response["Content-Language"] == "fr"
    assert '<html lang="fr">' in response.content.decode()


def test_the_home_page_shows_today_s_tasks_and_this_week_s_revenue(office, staff, customer, coffret):
    task_create(contact_id=customer.pk, kind="call", due_at=timezone.now() + timedelta(minutes=5), owner=staff,
                note="Rappeler pour le coffret")
    order = order_create(contact_id=customer.pk, lines=[{"gift_box_id": coffret.pk, "quantity": 2}])
    page = office.get(reverse("backoffice:home")).content.decode()
    assert "Mireille Ngo" in page
    assert "Rappeler pour le coffret" in page
    assert "Chiffre d’affaires" in page or "Chiffre d'affaires" in page
    assert order.total_xaf == 20_000


def test_a_phone_typed_with_spaces_finds_the_customer(office, customer):
    page = office.get(reverse("backoffice:contact-list"), {"q": "690 11 22 33"}).content.decode()
    assert "Mireille Ngo" in page
    partial = office.get(reverse("backoffice:contact-list"), {"q": "Mireille"}, HTTP_HX_REQUEST="true")
    assert "Mireille Ngo" in partial.content.decode()
    assert "<html" not in partial.content.decode()


def test_quick_add_stores_the_phone_in_e164_and_opens_the_card(office):
    response = office.post(reverse("backoffice:contact-create"),
                           {"name": "Brice Mbarga", "phone": "6 77 88 99 00", "city": "Yaoundé", "segment": "host",
                            "self_reported_source": "Facebook"}, follow=True)
    contact = contact_list().get(name="Brice Mbarga")
    assert contact.phone == "+237677889900"
    assert response.redirect_chain[-1][0] == reverse("backoffice:contact-detail", args=[contact.pk])
    page = response.content.decode()
    assert "Client ajouté" in page
    assert "+237677889900" in page
    assert "Segment" in page


def test_quick_add_shows_the_service_s_phone_error_and_adds_nobody(office):
    before = contact_list().count()
    response = office.post(reverse("backoffice:contact-create"), {"name": "Faux", "phone": "12", "segment": "unknown"})
    assert response.status_code == 400
    assert 'class="error"' in response.content.decode()
    assert "12" in response.content.decode()
    assert contact_list().count() == before


def test_quick_add_of_a_known_phone_says_the_customer_exists(office, customer):
    response = office.post(reverse("backoffice:contact-create"),
                           {"name": "Mireille N.", "phone": "+237 690 11 22 33", "segment": "unknown"})
    assert response.status_code == 400
    assert "existe déjà" in response.content.decode()
    assert contact_list().count() == 1


def test_a_probable_duplicate_is_announced(office, customer):
    response = office.post(reverse("backoffice:contact-create"),
                           {"name": "Mireille Ngo", "phone": "655 00 11 22", "city": "Douala", "segment": "unknown"},
                           follow=True)
    assert "peut-être la même personne" in response.content.decode()
    check = office.get(reverse("backoffice:contact-maybe-exists"), {"phone": "690 11 22 33", "name": ""})
    assert "Mireille Ngo" in check.content.decode()


def test_the_customer_card_shows_orders_notes_and_timeline(office, customer, coffret):
    order = order_create(contact_id=customer.pk, lines=[{"gift_box_id": coffret.pk, "quantity": 1}])
    office.post(reverse("backoffice:contact-detail", args=[customer.pk]), {"text": "Aime le bissap"})
    page = office.get(reverse("backoffice:contact-detail", args=[customer.pk])).content.decode()
    for text in (order.number, "Aime le bissap", "Historique", "Consentements", "Étape", "10\u202f000\u00a0FCFA"):
        assert text in page


def test_the_customer_card_tells_the_history_in_french(office, customer, coffret):
    from api.campaigns.enums import TouchpointKind
    from api.campaigns.services import touchpoint_record
    from api.contacts.enums import Channel
    from api.contacts.services import consent_grant

    consent_grant(contact_id=customer.pk, channel=Channel.WHATSAPP, how="salon de Douala")
    touchpoint_record(contact_id=customer.pk, channel=Channel.WHATSAPP, kind=TouchpointKind.INBOUND_MESSAGE,
                      provider_event_id="wa:card-1")
    order = order_create(contact_id=customer.pk, lines=[{"gift_box_id": coffret.pk, "quantity": 1}])
    order_status_change(order_id=order.pk, status=OrderStatus.CONFIRMED)
    page = office.get(reverse("backoffice:contact-detail", args=[customer.pk])).content.decode()
    for text in (f"Commande {order.number} : 10\u202f000\u00a0FCFA", f"Commande {order.number} : En attente → Confirmée",
                 "Accepte les messages sur WhatsApp (salon de Douala)", "Nous a écrit (WhatsApp)", "Fiche créée"):
        assert text in page, text
    for english in (f"Order {order.number}", "Consent granted", "Inbound message on", "Contact created"):
        assert english not in page, english


def test_an_order_taken_for_a_new_customer_with_a_coupon(office, coffret, coupon):
    response = office.post(reverse("backoffice:order-create"), {
        "customer_phone": "699 12 34 56", "customer_name": "Awa Fotso", "item_0": f"box:{coffret.pk}",
        "quantity_0": "2", "coupon_code": "BIENVENUE", "delivery_fee_xaf": "1000", "payment_method": "orange_money",
        "self_reported_source": "Un ami"}, follow=True)
    order = order_list().get()
    assert response.redirect_chain[-1][0] == reverse("backoffice:order-detail", args=[order.pk])
    assert (order.total_xaf, order.coupon_code, order.contact.phone) == (21_000, "BIENVENUE", "+237699123456")
    page = response.content.decode()
    assert order.number in page
    assert "https://wa.me/237699123456?text=" in page
    assert "Confirmée" in page  # the next step offered


def test_an_order_refused_by_the_service_shows_its_error_and_creates_nothing(office, customer, coffret):
    response = office.post(reverse("backoffice:order-create"), {
        "contact_id": str(customer.pk), "item_0": f"box:{coffret.pk}", "quantity_0": "1", "delivery_fee_xaf": "-5",
        "payment_method": "cash"})
    assert response.status_code == 400
    assert "Doit être zéro ou plus." in response.content.decode()
    assert not order_list().exists()


def test_a_bad_phone_for_a_new_buyer_is_shown_on_the_phone_field(office, coffret):
    response = office.post(reverse("backoffice:order-create"), {
        "customer_phone": "12", "customer_name": "Personne", "item_0": f"box:{coffret.pk}", "quantity_0": "1",
        "payment_method": "cash"})
    assert response.status_code == 400
    assert response.context["form"].errors["customer_phone"]
    assert not order_list().exists()
    assert not contact_list().exists()


def test_the_order_page_offers_only_the_allowed_next_statuses(office, customer, coffret):
    order = order_create(contact_id=customer.pk, lines=[{"gift_box_id": coffret.pk, "quantity": 1}])
    page = office.get(reverse("backoffice:order-detail", args=[order.pk])).content.decode()
    assert 'value="confirmed"' in page
    assert 'value="cancelled"' in page
    assert 'value="delivered"' not in page
    response = office.post(reverse("backoffice:order-detail", args=[order.pk]), {"action": "status", "status": "delivered"})
    assert response.status_code == 400
    assert order_get(order_id=order.pk).status == OrderStatus.PENDING


def test_payment_refund_and_their_errors(office, customer, coffret):
    order = order_create(contact_id=customer.pk, lines=[{"gift_box_id": coffret.pk, "quantity": 1}],
                         delivery_fee_xaf=1500)
    url = reverse("backoffice:order-detail", args=[order.pk])
    too_much = office.post(url, {"action": "payment", "amount_xaf": "99999", "method": "orange_money"})
    assert too_much.status_code == 400
    assert f"Il ne reste que 11\u202f500 FCFA à payer sur la commande {order.number}." in too_much.content.decode()
    office.post(url, {"action": "payment", "amount_xaf": "11500", "method": "orange_money",
                      "provider_reference": "MP2612.1234.A"})
    assert order_get(order_id=order.pk).paid_xaf == 11_500
    for status in ("confirmed", "preparing", "ready", "out_for_delivery", "delivered"):
        order_status_change(order_id=order.pk, status=status)
    response = office.post(url, {"action": "refund", "keep_delivery_fee": "on", "reason": "Bouteille cassée"},
                           follow=True)
    order = order_get(order_id=order.pk)
    assert (order.status, order.refunded_xaf) == (OrderStatus.REFUNDED, 10_000)
    assert "Remboursée" in response.content.decode()


def test_a_duplicate_mobile_money_reference_is_a_form_error(office, customer, coffret):
    first = order_create(contact_id=customer.pk, lines=[{"gift_box_id": coffret.pk, "quantity": 1}])
    second = order_create(contact_id=customer.pk, lines=[{"gift_box_id": coffret.pk, "quantity": 1}])
    payment_record(order_id=first.pk, amount_xaf=5000, method=PaymentMethod.MTN_MOMO, provider_reference="TX-1")
    response = office.post(reverse("backoffice:order-detail", args=[second.pk]),
                           {"action": "payment", "amount_xaf": "5000", "method": "mtn_momo", "provider_reference": "TX-1"})
    assert response.status_code == 400
    assert "déjà enregistrée" in response.content.decode()
    assert order_get(order_id=second.pk).paid_xaf == 0


def test_the_weekly_report_defaults_to_the_last_complete_week_in_french(office):
    response = office.get(reverse("backoffice:report-weekly"))
    page = response.content.decode()
    assert response.context["week"] == last_complete_week()
    assert "Rapport de la semaine" in page
    assert "Par canal" in page
    other = office.get(reverse("backoffice:report-weekly"), {"semaine": "2026-11-18"})
    assert other.context["week"].isoformat() == "2026-11-16"
