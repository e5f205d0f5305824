"""The customer file's tools in the back office, through Django's test client: the card's nurture
facts, Ma journée's mature prospects and reorders, duplicates and their merge, CSV import with its
progress, export, erase, and the order form's products. Each refused input shows the service's
error and changes nothing."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone, translation

from api.attribution.services import rfm_recompute
from api.backoffice.labels import label
from api.contacts.models import ImportJob
from api.contacts.selectors import contact_find, contact_list
from api.contacts.services import contact_merge, contact_upsert, import_job_run
from api.nurture.models import NurtureProfile
from api.nurture.services import lead_score_record, nurture_profile_get
from api.orders.selectors import order_list
from api.orders.services import order_create, order_status_change, product_create

pytestmark = pytest.mark.django_db


def _due_to_reorder(contact_id: int, when):
    """What ``replenishment_plan`` stores for a customer with a rhythm: the predicted reorder date."""
    profile = nurture_profile_get(contact_id)
    NurtureProfile.objects.filter(pk=profile.pk).update(replenishment_due_at=when)


def _twins():
    """Two cards of one person: same name and city, another phone."""
    first = contact_upsert(phone="+237690000001", name="Brice Mbarga", city="Yaoundé").contact
    second = contact_upsert(phone="+237655000002", name="brice mbarga", city="Yaoundé").contact
    return first, second


# --- 1. the customer card ------------------------------------------------------------------------------


def test_the_card_shows_lead_score_maturity_rfm_group_and_reorder_date(office, customer, coffret):
    lead_score_record(contact_id=customer.pk, kind="tasting", ref="tasting:1", points=35)
    order = order_create(contact_id=customer.pk, lines=[{"gift_box_id": coffret.pk, "quantity": 1}])
    for status in ("confirmed", "preparing", "ready", "out_for_delivery", "delivered"):
        order_status_change(order_id=order.pk, status=status)
    rfm_recompute()
    _due_to_reorder(customer.pk, timezone.now() - timedelta(days=2))

    response = office.get(reverse("backoffice:contact-detail", args=[customer.pk]))

    card = response.context
    assert card["profile"].lead_score == 35
    assert card["rfm"] is not None
    page = response.content.decode()
    assert "Score de maturité" in page
    assert "Mûr depuis le" in page
    assert "Réassort prévu" in page
    assert "en retard" in page
    with translation.override("fr"):
        group = label("rfm_group", card["rfm"].group)
    assert page.split('id="rfm-group">')[1].startswith(group)


def test_a_card_without_nurture_facts_says_so_and_creates_nothing(office, customer):
    page = office.get(reverse("backoffice:contact-detail", args=[customer.pk])).content.decode()
    assert 'id="lead-score">0' in page
    assert 'id="reorder">–' in page
    assert not NurtureProfile.objects.filter(contact_id=customer.pk).exists()


# --- 2. Ma journée ---------------------------------------------------------------------------------------


def test_my_day_lists_mature_prospects_and_customers_due_to_reorder(office, customer):
    prospect = contact_upsert(phone="+237677001122", name="Joëlle Kamga", city="Douala").contact
    lead_score_record(contact_id=prospect.pk, kind="tasting", ref="tasting:2", points=40)
    cold = contact_upsert(phone="+237677001133", name="Paul Froid", city="Douala").contact
    lead_score_record(contact_id=cold.pk, kind="click", ref="click:3", points=5)
    later = contact_upsert(phone="+237677001144", name="Rita Plus-Tard", city="Douala").contact
    _due_to_reorder(customer.pk, timezone.now() - timedelta(days=1))
    _due_to_reorder(later.pk, timezone.now() + timedelta(days=20))

    page = office.get(reverse("backoffice:home")).content.decode()

    matured = page.split('id="matured"')[1].split("</section>")[0]
    reorders = page.split('id="reorders"')[1].split("</section>")[0]
    assert "Joëlle Kamga" in matured
    assert "Paul Froid" not in matured
    assert "Mireille Ngo" in reorders
    assert "Rita Plus-Tard" not in reorders
    assert "En retard depuis le" in reorders
    # Open complaints come first on the page.
    assert page.index('id="complaints"') < page.index('id="tasks"') < page.index('id="matured"')


def test_my_day_has_clear_empty_states(office):
    page = office.get(reverse("backoffice:home")).content.decode()
    assert "Aucun prospect n’est devenu mûr cette semaine." in page
    assert "Personne ne doit recommander dans les prochains jours." in page


# --- 3. duplicates and merge ------------------------------------------------------------------------------


def test_duplicates_are_listed_and_merged_after_a_confirmation(office):
    first, second = _twins()
    page = office.get(reverse("backoffice:contact-duplicates")).content.decode()
    assert "Même nom et même ville" in page
    assert f'value="{first.pk}"' in page
    assert f'value="{second.pk}"' in page

    # Choosing the card to keep opens a confirmation: nothing is merged yet.
    confirm = office.get(reverse("backoffice:contact-merge"), {"garder": first.pk, "avec": [first.pk, second.pk]})
    assert confirm.status_code == 200
    assert "Confirmer la fusion" in confirm.content.decode()
    assert confirm.context["others"] == [second]
    assert contact_find(second.pk).merged_into_id is None

    response = office.post(reverse("backoffice:contact-merge"), {"garder": first.pk, "avec": [second.pk]}, follow=True)

    assert response.redirect_chain[-1][0] == reverse("backoffice:contact-detail", args=[first.pk])
    assert "fusionnée(s) dans celle-ci" in response.content.decode()
    assert contact_find(second.pk).merged_into_id == first.pk
    assert "Aucun doublon probable" in office.get(reverse("backoffice:contact-duplicates")).content.decode()


def test_a_merge_the_service_refuses_shows_its_error_and_merges_nobody(office):
    first, second = _twins()
    # The second merge (a card into itself) is refused: the first one is undone with it.
    response = office.post(reverse("backoffice:contact-merge"), {"garder": first.pk, "avec": [second.pk, first.pk]})
    assert response.status_code == 400
    assert "Une fiche ne peut pas être fusionnée avec elle-même." in response.content.decode()
    assert contact_find(second.pk).merged_into_id is None


def test_a_card_merged_meanwhile_shows_the_service_s_conflict(office):
    first, second = _twins()
    third = contact_upsert(phone="+237699000003", name="Brice M.", city="Yaoundé").contact
    contact_merge(target_id=third.pk, source_id=second.pk)
    response = office.post(reverse("backoffice:contact-merge"), {"garder": first.pk, "avec": [second.pk]})
    assert response.status_code == 400
    assert "Ce client a déjà été fusionné dans une autre fiche." in response.content.decode()
    assert contact_find(second.pk).merged_into_id == third.pk


# --- 4. import, export, erase ---------------------------------------------------------------------------


def _upload(office, text: str, **data):
    file = SimpleUploadedFile("clients.csv", text.encode(), content_type="text/csv")
    return office.post(reverse("backoffice:contact-import"), {"file": file, **data})


def test_an_import_is_followed_to_the_end_with_its_row_errors(office, customer):
    response = _upload(office, "nom;téléphone;ville\nAwa Fotso;699 12 34 56;Douala\n"
                               "Mireille Ngo;+237 690 11 22 33;Douala\nFaux;12345;Douala\n")
    job = ImportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("backoffice:contact-import-job", args=[job.pk])

    # While the job waits for a worker, the progress fragment keeps polling.
    waiting = office.get(reverse("backoffice:contact-import-job", args=[job.pk]), HTTP_HX_REQUEST="true")
    fragment = waiting.content.decode()
    assert "<html" not in fragment
    assert "hx-get" in fragment
    assert "En attente" in fragment

    import_job_run(job_id=job.pk)  # what the worker does

    done = office.get(reverse("backoffice:contact-import-job", args=[job.pk]), HTTP_HX_REQUEST="true")
    fragment = done.content.decode()
    assert "hx-get" not in fragment  # finished: the polling stops
    assert "Terminé" in fragment
    assert 'value="100"' in fragment
    assert (done.context["job"].created_count, done.context["job"].unchanged_count,
            done.context["job"].error_count) == (1, 1, 1)
    assert "Ligne 4" in fragment
    assert "12345 n’est pas un numéro de téléphone valide." in fragment
    assert contact_list().filter(phone="+237699123456").exists()


def test_a_file_without_an_identity_column_is_refused_in_french_and_no_job_is_made(office):
    response = _upload(office, "nom;ville\nAwa;Douala\n")
    assert response.status_code == 400
    assert "Le fichier n’a pas de colonne téléphone, WhatsApp ou e-mail." in response.content.decode()
    assert not ImportJob.objects.exists()


def test_an_unknown_import_job_is_a_404(office):
    assert office.get(reverse("backoffice:contact-import-job", args=[999])).status_code == 404


def test_the_export_is_the_api_s_csv(office, customer, staff_client):
    contact_upsert(phone="+237677889900", name="Brice Mbarga", city="Yaoundé")
    response = office.get(reverse("backoffice:contact-export"))
    assert response["Content-Disposition"].startswith('attachment; filename="contacts-')
    body = b"".join(response.streaming_content).decode()
    api_body = b"".join(staff_client.get("/api/v1/contacts/export.csv").streaming_content).decode()
    assert body == api_body
    rows = list(csv.DictReader(io.StringIO(body.lstrip("\ufeff"))))
    assert {r["phone"] for r in rows} == {"+237690112233", "+237677889900"}

    searched = office.get(reverse("backoffice:contact-export"), {"q": "Mireille"})
    rows = list(csv.DictReader(io.StringIO(b"".join(searched.streaming_content).decode().lstrip("\ufeff"))))
    assert [r["name"] for r in rows] == ["Mireille Ngo"]


def test_erase_asks_for_a_confirmation_first(office, customer):
    url = reverse("backoffice:contact-erase", args=[customer.pk])
    page = office.get(url).content.decode()
    assert "Effacer définitivement" in page

    refused = office.post(url, {})
    assert refused.status_code == 400
    assert contact_find(customer.pk).erased_at is None
    assert contact_find(customer.pk).phone == "+237690112233"

    response = office.post(url, {"confirm": "on"}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("backoffice:contact-detail", args=[customer.pk])
    assert "Données personnelles effacées le" in response.content.decode()
    erased = contact_find(customer.pk)
    assert erased.erased_at is not None
    assert erased.phone is None


def test_erasing_a_merged_card_shows_the_service_s_error_and_erases_nothing(office):
    first, second = _twins()
    contact_merge(target_id=first.pk, source_id=second.pk)
    response = office.post(reverse("backoffice:contact-erase", args=[second.pk]), {"confirm": "on"})
    assert response.status_code == 400
    assert "Ce client a déjà été fusionné dans une autre fiche." in response.content.decode()
    assert contact_find(second.pk).erased_at is None
    assert contact_find(first.pk).erased_at is None


@pytest.mark.parametrize("name", ["contact-duplicates", "contact-merge", "contact-import", "contact-export"])
def test_the_file_s_tools_are_for_signed_in_staff_only(client, name):
    response = client.get(reverse(f"backoffice:{name}"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("backoffice:login"))


def test_the_clients_page_links_to_the_file_s_tools(office):
    page = office.get(reverse("backoffice:contact-list")).content.decode()
    for name in ("contact-duplicates", "contact-import", "contact-export"):
        assert reverse(f"backoffice:{name}") in page


# --- 5. the order form's products ----------------------------------------------------------------------


def test_the_order_form_offers_products_and_coffrets(office, coffret):
    page = office.get(reverse("backoffice:order-create")).content.decode()
    assert '<optgroup label="Coffrets">' in page
    assert '<optgroup label="Produits">' in page
    assert "Sirop de gingembre — 3\u202f500 FCFA" in page


def test_an_order_of_a_plain_product(office, customer, coffret):
    ginger = product_create(sku="SIR-GING-75", name="Sirop de gingembre 75 cl", price_xaf=5000, unit_cost_xaf=1500)
    response = office.post(reverse("backoffice:order-create"), {
        "contact_id": str(customer.pk), "item_0": f"product:{ginger.pk}", "quantity_0": "3",
        "item_1": f"box:{coffret.pk}", "quantity_1": "1", "payment_method": "cash"}, follow=True)
    order = order_list().get()
    assert response.redirect_chain[-1][0] == reverse("backoffice:order-detail", args=[order.pk])
    assert order.total_xaf == 3 * 5000 + 10_000
    assert "Sirop de gingembre 75 cl × 3" in response.content.decode()


def test_a_product_line_the_service_refuses_is_shown_on_its_quantity(office, customer, coffret):
    ginger = product_create(sku="SIR-GING-75", name="Sirop de gingembre 75 cl", price_xaf=5000, unit_cost_xaf=1500)
    response = office.post(reverse("backoffice:order-create"), {
        "contact_id": str(customer.pk), "item_0": f"product:{ginger.pk}", "quantity_0": "0", "payment_method": "cash"})
    assert response.status_code == 400
    assert response.context["form"].errors["quantity_0"]
    assert not order_list().exists()
