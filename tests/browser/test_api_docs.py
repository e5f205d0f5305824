from urllib.parse import urlparse

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_swagger_ui_lists_the_operations_without_leaving_the_machine(live_server, browser_page):
    browser_page.goto(f"{live_server.url}/api/docs/")
    browser_page.wait_for_selector(".opblock-summary-path", timeout=20_000)
    paths = browser_page.locator(".opblock-summary-path").all_inner_texts()
    assert any("/api/v1/health" in p.replace("\u200b", "") for p in paths)
    hosts = {urlparse(url).hostname for url in browser_page.requested_urls if url.startswith("http")}
    assert hosts <= {"localhost", "127.0.0.1"}, f"requests left the machine: {hosts}"

