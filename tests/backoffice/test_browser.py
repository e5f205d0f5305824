"""A staff member's day clicked through in headless Chromium at a phone's size (360×740): sign in,
add a customer whose phone is typed with spaces, take an order with a coupon, record an Orange
Money payment, deliver it, refund it, import a CSV and watch a real Celery worker's progress, merge
the duplicate it brought, read this week's ROI.

Fails on any console error or request leaving the machine, and saves a screenshot of each screen
under ``.data/screenshots/`` (``CONFIOTES_SCREENSHOT_DIR`` when set)."""

from __future__ import annotations

import re

import pytest

from api.attribution.services import attribution_run
from api.campaigns.services import cost_create
from api.common.businesstime import business_today, week_start
from tests.backoffice.conftest import STAFF_PASSWORD, off_the_event_loop, screenshot_dir
from tests.workers.processes import celery_worker_on_own_queue

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# A percentage as the report prints it (−40 %, 58 %), never a raw ratio such as 0.58.
PERCENT = re.compile(r"^[−+]?\d[\d\u202f ]*\u00a0%$")


@pytest.fixture
def import_worker(transactional_db):
    """A real Celery worker (``celery -A workers worker``) on a queue of its own, started before the
    browser so that it is ready when the import is sent. The test routes the kicks to it when it
    wants (``settings.CELERY_TASK_DEFAULT_QUEUE``): until then it takes nothing."""
    with celery_worker_on_own_queue() as queue:
        yield queue


@pytest.fixture
def week_spend(coupon):
    """This week's ad spend on the coupon's campaign (written before the browser starts)."""
    return cost_create(campaign=coupon.campaign, day=business_today(), kind="ads", amount_xaf=10_000)


def test_a_day_at_the_shop_on_a_phone(live_server, staff, coffret, coupon, week_spend, import_worker, settings,
                                      phone):
    # Given a staff account, a coffret, a coupon and this week's ad spend on its campaign
    shots = screenshot_dir()
    page = phone

    # When they open the back office they are asked to sign in, in French
    page.goto(f"{live_server.url}/app/")
    assert page.locator("h1").inner_text() == "Connexion"
    page.screenshot(path=shots / "01-connexion.png", full_page=True)
    page.fill("#id_username", staff.username)
    page.fill("#id_password", STAFF_PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_selector("text=Ma journée")
    page.screenshot(path=shots / "02-ma-journee.png", full_page=True)

    # They add a customer whose phone is typed with spaces
    page.click("nav >> text=Clients")
    page.click("text=Ajouter un client")
    page.fill("#id_name", "Awa Fotso")
    page.fill("#id_phone", "699 12 34 56")
    page.fill("#id_city", "Douala")
    page.select_option("#id_segment", "host")
    page.fill("#id_self_reported_source", "Foire de Douala")
    page.screenshot(path=shots / "03-nouveau-client.png", full_page=True)
    page.click("#contact-form button[type=submit]")
    page.wait_for_selector("text=Client ajouté.")
    assert "+237699123456" in page.inner_text("#identity")
    page.screenshot(path=shots / "04-fiche-client.png", full_page=True)

    # They find her again by typing the phone another way
    page.click("nav >> text=Clients")
    page.wait_for_load_state("load")  # htmx (a deferred script) listens from then on
    page.fill("#id_q", "6991 23456")
    page.wait_for_selector("#contact-results >> text=Awa Fotso")
    page.screenshot(path=shots / "05-recherche.png", full_page=True)
    page.click("#contact-results >> text=Awa Fotso")

    # They take an order for her with a coupon
    page.click("main >> text=Prendre une commande")
    page.select_option("#id_item_0", f"box:{coffret.pk}")
    page.fill("#id_quantity_0", "2")
    page.fill("#id_coupon_code", "BIENVENUE")
    page.fill("#id_delivery_fee_xaf", "1000")
    page.select_option("#id_payment_method", "orange_money")
    page.fill("#id_self_reported_source", "Foire de Douala")
    page.screenshot(path=shots / "06-commande.png", full_page=True)
    page.click("#order-form button[type=submit]")
    page.wait_for_selector("#order-number")
    number = page.inner_text("#order-number")
    assert re.fullmatch(r"CF-\d{4}-\d{6}", number)
    assert page.inner_text("#total") == "21\u202f000\u00a0FCFA"
    assert "wa.me/237699123456" in (page.get_attribute("#share", "href") or "")

    # They record the Orange Money payment
    page.select_option("#pay select[name=method]", "orange_money")
    page.fill("#pay input[name=provider_reference]", "MP261202.1530.A12345")
    page.click("#pay button[type=submit]")
    page.wait_for_selector("text=Paiement enregistré.")
    assert page.inner_text("#payment-status").startswith("Payé")
    page.screenshot(path=shots / "07-paiement.png", full_page=True)

    # They move it along, offered only the next step each time, up to delivered
    for status in ("confirmed", "preparing", "ready", "out_for_delivery", "delivered"):
        page.select_option("#move select[name=status]", status)
        page.click("#move button[type=submit]")
        page.wait_for_selector("text=La commande a avancé.")
    assert page.inner_text("#status") == "Livrée"
    page.screenshot(path=shots / "08-livree.png", full_page=True)

    # They refund it, the delivery fee kept
    assert page.is_checked("#refund input[name=keep_delivery_fee]")
    page.click("#refund button[type=submit]")
    page.wait_for_selector("text=Remboursement enregistré.")
    assert page.inner_text("#status") == "Remboursée"
    assert page.inner_text("#refunded") == "20\u202f000\u00a0FCFA"
    page.screenshot(path=shots / "09-remboursee.png", full_page=True)

    # They import a CSV of contacts from a fair; a Celery worker imports it while they watch
    settings.CELERY_TASK_DEFAULT_QUEUE = import_worker
    page.click("nav >> text=Clients")
    page.click("#file-tools >> text=Importer un fichier")
    page.set_input_files("#id_file", files=[{"name": "foire.csv", "mimeType": "text/csv", "buffer": (
        "nom;téléphone;ville\nAwa Fotso;677 00 11 22;Douala\nPaul Essomba;690 00 00 01;Yaoundé\n"
        "Faux numéro;12345;Douala\n").encode()}])
    page.screenshot(path=shots / "clients-1-import.png", full_page=True)
    page.click("#import-form button[type=submit]")
    page.wait_for_selector("#import-bar")
    page.wait_for_function("document.querySelector('#import-bar').value === 100", timeout=90_000)
    page.wait_for_selector("#row-errors, #no-row-errors")
    assert page.inner_text("#import-status") == "Terminé"
    assert (page.inner_text("#created"), page.inner_text("#errors")) == ("2", "1")
    assert "12345 n’est pas un numéro de téléphone valide." in page.inner_text("#row-errors")
    page.screenshot(path=shots / "clients-2-import-termine.png", full_page=True)

    # The file brought a second Awa Fotso of Douala: they merge her into the first after confirming
    page.click("nav >> text=Clients")
    page.click("#file-tools >> text=Doublons")
    page.wait_for_selector("text=Même nom et même ville")
    page.screenshot(path=shots / "clients-3-doublons.png", full_page=True)
    page.click(".duplicate-group button[type=submit]")
    page.wait_for_selector("text=Confirmer la fusion")
    page.screenshot(path=shots / "clients-4-fusion.png", full_page=True)
    page.click("#merge-form button[type=submit]")
    page.wait_for_selector("text=fusionnée(s) dans celle-ci")
    assert "+237699123456" in page.inner_text("#identity")
    page.screenshot(path=shots / "clients-5-fiche-fusionnee.png", full_page=True)
    page.click("#erase-link a")
    page.wait_for_selector("text=Effacer définitivement")
    page.screenshot(path=shots / "clients-6-effacer.png", full_page=True)

    # The credits are computed (the worker's job), then they read this week's ROI in French
    off_the_event_loop(attribution_run, full=True)
    page.click("nav >> text=Rapports")
    page.select_option("#id_semaine", week_start(business_today()).isoformat())
    page.wait_for_url(re.compile(r"semaine="))
    roi = page.inner_text("#roi")
    assert PERCENT.match(roi), roi
    assert "Rapport de la semaine" in page.inner_text("h1")
    page.screenshot(path=shots / "10-rapport.png", full_page=True)
