"""A real browser for tests: Debian's Chromium driven by Playwright (install: `.ci/install-chromium.sh`).

`browser_page` yields one page for a whole test; `open_browser_page` opens one only
inside a `with` block, for tests that talk to the database between clicks (Django
refuses ORM calls from a thread where Playwright's event loop is running).
"""

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.upload_helpers import _media_in_tmp, manual_offer  # noqa: F401

CHROMIUM = "/usr/bin/chromium"
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


@pytest.fixture
def browser_page():
    """A page in Debian's Chromium driven by Playwright."""
    if not shutil.which(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium")
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install -r requirements-dev.txt")
    # Playwright's sync API runs an event loop in this thread; the ORM calls of the test are still synchronous.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(accept_downloads=True)
        page = context.new_page()
        page.set_default_timeout(20_000)
        yield page
        context.close()
        browser.close()


@pytest.fixture
def open_browser_page():
    """`with browser_page() as page:` a fresh browser context (no cookies) and one page."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"{CHROMIUM} is missing: run .ci/install-chromium.sh to run the browser tests")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (requirements-dev.txt)")

    @contextmanager
    def open_page() -> Iterator:
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                context = browser.new_context()
                page = context.new_page()
                page.set_default_timeout(15_000)
                yield page
            finally:
                browser.close()

    return open_page
