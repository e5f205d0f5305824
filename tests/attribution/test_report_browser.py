"""A newcomer opens the weekly report in headless Chromium and sees its charts."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest

from api.attribution import services
from tests.attribution import factories as f
from tests.browser.conftest import browser_page  # noqa: F401 - the shared Chromium fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def staff_session(live_server, client, django_user_model):
    """A week with a cost and an attributed order, and a logged-in staff session cookie.

    Written before the browser starts: Playwright's sync API runs an event loop in this
    thread, and Django refuses database calls from there.
    """
    fb = f.campaign("fb1", "facebook_ads")
    f.cost(fb, "2026-11-16", 10_000)
    buyer = f.contact(created=f.at("2026-11-15"))
    f.touch(buyer, f.at("2026-11-15"), camp=fb)
    f.order(buyer, f.at("2026-11-18"), revenue=20_000, cost=8_000)
    services.attribution_run(full=True)
    staff = django_user_model.objects.create_user(username="boss", password="pw-boss-123", is_staff=True)
    client.force_login(staff)
    return client.cookies["sessionid"].value


def test_the_weekly_report_shows_its_charts_in_a_browser(staff_session, live_server, browser_page):  # noqa: F811
    # Given a staff member logged in
    host = urlparse(live_server.url).hostname
    browser_page.context.add_cookies([{"name": "sessionid", "value": staff_session, "domain": host, "path": "/"}])
    # When they open the HTML report
    response = browser_page.goto(f"{live_server.url}/api/v1/reports/weekly.html?week=2026-11-16&model=linear")
    # Then the page answers and its three charts are drawn (decoded images with a real size)
    assert response is not None
    assert response.status == 200
    assert "weekly report" in browser_page.title()
    for chart in ("#chart-roas", "#chart-funnel", "#chart-cohorts"):
        browser_page.wait_for_selector(chart, timeout=20_000)
        width = browser_page.eval_on_selector(chart, "img => img.complete ? img.naturalWidth : 0")
        assert width > 100, f"{chart} is not a drawn image"
    assert "facebook_ads" in browser_page.inner_text("table.roi")
    hosts = {urlparse(url).hostname for url in browser_page.requested_urls if url.startswith("http")}
    assert hosts <= {"localhost", "127.0.0.1"}
