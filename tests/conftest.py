import os
import time

import django_rq
import pytest
from rest_framework.test import APIClient
from rq import SimpleWorker

from conversions.intake.log_writer import intake_log_write
from referrals.hot_cache import hot_caches_clear
from tests.factories import (
    AdvertiserFactory,
    LinkFactory,
    OfferFactory,
    PartnerFactory,
    UserFactory,
    api_key_for,
)


def pytest_configure(config):
    # Each test empties its Redis database: never the one `make run` uses. `make test` (and CI) name one.
    if not os.environ.get("REDIS_URL"):
        raise pytest.UsageError(
            "REDIS_URL is not set: run the tests with `make test` (the embedded servers, Redis database 15) "
            "or set DATABASE_URL and REDIS_URL to a test database and a Redis database the tests may empty."
        )


@pytest.fixture(autouse=True)
def _empty_queue():
    """Each test starts with an empty queue in the test Redis database, and empty hot-path caches."""
    django_rq.get_connection("default").flushdb()
    hot_caches_clear()
    yield


@pytest.fixture(autouse=True)
def _clicks_unbuffered(settings):
    """Clicks are written straight to the table unless a test asks for the Redis click buffer (`click_buffer`)."""
    settings.CLICK_BUFFER = False


@pytest.fixture
def click_buffer(settings):
    """The production click path with Redis: clicks go to the buffer, clicks_flush() writes them."""
    settings.CLICK_BUFFER = True


@pytest.fixture
def throttle_rates(monkeypatch):
    """Sets the API's rates for a test, e.g. `throttle_rates(ingest="1000/min", read="1/min")`.

    The throttle counts in windows on the clock, so the test's requests are started at least `margin` seconds
    before the end of each rate's window: two requests either side of a boundary are two windows, not a limit.
    """
    from rest_framework.throttling import SimpleRateThrottle

    def set_rates(margin: float = 10, **rates: str) -> None:
        # DRF binds the rates when it is imported; set them where the throttle reads them.
        monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", rates)
        seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400}
        for window in sorted(seconds[rate.split("/")[1][0]] for rate in rates.values()):
            left = window - time.time() % window
            if left < margin:
                time.sleep(left)  # windows nest, so past this boundary is past every shorter one

    return set_rates


@pytest.fixture
def run_worker():
    """Run a real RQ worker in burst mode over the default queue, as production would."""

    def run() -> None:
        queue = django_rq.get_queue("default")
        SimpleWorker([queue], connection=queue.connection).work(burst=True)

    return run


@pytest.fixture
def queue():
    return django_rq.get_queue("default")


@pytest.fixture
def acme(db):
    """Advertiser X: owns the offer alice and bob promote."""
    return AdvertiserFactory(name="Acme")


@pytest.fixture
def globex(db):
    """Advertiser Y: the other tenant, who must see nothing of Acme."""
    return AdvertiserFactory(name="Globex")


@pytest.fixture
def acme_key(acme):
    return api_key_for(acme)


@pytest.fixture
def globex_key(globex):
    return api_key_for(globex)


@pytest.fixture
def offer(acme):
    return OfferFactory(advertiser=acme, public_id="acme-shoes", currency="USD", cookie_window_days=30)


@pytest.fixture
def alice(db):
    return PartnerFactory(user=UserFactory(username="alice"), referral_code="ALICE")


@pytest.fixture
def bob(db):
    return PartnerFactory(user=UserFactory(username="bob"), referral_code="BOB")


@pytest.fixture
def alice_link(alice, offer):
    return LinkFactory(partner=alice, offer=offer, code="alice-shoes")


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def acme_api(acme_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {acme_key}")
    return client


@pytest.fixture
def write_conversions():
    """The intake log's writer, as `manage.py write_conversions` runs it: acknowledged conversions are stored (and
    their processing requested). Call it where a test reads PostgreSQL right after a 202."""
    return intake_log_write
