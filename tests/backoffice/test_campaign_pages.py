"""Campagnes through Django's test client: the campaign list with this week's figures, creating a
campaign, its coupons, costs and QR codes, and the Page's audience chart; in French, with the
campaigns services' errors on the forms and nothing changed."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from django.urls import reverse

from api.backoffice.views.campaigns import audience_chart
from api.campaigns.selectors import campaign_get_by_code, campaign_list, campaign_resolve_code, costs_query
from api.campaigns.services import campaign_create, cost_create, coupon_create, facebook_page_sync
from api.common.businesstime import business_today
from integrations.meta.types import PageMetricDay
from tests.backoffice.conftest import PHONE_SIZE, STAFF_PASSWORD, screenshot_dir

pytestmark = pytest.mark.django_db

PAGES = ["campaign-list", "campaign-create", "page-audience"]


@pytest.fixture
def foire(db):
    return campaign_create(name="Foire de Douala", code="FOIRE26", channel="fair")


def _detail(campaign) -> str:
    return reverse("backoffice:campaign-detail", args=[campaign.pk])


def _phone_safe(page: str) -> None:
    """What keeps a page within a 360 px phone: every table in the scrolling wrapper, the chart
    scaled by its viewBox (no width of its own), long link URLs in the wrapping class."""
    assert page.count("<table") == page.count('<div class="scroll"><table')
    for svg in re.findall(r"<svg[^>]*>", page):
        assert 'class="chart"' in svg
        assert "viewBox=" in svg
        assert " width=" not in svg


@pytest.mark.parametrize("name", PAGES)
def test_the_campaign_pages_are_for_staff_only(client, name):
    response = client.get(reverse(f"backoffice:{name}"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("backoffice:login"))


@pytest.mark.parametrize("name", PAGES)
def test_the_campaign_pages_answer_in_french(office, name):
    response = office.get(reverse(f"backoffice:{name}"))
    page = response.content.decode()
    assert response.status_code == 200
    assert '<html lang="fr">' in page
    assert 'aria-current="page">Campagnes</a>' in page
    _phone_safe(page)


def test_the_list_shows_each_campaign_with_this_week_s_cost(office, foire):
    cost_create(campaign=foire, day=business_today(), kind="printing", amount_xaf=15_000, note="Flyers")
    page = office.get(reverse("backoffice:campaign-list")).content.decode()
    assert "Foire de Douala" in page
    assert "FOIRE26 · Foire · Brouillon" in page
    assert "Coût cette semaine" in page
    assert "15\u202f000\u00a0FCFA" in page
    assert _detail(foire) in page


def test_an_empty_list_says_so(office):
    page = office.get(reverse("backoffice:campaign-list")).content.decode()
    assert "Aucune campagne pour l’instant" in page


def test_a_campaign_is_created_with_its_code_in_upper_case(office):
    response = office.post(reverse("backoffice:campaign-create"),
                           {"name": "Coffrets de Noël", "code": "noel26", "channel": "facebook_ads"}, follow=True)
    campaign = campaign_get_by_code("NOEL26")
    assert campaign is not None
    assert (campaign.name, campaign.channel) == ("Coffrets de Noël", "facebook_ads")
    assert response.redirect_chain[-1][0] == _detail(campaign)
    page = response.content.decode()
    assert "Campagne NOEL26 créée." in page
    assert "Publicités Facebook" in page


@pytest.mark.parametrize(("code", "message"), [
    ("A!", "Un code a de 3 à 32 lettres, chiffres, « _ » ou « - »."),
    ("foire26", "Déjà utilisé par une campagne ou un coupon."),
])
def test_a_code_the_service_refuses_shows_its_error_in_french_and_creates_nothing(office, foire, code, message):
    response = office.post(reverse("backoffice:campaign-create"),
                           {"name": "Autre", "code": code, "channel": "flyer"})
    assert response.status_code == 400
    assert response.context["form"].errors["code"] == [message]
    assert message in response.content.decode()
    assert list(campaign_list().values_list("code", flat=True)) == ["FOIRE26"]


def test_a_cost_is_recorded_and_shown_in_fcfa(office, foire):
    response = office.post(_detail(foire), {"action": "cost", "amount_xaf": "25000", "day": "2026-11-20",
                                            "kind": "printing", "note": "500 flyers"}, follow=True)
    page = response.content.decode()
    assert "Coût enregistré." in page
    assert "20 novembre 2026 · Impression · <strong>25\u202f000\u00a0FCFA</strong>" in page
    assert "500 flyers" in page
    cost = costs_query(campaign_id=foire.pk).get()
    assert (cost.amount_xaf, cost.day, cost.source) == (25_000, date(2026, 11, 20), "manual")


def test_a_negative_cost_shows_the_service_s_error_and_records_nothing(office, foire):
    response = office.post(_detail(foire), {"action": "cost", "amount_xaf": "-100", "day": "2026-11-20",
                                            "kind": "printing"})
    assert response.status_code == 400
    assert response.context["cost_form"].errors["amount_xaf"] == ["Un coût ne peut pas être négatif."]
    assert not costs_query(campaign_id=foire.pk).exists()


def test_the_cost_form_does_not_offer_samples(office, foire):
    page = office.get(_detail(foire)).content.decode()
    assert 'value="printing"' in page
    assert 'value="samples"' not in page  # recorded by the sample orders themselves


def test_a_coupon_is_created_and_listed(office, foire):
    response = office.post(_detail(foire), {"action": "coupon", "code": "stand10", "description": "10 % au stand"},
                           follow=True)
    page = response.content.decode()
    assert "Coupon STAND10 créé." in page
    assert "<strong>STAND10</strong> · 10 % au stand" in page
    assert campaign_resolve_code("STAND10") == foire


def test_a_coupon_with_a_taken_code_is_refused_on_the_form(office, foire):
    response = office.post(_detail(foire), {"action": "coupon", "code": "FOIRE26"})
    assert response.status_code == 400
    assert response.context["coupon_form"].errors["code"] == ["Déjà utilisé par une campagne ou un coupon."]
    assert not foire.coupons.exists()


def test_each_link_has_its_qr_code_to_download(office, foire):
    page = office.get(_detail(foire)).content.decode()
    assert "Lien suivi (compte chaque scan)" in page
    assert "/r/FOIRE26" in page
    png = reverse("campaign-qr-png", args=[foire.pk]) + "?link=redirect"
    svg = reverse("campaign-qr-svg", args=[foire.pk]) + "?link=whatsapp"
    assert f'href="{png}" download="FOIRE26-redirect.png"' in page
    assert f'href="{svg}" download="FOIRE26-whatsapp.svg"' in page
    image = office.get(png)
    assert (image.status_code, image["Content-Type"]) == (200, "image/png")
    assert image.content.startswith(b"\x89PNG\r\n\x1a\n")
    drawing = office.get(svg)
    assert (drawing.status_code, drawing["Content-Type"]) == (200, "image/svg+xml")
    assert b"<svg" in drawing.content


def test_an_unknown_campaign_is_a_french_not_found_page(office):
    response = office.get(reverse("backoffice:campaign-detail", args=[9999]))
    assert response.status_code == 404
    assert "Introuvable" in response.content.decode()


class _FakePage:
    """Page Insights as the Graph client returns them: followers growing, then one flat day."""

    def __init__(self, values: dict[date, int]) -> None:
        self.values = values

    def page_insights(self, page_id, metrics, *, since, until):
        return [PageMetricDay(metric="page_follows", day=day, value=value)
                for day, value in self.values.items() if since <= day <= until]


def test_the_audience_page_draws_the_followers_and_lists_the_last_days(office, settings):
    settings.META_PAGE_ID, settings.META_PAGE_ACCESS_TOKEN = "1234567890", "tok"
    today = business_today()
    values = {today - timedelta(days=n): 2800 + 10 * (5 - n) for n in range(1, 6)}
    facebook_page_sync(today=today, client=_FakePage(values), sleep=lambda s: None)
    page = office.get(reverse("backoffice:page-audience")).content.decode()
    assert "Abonnés de la Page" in page
    assert "<polyline" in page
    points = re.search(r'<polyline[^>]* points="([^"]+)"', page)
    assert points is not None
    assert len(points.group(1).split()) == 5
    assert "2\u202f840" in page or "2\u00a0840" in page  # yesterday's value, grouped the French way
    assert 'id="no-audience"' not in page
    _phone_safe(page)


def test_the_audience_page_says_when_there_is_nothing_yet(office):
    page = office.get(reverse("backoffice:page-audience")).content.decode()
    assert 'id="no-audience"' in page
    assert "Pas encore de chiffres d’audience" in page
    assert "<svg" not in page


def test_the_chart_rises_with_the_values_and_draws_a_flat_line_in_the_middle():
    day = date(2026, 11, 1)
    rising = audience_chart("page_follows", [(day, 10), (day + timedelta(days=2), 30), (day + timedelta(days=1), 20)])
    assert rising is not None
    ys = [float(p.split(",")[1]) for p in rising.points.split()]
    assert ys[0] > ys[1] > ys[2]  # SVG's y grows downwards: a higher value is drawn higher
    assert (rising.lowest, rising.highest, rising.latest[0]) == (10, 30, (day + timedelta(days=2), 30))
    flat = audience_chart("page_follows", [(day, 5)])
    assert flat is not None
    assert flat.points == f"{flat.last_x},{flat.last_y}"
    assert audience_chart("page_follows", []) is None


@pytest.fixture
def foire_with_figures(foire, settings):
    """A coupon and a large cost on the campaign, and a month of Page followers (written before the
    browser starts: Playwright's event loop then refuses database calls in the test's thread)."""
    settings.META_PAGE_ID, settings.META_PAGE_ACCESS_TOKEN = "1234567890", "tok"
    today = business_today()
    facebook_page_sync(today=today, client=_FakePage({today - timedelta(days=n): 3000 - n for n in range(1, 31)}),
                       sleep=lambda s: None)
    coupon_create(campaign=foire, code="STAND10", description="10 % au stand")
    cost_create(campaign=foire, day=today, kind="printing", amount_xaf=1_250_000, note="Flyers et kakémonos")
    return foire


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_campaign_screens_fit_a_phone(live_server, staff, foire_with_figures, phone):
    # Given a campaign with a coupon, a cost and a month of Page followers
    foire = foire_with_figures
    shots = screenshot_dir()
    page = phone
    page.goto(f"{live_server.url}/app/")
    page.fill("#id_username", staff.username)
    page.fill("#id_password", STAFF_PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_selector("text=Ma journée")

    # When they open each campaign screen from the menu, nothing is wider than the phone
    page.click("nav >> text=Campagnes")
    page.wait_for_selector("#campaign-list >> text=Foire de Douala")
    screens = [("campagnes-1-liste", None), ("campagnes-2-fiche", "#campaign-list >> text=Foire de Douala"),
               ("campagnes-3-audience", None)]
    for name, link in screens:
        if link:
            page.click(link)
        if name == "campagnes-3-audience":
            page.goto(f"{live_server.url}{reverse('backoffice:page-audience')}")
            page.wait_for_selector("svg.chart polyline")
        page.wait_for_load_state("load")
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE_SIZE["width"], name
        page.screenshot(path=shots / f"{name}.png", full_page=True)
    # Then the QR code the campaign page links to is an image the browser can load
    page.goto(f"{live_server.url}{reverse('backoffice:campaign-detail', args=[foire.pk])}")
    href = page.get_attribute("#links a[download$='redirect.png']", "href")
    assert page.request.get(f"{live_server.url}{href}").headers["content-type"] == "image/png"
