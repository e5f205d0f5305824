"""Headless Chromium (Debian's ``chromium`` package) driven by Playwright.

No browser is downloaded: Playwright launches ``/usr/bin/chromium``. Every request
the page makes is recorded, so a test can assert that none left the machine.
"""

from __future__ import annotations

import os
import shutil

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def browser_page():
    if not CHROMIUM:
        if os.environ.get("CONFIOTES_REQUIRE_BROWSER") == "1":
            pytest.fail("Chromium is required (apt-get install chromium) but was not found.")
        pytest.skip("Chromium not installed (apt-get install chromium); CI installs it and requires it.")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )
        page = browser.new_page()
        page.requested_urls = []  # type: ignore[attr-defined]
        page.on("request", lambda request: page.requested_urls.append(request.url))  # type: ignore[attr-defined]
        try:
            yield page
        finally:
            browser.close()
