"""The services' errors on the back office's forms read in French (the page's default language), the
formatted ones with their values (amounts in FCFA, statuses under their French names), and nothing
changes; switched to English, the service's own message shows word for word. The REST API keeps its
English messages whatever the page shows (tests/backoffice/test_pages.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import translation

from api.backoffice import errors as backoffice_errors
from api.backoffice import labels
from api.backoffice.errors import service_message
from api.backoffice.views.orders import OrderDetailView
from api.campaigns.models import Coupon
from api.campaigns.selectors import campaign_list, costs_query
from api.campaigns.services import campaign_create, coupon_create
from api.common.businesstime import business_today
from api.contacts.models import ImportJob
from api.contacts.selectors import contact_find, contact_list
from api.contacts.services import contact_erase, contact_upsert, import_job_run
from api.nurture.selectors import sequence_get
from api.nurture.services import sequence_create
from api.orders.coupons import REFUSALS
from api.orders.enums import OrderStatus
from api.orders.selectors import order_get, order_list
from api.orders.services import order_create, order_status_change

pytestmark = pytest.mark.django_db

NNBSP = "\u202f"  # the narrow no-break space between thousands


def _page(response) -> str:
    return response.content.decode()


def _delivered(customer, coffret, *, delivery_fee_xaf: int = 1500):
    order = order_create(contact_id=customer.pk, lines=[{"gift_box_id": coffret.pk, "quantity": 1}],
                         delivery_fee_xaf=delivery_fee_xaf)
    for status in ("confirmed", "preparing", "ready", "out_for_delivery", "delivered"):
        order_status_change(order_id=order.pk, status=status)
    return order_get(order_id=order.pk)


def _order_form(customer, coffret, **fields):
    return {"contact_id": str(customer.pk), "item_0": f"box:{coffret.pk}", "quantity_0": "1",
            "delivery_fee_xaf": "0", "payment_method": "cash", **fields}


# --- Commandes: take an order -------------------------------------------------------------------------------

def test_a_negative_delivery_fee_reads_in_french_and_takes_no_order(office, customer, coffret):
    response = office.post(reverse("backoffice:order-create"), _order_form(customer, coffret, delivery_fee_xaf="-500"))
    assert response.status_code == 400
    assert response.context["form"].errors["delivery_fee_xaf"] == ["Doit être zéro ou plus."]
    assert "Must be zero or more." not in _page(response)
    assert not order_list().exists()


def test_an_unknown_coupon_reads_in_french_and_takes_no_order(office, customer, coffret):
    response = office.post(reverse("backoffice:order-create"), _order_form(customer, coffret, coupon_code="NOEL99"))
    assert response.status_code == 400
    assert response.context["form"].errors["coupon_code"] == ["Aucun coupon n’a ce code."]
    assert not order_list().exists()


def test_an_expired_coupon_reads_in_french_and_takes_no_order(office, customer, coffret):
    campaign = campaign_create(name="Fête des mères", code="MERES26", channel="facebook_ads")
    coupon_create(campaign=campaign, code="MAMAN", value=10, starts_on=business_today() - timedelta(days=30),
                  ends_on=business_today() - timedelta(days=1))
    response = office.post(reverse("backoffice:order-create"), _order_form(customer, coffret, coupon_code="maman"))
    assert response.status_code == 400
    assert response.context["form"].errors["coupon_code"] == ["Ce coupon a expiré."]
    assert not order_list().exists()


def test_a_customer_s_own_referral_code_reads_in_french(office, customer, coffret):
    """The refusals of referral codes are French too: an ambassador's own code typed for themselves."""
    ambassador = contact_upsert(phone="+237677001122", name="Awa Fotso").contact
    response = office.post(reverse("backoffice:order-create"),
                           _order_form(customer, coffret, contact_id=str(ambassador.pk),
                                       coupon_code=ambassador.referral_code))
    assert response.status_code == 400
    assert response.context["form"].errors["coupon_code"] == [
        "C’est le code de parrainage du client lui-même : il donne une remise aux amis qu’il amène, pas à lui."]
    assert not order_list().exists()


def test_a_bad_phone_for_a_new_buyer_reads_in_french_and_adds_nobody(office, coffret):
    response = office.post(reverse("backoffice:order-create"), {
        "customer_phone": "12 34", "customer_name": "Personne", "item_0": f"box:{coffret.pk}", "quantity_0": "1",
        "payment_method": "cash"})
    assert response.status_code == 400
    assert response.context["form"].errors["customer_phone"] == ["12 34 n’est pas un numéro de téléphone valide."]
    assert not order_list().exists()
    assert not contact_list().exists()


def test_a_quantity_of_zero_reads_in_french(office, customer, coffret):
    response = office.post(reverse("backoffice:order-create"), _order_form(customer, coffret, quantity_0="0"))
    assert response.status_code == 400
    assert response.context["form"].errors["quantity_0"] == [
        "Assurez-vous que cette valeur est supérieure ou égale à 1."]
    assert not order_list().exists()


# --- Commandes: move an order, payments, refunds ---------------------------------------------------------------

def test_a_step_the_order_no_longer_allows_names_the_allowed_ones_in_french(office, customer, coffret, monkeypatch):
    """A page opened before a colleague moved the order still offers the old steps: the service refuses."""
    order = order_create(contact_id=customer.pk, lines=[{"gift_box_id": coffret.pk, "quantity": 1}])
    monkeypatch.setattr(OrderDetailView, "next_statuses", staticmethod(lambda order: tuple(OrderStatus.values)))
    response = office.post(reverse("backoffice:order-detail", args=[order.pk]),
                           {"action": "status", "status": OrderStatus.DELIVERED})
    assert response.status_code == 400
    assert response.context["status_form"].errors["status"] == [
        "Cette commande ne peut pas prendre cette étape maintenant. Étapes possibles : Confirmée, Annulée."]
    assert order_get(order_id=order.pk).status == OrderStatus.PENDING


def test_a_payment_larger_than_what_is_due_reads_in_french(office, customer, coffret):
    order = order_create(contact_id=customer.pk, lines=[{"gift_box_id": coffret.pk, "quantity": 1}],
                         delivery_fee_xaf=1500)
    response = office.post(reverse("backoffice:order-detail", args=[order.pk]),
                           {"action": "payment", "amount_xaf": "20000", "method": "cash"})
    assert response.status_code == 400
    assert response.context["payment_form"].errors["amount_xaf"] == [
        f"Il ne reste que 11{NNBSP}500 FCFA à payer sur la commande {order.number}."]
    assert order_get(order_id=order.pk).paid_xaf == 0


def test_a_payment_of_nothing_reads_in_french(office, customer, coffret):
    order = order_create(contact_id=customer.pk, lines=[{"gift_box_id": coffret.pk, "quantity": 1}])
    response = office.post(reverse("backoffice:order-detail", args=[order.pk]),
                           {"action": "payment", "amount_xaf": "0", "method": "orange_money"})
    assert response.status_code == 400
    assert "Assurez-vous que cette valeur est supérieure ou égale à 1." in _page(response)
    assert order_get(order_id=order.pk).paid_xaf == 0


def test_a_refund_above_what_is_left_reads_in_french_and_refunds_nothing(office, customer, coffret):
    order = _delivered(customer, coffret)
    response = office.post(reverse("backoffice:order-detail", args=[order.pk]),
                           {"action": "refund", "amount_xaf": "25000", "keep_delivery_fee": "on"})
    assert response.status_code == 400
    assert response.context["refund_form"].errors["amount_xaf"] == [
        f"Entre 1 et 10{NNBSP}000 FCFA peuvent être remboursés."]
    order = order_get(order_id=order.pk)
    assert (order.status, order.refunded_xaf) == (OrderStatus.DELIVERED, 0)


def test_english_shows_the_service_s_own_message(office, customer, coffret):
    office.post(reverse("backoffice:set-language"), {"language": "en", "next": "/app/"})
    fee = office.post(reverse("backoffice:order-create"), _order_form(customer, coffret, delivery_fee_xaf="-5"))
    assert fee.context["form"].errors["delivery_fee_xaf"] == ["Must be zero or more."]
    assert not order_list().exists()
    order = _delivered(customer, coffret)
    refund = office.post(reverse("backoffice:order-detail", args=[order.pk]),
                         {"action": "refund", "amount_xaf": "25000", "keep_delivery_fee": "on"})
    assert refund.context["refund_form"].errors["amount_xaf"] == ["Between 1 and 10000 XAF can be refunded."]
    assert order_get(order_id=order.pk).refunded_xaf == 0


# --- Clients: quick add, merge, erase, import ---------------------------------------------------------------

def test_quick_add_with_a_bad_phone_reads_in_french_and_adds_nobody(office):
    response = office.post(reverse("backoffice:contact-create"), {"name": "Awa", "phone": "699 12", "segment": "host"})
    assert response.status_code == 400
    assert response.context["form"].errors["phone"] == ["699 12 n’est pas un numéro de téléphone valide."]
    assert not contact_list().exists()


def test_merging_an_erased_card_reads_in_french_and_merges_nobody(office):
    kept = contact_upsert(phone="+237690000001", name="Brice Mbarga", city="Yaoundé").contact
    gone = contact_upsert(phone="+237655000002", name="Brice Mbarga", city="Yaoundé").contact
    contact_erase(contact_id=gone.pk)
    response = office.post(reverse("backoffice:contact-merge"), {"garder": kept.pk, "avec": [gone.pk]})
    assert response.status_code == 400
    assert f"La fiche n° {gone.pk} a été effacée." in _page(response)
    assert contact_find(gone.pk).merged_into_id is None


def _upload(office, text: str):
    file = SimpleUploadedFile("clients.csv", text.encode(), content_type="text/csv")
    return office.post(reverse("backoffice:contact-import"), {"file": file})


def test_an_import_s_row_errors_read_in_french(office):
    _upload(office, "nom;téléphone;segment\nAwa Fotso;699 12 34 56;vip\nBella;677 11 22 33;sain\n")
    job = ImportJob.objects.get()
    import_job_run(job_id=job.pk)
    page = _page(office.get(reverse("backoffice:contact-import-job", args=[job.pk])))
    assert "Segment inconnu « vip » : utilisez ébahir, sain ou business (ou host, healthy, reseller)." in page
    assert "Unknown segment" not in page
    assert ImportJob.objects.get().error_count == 1


def test_why_an_import_stopped_reads_in_french(office):
    _upload(office, "nom;téléphone\nAwa Fotso;699 12 34 56\n")
    # How the worker leaves a job whose batch kept failing (contacts.services.imports.jobs).
    ImportJob.objects.update(status="failed", failure=(
        "The rows after row 1 failed 5 times in a row; the import stopped there (rows before it are imported). "
        "Last error: OperationalError: database is locked"))
    page = _page(office.get(reverse("backoffice:contact-import-job", args=[ImportJob.objects.get().pk])))
    assert ("Les lignes après la ligne 1 ont échoué 5 fois de suite ; l’import s’est arrêté là (les lignes "
            "d’avant sont importées). Dernière erreur : OperationalError: database is locked") in page


# --- Campagnes: campaigns, coupons, costs -----------------------------------------------------------------------

@pytest.fixture
def foire(db):
    return campaign_create(name="Foire de Douala", code="FOIRE26", channel="fair")


def test_a_taken_campaign_code_reads_in_french_and_creates_nothing(office, foire):
    response = office.post(reverse("backoffice:campaign-create"),
                           {"name": "Autre foire", "code": "foire26", "channel": "fair"})
    assert response.status_code == 400
    assert "Déjà utilisé par une campagne ou un coupon." in _page(response)
    assert campaign_list().count() == 1


def test_a_coupon_worth_too_much_reads_in_french_and_creates_nothing(office, foire):
    response = office.post(reverse("backoffice:campaign-detail", args=[foire.pk]), {
        "action": "coupon", "code": "GROS", "kind": "fixed", "value": "2000000000"})
    assert response.status_code == 400
    assert response.context["coupon_form"].errors["value"] == [f"Au plus 1{NNBSP}000{NNBSP}000{NNBSP}000 FCFA."]
    assert not Coupon.objects.filter(code="GROS").exists()


def test_a_coupon_minimum_too_high_reads_in_french(office, foire):
    response = office.post(reverse("backoffice:campaign-detail", args=[foire.pk]), {
        "action": "coupon", "code": "MINI", "kind": "percent", "value": "10", "minimum_order_xaf": "5000000000"})
    assert response.status_code == 400
    assert response.context["coupon_form"].errors["minimum_order_xaf"] == [
        f"Entre 0 et 1{NNBSP}000{NNBSP}000{NNBSP}000 FCFA."]
    assert not Coupon.objects.filter(code="MINI").exists()


def test_a_negative_cost_reads_in_french_and_records_nothing(office, foire):
    response = office.post(reverse("backoffice:campaign-detail", args=[foire.pk]), {
        "action": "cost", "amount_xaf": "-100", "day": business_today().isoformat(), "kind": "printing"})
    assert response.status_code == 400
    assert response.context["cost_form"].errors["amount_xaf"] == ["Un coût ne peut pas être négatif."]
    assert not costs_query(campaign_id=foire.pk).exists()


# --- Messages: sequence steps -----------------------------------------------------------------------------------

@pytest.fixture
def welcome(db):
    return sequence_create(name="Bienvenue", purpose="introduction", steps=[
        {"delay": timedelta(), "text": "Bienvenue {first_name} !"},
        {"delay": timedelta(days=2), "text": "Avez-vous goûté le bissap ?"},
    ])


def _step(sequence, position: int):
    return next(s for s in sequence_get(sequence.pk).steps.all() if s.position == position)


def test_a_step_delay_too_long_reads_in_french_on_the_days_and_changes_nothing(office, welcome):
    response = office.post(reverse("backoffice:sequence-step-edit", args=[welcome.pk, 2]),
                           {"text": "Nouveau texte", "days": "400", "hours": "0"})
    assert response.status_code == 400
    # The form's own limit (Django's message, rendered on the page in French).
    assert "Assurez-vous que cette valeur est inférieure ou égale à 366." in _page(response)
    step = _step(welcome, 2)
    assert (step.text, step.delay) == ("Avez-vous goûté le bissap ?", timedelta(days=2))


def test_a_sending_window_that_ends_before_it_starts_reads_in_french(office, welcome):
    response = office.post(reverse("backoffice:sequence-step-add", args=[welcome.pk]), {
        "text": "Un coffret ?", "days": "1", "hours": "0", "window_start": "18:00", "window_end": "09:00"})
    assert response.status_code == 400
    assert response.context["form"].errors["window_end"] == ["La plage d’envoi doit finir après son début."]
    assert sequence_get(welcome.pk).steps.count() == 2


# --- The table itself ------------------------------------------------------------------------------------------

# One English message of every formatted shape, as the services write them.
SAMPLES = [
    "Coupon NOEL: This coupon has expired.",
    "An order is at most 1000000000 XAF; split it.",
    "The discount must be between 0 and the subtotal (12000).",
    "Ensure this value is greater than or equal to 1.",
    "Choose one of cash, orange_money, mtn_momo, bank_transfer, card.",
    "Sirop de bissap is not sold any more.",
    "No product #12.",
    "No gift box #3.",
    "No order #7.",
    "Allowed: none (final status).",
    "An order cannot go from pending to delivered. Allowed from pending: confirmed, cancelled.",
    "Only 5000 XAF is due on CF-2612-0001.",
    "Order CF-2612-0001 is cancelled: no payment can be recorded.",
    "The mtn_momo transaction TX-1 was already recorded.",
    "Nothing is left to refund on CF-2612-0001.",
    "12 is not a valid phone number.",
    "No contact #4.",
    "No contact #4 to be referred by.",
    "No task #9.",
    "No import job #2.",
    "Contact #4 was merged or erased.",
    "Contact #4 was merged or erased; it cannot be edited.",
    "Cannot move the orders of #4 to #5: it would break one of their unique rules.",
    "segment: 'vip' is not one of host, healthy, reseller, unknown.",
    "'vip' is not one of host, healthy, reseller, unknown.",
    "'vip' is not a valid choice.",
    "The file cannot be read as CSV: new-line character seen in unquoted field.",
    "Not a readable CSV file: new-line character seen in unquoted field.",
    "Headers found: nom, ville",
    "The phone, WhatsApp number and e-mail of this row belong to two contacts: #4 and #5.",
    "At most 4096 characters.",
    "The rows after row 1001 failed 5 times in a row; the import stopped there (rows before it are imported). "
    "Last error: OperationalError: database is locked",
    "Attempt 2 of 5 failed: OperationalError: database is locked",
    "The code FOIRE26 is already used.",
    "'bonus' is not a cost kind.",
    "'abc' is not a decimal amount.",
    "No campaign #3.",
    "No sequence #3.",
    "No step 4 in sequence #3.",
    "No broadcast #3.",
    "Unknown: ['sms']",
    "Unknown audience filter: colour.",
    "Unknown channel 'fax'.",
    "One of: champions, loyal.",
    "Unknown rfm_group: vip.",
    "Enter a whole number from 1 to 52.",
    "Select one of: campaign, channel.",
]


@pytest.mark.parametrize("message", SAMPLES)
def test_every_formatted_message_has_its_french_wording_and_stays_english_in_english(message):
    with translation.override("fr"):
        french = service_message(message)
    with translation.override("en"):
        english = service_message(message)
    assert french != message
    assert english == message


def test_every_shape_of_the_table_is_in_the_catalogue():
    with translation.override("fr"):
        missing = [shape.template for shape in backoffice_errors._SHAPES
                   if translation.gettext(shape.template) == shape.template]
    assert missing == []


def test_every_coupon_refusal_is_in_the_catalogue():
    with translation.override("fr"):
        missing = [reason for reason, message in REFUSALS.items() if service_message(message) == message]
    assert missing == []


def test_why_a_message_was_not_sent_has_a_french_name():
    """The reasons the nurture app stores (``no_consent``, ``window_closed``, ``replied``…) are named for staff."""
    with translation.override("fr"):
        names = {code: labels.label("message_reason", code) for code in labels.LABELS["message_reason"]}
    untranslated = [code for code, name in names.items() if name == str(labels.LABELS["message_reason"][code])]
    assert untranslated == []
    assert names["window_closed"] == "plus de 24 heures depuis son dernier message"
