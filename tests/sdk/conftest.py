"""The Python SDK is tested from its source tree against a live server, as an advertiser would use it."""

import sys
from datetime import timedelta
from pathlib import Path
from urllib.error import HTTPError
from urllib.parse import parse_qs, urlsplit
from urllib.request import HTTPRedirectHandler, build_opener

import pytest
from django.utils import timezone

from referrals.models import Click

SDK_SOURCE = Path(__file__).resolve().parents[2] / "sdk" / "python" / "src"
if str(SDK_SOURCE) not in sys.path:
    sys.path.insert(0, str(SDK_SOURCE))

from affitrack import Client  # noqa: E402

from referrals.services import postback_token_rotate, signing_secret_rotate  # noqa: E402


class _NoRedirect(HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


@pytest.fixture
def visit_link(live_server):
    """A visitor opening a tracking link on the live server; returns the click id from the redirect."""
    opener = build_opener(_NoRedirect)
    # A visitor's browser: Python-urllib's own user agent would be screened as a bot.
    opener.addheaders = [("User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0")]

    def visit(code: str) -> str:
        try:
            opener.open(f"{live_server.url}/c/{code}")
        except HTTPError as answer:  # urllib raises it for the 302 it was told not to follow
            assert answer.code == 302 and "atc_" in answer.headers["Set-Cookie"]
            click_id = parse_qs(urlsplit(answer.headers["Location"]).query)["cid"][0]
            # The visitor shops for a few minutes: a purchase 10 s after its click is held as fraud.
            Click.objects.filter(click_id=click_id).update(created_at=timezone.now() - timedelta(minutes=3))
            return click_id
        raise AssertionError("the tracking link did not redirect")

    return visit


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def sdk(live_server, acme_key, sleeps):
    """Acme's client; it records the waits between retries instead of sleeping them."""
    return Client(live_server.url, acme_key, timeout=10, sleep=sleeps.append)


@pytest.fixture
def globex_sdk(live_server, globex_key):
    return Client(live_server.url, globex_key)


@pytest.fixture
def postback_token(acme):
    return postback_token_rotate(advertiser=acme)


@pytest.fixture
def signing_secret(acme):
    return signing_secret_rotate(advertiser=acme)
