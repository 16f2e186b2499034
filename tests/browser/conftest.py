"""Browser tests: Playwright driving Debian's Chromium against pytest-django's live server.

Install Chromium with `.ci/install-chromium.sh`; without it these tests are
skipped with that hint. One Chromium runs for the whole session (Playwright's
sync API allows one per thread); each test gets fresh contexts, so no cookie
crosses tests.
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.upload_helpers import _media_in_tmp, manual_offer  # noqa: F401

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Playwright's sync API runs an event loop in this thread; the ORM calls of the tests are still synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def pytest_collection_modifyitems(config, items):
    if CHROMIUM.exists():
        return
    skip = pytest.mark.skip(reason="/usr/bin/chromium is missing: run .ci/install-chromium.sh")
    for item in items:
        if "tests/browser" in str(item.fspath):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (requirements-dev.txt)")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, live_server):
    """A page whose relative URLs go to the live server."""
    context = browser.new_context(base_url=live_server.url, accept_downloads=True)
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def browser_page(browser):
    """A page in a fresh context, with downloads allowed."""
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    context.close()


@pytest.fixture
def open_browser_page(browser):
    """`with open_browser_page() as page:` a fresh context (no cookies) and one page, closed after the block."""

    @contextmanager
    def open_page() -> Iterator:
        context = browser.new_context()
        try:
            page = context.new_page()
            page.set_default_timeout(15_000)
            yield page
        finally:
            context.close()

    return open_page


WIDTHS = ((1366, 900), (390, 844))  # desktop, phone


@pytest.fixture
def screenshots():
    """`screenshots(page, "report")` saves the full page at 1366 and 390 px wide under $SCREENSHOT_DIR, the
    evidence a reviewer looks at; without the variable it saves nothing. The viewport is restored after."""

    def save(page, name: str) -> None:
        folder = os.environ.get("SCREENSHOT_DIR")
        if not folder:
            return
        Path(folder).mkdir(parents=True, exist_ok=True)
        before = page.viewport_size
        for width, height in WIDTHS:
            page.set_viewport_size({"width": width, "height": height})
            page.screenshot(path=f"{folder}/{name}-{width}.png", full_page=True)
        if before:
            page.set_viewport_size(before)

    return save
