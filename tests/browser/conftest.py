"""A real browser for tests: Debian's Chromium driven by Playwright.

Install it with `.ci/install-chromium.sh`. Playwright's sync API runs an event
loop in this thread while it is open, and Django refuses ORM calls from a
thread with a running loop; so a test opens the browser for its clicks only,
as a context manager, and talks to the database before and after.
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

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
