"""The reports on a phone, in headless Chromium at 360×740: the weekly report with its trends and a
campaign with a long name fits the screen without scrolling sideways, and every report page of the
sub-menu opens, down to a customer's card from an RFM group.

Fails on any console error or request leaving the machine (the ``phone`` fixture), and saves a
screenshot of each page beside the other browser tests' ones."""

from __future__ import annotations

import re

import pytest

from tests.backoffice.conftest import STAFF_PASSWORD, screenshot_dir

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VIEWPORT_WIDTH = 360
# Elements of <main> that end past the screen's right edge, outside a wrapper that scrolls by itself.
OVERFLOWING = """() => [...document.querySelectorAll('main *')]
  .filter(e => !e.closest('.scroll, nav.submenu') && e.getBoundingClientRect().right > window.innerWidth + 0.5)
  .map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className ? '.' + e.className : ''))"""


def fits_the_phone(page) -> None:
    page.wait_for_load_state("load")  # the style sheet is in: a page measured before it would be wider
    assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORT_WIDTH
    assert page.evaluate(OVERFLOWING) == []


def test_the_reports_on_a_phone(live_server, staff, report_sales, report_week, phone):
    # Given two weeks of sales on a campaign with a long name, and a staff member signing in
    shots = screenshot_dir()
    page = phone
    page.goto(f"{live_server.url}/app/rapports/?semaine={report_week.isoformat()}")
    page.fill("#id_username", staff.username)
    page.fill("#id_password", STAFF_PASSWORD)
    page.click("main button[type=submit]")

    # When the weekly report opens, its trends load after it
    page.wait_for_selector("#trend-table")
    assert "Rapport de la semaine" in page.inner_text("h1")

    # Then nothing runs past the screen: the campaign's ROI is readable without scrolling sideways
    fits_the_phone(page)
    roi = page.locator("#by-campaign tbody tr").first.locator("td[data-label='ROI']")
    assert roi.inner_text() == "20\u00a0%"
    box = roi.bounding_box()
    assert box is not None
    assert box["x"] + box["width"] <= VIEWPORT_WIDTH
    assert page.locator("#trends svg.spark polyline").count() == 4
    # and the eight weeks' table shows all its columns on the phone at these amounts, no scrolling inside
    assert page.evaluate("(w => w.scrollWidth <= w.clientWidth)(document.querySelector('#trend-table').parentElement)")
    page.screenshot(path=shots / "11-rapport-tendances.png", full_page=True)

    # Every page of the reports' sub-menu opens in French and fits the phone too
    for entry, heading, shot in (("Entonnoir", "Entonnoir", "12-entonnoir"),
                                 ("Valeur client", "Valeur client", "13-valeur-client"),
                                 ("Cohortes", "Cohortes", "14-cohortes"),
                                 ("Groupes RFM", "Groupes RFM", "15-groupes-rfm")):
        page.click(f"nav.submenu >> text={entry}")
        page.wait_for_selector(f"h1:has-text('{heading}')")
        fits_the_phone(page)
        page.screenshot(path=shots / f"{shot}.png", full_page=True)

    # From an RFM group they reach a customer's card
    page.locator("#rfm-groups li", has_text=re.compile(r"· [1-9]\d* clients?")).first.locator("a").click()
    page.wait_for_selector("#rfm-members")
    fits_the_phone(page)
    page.locator("#rfm-members a").first.click()
    page.wait_for_url(re.compile(r"/app/clients/\d+/$"))
    assert "Contact" in page.inner_text("h1")
