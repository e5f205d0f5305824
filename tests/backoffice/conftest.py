"""Fixtures of the back office tests: a staff member signed in, a small catalog, a coupon, and a
phone-sized Chromium page that fails on console errors and on requests leaving the machine."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from django.conf import settings
from django.db import connections

from api.campaigns.services import campaign_create, coupon_create
from api.contacts.services import contact_upsert
from api.orders.services import gift_box_create, product_create
from tests.browser.conftest import browser_page  # noqa: F401 - the shared Chromium fixture

STAFF_PASSWORD = "pw-staff-123"
PHONE_SIZE = {"width": 360, "height": 740}
LOCAL_HOSTS = {"localhost", "127.0.0.1"}


def screenshot_dir() -> Path:
    """Where the browser tests save their screens: ``.data/screenshots/`` (``CONFIOTES_SCREENSHOT_DIR``
    when set), the folder CI keeps."""
    folder = Path(os.environ.get("CONFIOTES_SCREENSHOT_DIR") or Path(settings.BASE_DIR) / ".data" / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def off_the_event_loop(fn: Callable[..., Any], **kwargs: Any) -> Any:
    """Run a database call in a thread of its own: Playwright's sync API keeps an event loop in the
    test's thread, where Django refuses database calls."""
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["value"] = fn(**kwargs)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return result.get("value")


@pytest.fixture
def phone(browser_page):  # noqa: F811
    """The shared Chromium page at a phone's size, failing on console errors and outside requests."""
    page = browser_page
    page.set_viewport_size(PHONE_SIZE)
    page.console_errors = []
    page.on("console", lambda message: message.type == "error" and page.console_errors.append(message.text))
    page.on("pageerror", lambda error: page.console_errors.append(str(error)))

    def only_local(route: Any) -> None:
        if urlparse(route.request.url).hostname in LOCAL_HOSTS or not route.request.url.startswith("http"):
            route.continue_()
        else:
            route.abort()

    page.route("**/*", only_local)
    yield page
    assert page.console_errors == [], f"console errors: {page.console_errors}"
    hosts = {urlparse(url).hostname for url in page.requested_urls if url.startswith("http")}
    assert hosts <= LOCAL_HOSTS, f"requests left the machine: {hosts - LOCAL_HOSTS}"




@pytest.fixture(autouse=True)
def _no_webhook_kicks(settings):
    """No broker message per order change: these tests look at pages, not at partner webhooks."""
    settings.PARTNER_WEBHOOKS_KICK = False


@pytest.fixture
def staff(db, django_user_model):
    return django_user_model.objects.create_user(username="awa", password=STAFF_PASSWORD, is_staff=True)


@pytest.fixture
def office(client, staff):
    """A Django test client signed in as staff, in the back office's default language."""
    client.force_login(staff)
    return client


@pytest.fixture
def coffret(db):
    ginger = product_create(sku="SIR-GING-50", name="Sirop de gingembre", price_xaf=3500, unit_cost_xaf=1200)
    bissap = product_create(sku="SIR-BISS-50", name="Sirop de bissap", price_xaf=3000, unit_cost_xaf=1000)
    return gift_box_create(sku="COF-DECOUVERTE", name="Coffret Découverte", price_xaf=10000,
                           items=[{"product_id": ginger.pk, "quantity": 1}, {"product_id": bissap.pk, "quantity": 2}])


@pytest.fixture
def coupon(db):
    campaign = campaign_create(name="Foire de Douala", code="FOIRE26", channel="fair")
    return coupon_create(campaign=campaign, code="BIENVENUE")


@pytest.fixture
def customer(db):
    return contact_upsert(phone="+237690112233", name="Mireille Ngo", city="Douala").contact


# --- Rapports: two weeks of sales, in the last complete week (W) and the one before (W-1) -------------

REPORT_CAMPAIGN = "Coffrets de fin d'année pour les tontines de Douala et Yaoundé"


@pytest.fixture
def report_week():
    """W: the Monday of the last complete week, so the funnel's and cohorts' windows (which end
    today) hold the sales whatever day the tests run."""
    from api.common.businesstime import business_today, week_start

    return week_start(business_today()) - timedelta(weeks=1)


@pytest.fixture
def report_sales(db, report_week):
    """A Facebook ads campaign with a long name: 10,000 FCFA spent on W's Monday, 5,000 on W-1's.
    Awa (host, touched by the campaign) orders on W's Wednesday: 20,000, lines 8,000. Bella (healthy,
    nothing known) orders on W-1's Thursday (5,000, lines 2,000) and W's Thursday (7,000, lines
    3,000). Credits and RFM scores computed, as the workers would."""
    from api.attribution import services
    from api.common.businesstime import business_tz
    from tests.attribution import factories as f

    def at(day, hour=10):
        return datetime.combine(day, time(hour), tzinfo=business_tz())

    week, previous = report_week, report_week - timedelta(weeks=1)
    fb = f.campaign("fb-fetes", "facebook_ads")
    fb.name = REPORT_CAMPAIGN
    fb.save()
    f.cost(fb, week.isoformat(), 10_000)
    f.cost(fb, previous.isoformat(), 5_000)
    awa = f.contact(created=at(previous), segment="host", stage="customer")
    bella = f.contact(created=at(previous - timedelta(weeks=1)), segment="healthy", stage="repeat_customer")
    f.touch(awa, at(previous, 12), camp=fb)
    f.order(awa, at(week + timedelta(days=2)), revenue=20_000, cost=8_000)
    f.order(bella, at(previous + timedelta(days=3)), revenue=5_000, cost=2_000)
    f.order(bella, at(week + timedelta(days=3)), revenue=7_000, cost=3_000)
    services.attribution_run(full=True)
    services.rfm_recompute()
    return {"campaign": fb, "awa": awa, "bella": bella}
