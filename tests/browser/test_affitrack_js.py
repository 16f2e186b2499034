"""affitrack.js in a real browser: a click on a tracking link, the advertiser's own pages, the pixel.

The shop is served on http://127.0.0.1:<port> and the tracker on http://localhost:<port>: two
different sites, so the tracker's own `atc_` cookie is third-party on the shop's pages and a
browser does not send it with the pixel. Attribution then rests on what affitrack.js kept in
the shop's first-party cookie, as it does for an advertiser on another domain.
"""

import time
from decimal import Decimal
from urllib.parse import quote, urlsplit

import pytest

from conversions.models import Conversion, RequestLogEntry
from referrals.models import Offer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.urls("tests.urls_landing")]

COOKIE = "affitrack_click_id"


def shop_url(live_server, page: str, **params) -> str:
    """The shop's page on 127.0.0.1 (another site than the tracker's `localhost`)."""
    port = urlsplit(live_server.url).port
    params = {"tracker": quote(live_server.url, safe=""), **params}
    query = "&".join(f"{name}={value}" for name, value in params.items())
    return f"http://127.0.0.1:{port}/shop/{page}?{query}"


def point_offer_at_the_shop(offer: Offer, live_server, **params) -> None:
    offer.destination_url = shop_url(live_server, "landing", **params)
    offer.save(update_fields=["destination_url"])


CONVERT = """() => affitrack.convert({
    offer: "acme-shoes", external_id: "web-1001", amount: "49.90", currency: "USD",
    type: "purchase", product_id: "sku-9", meta: {cart: "summer"}
})"""


def test_a_click_through_the_landing_page_attributes_the_pixel_by_the_kept_click_id(
    live_server, alice_link, offer, open_browser_page, write_conversions
):
    point_offer_at_the_shop(offer, live_server, click_id="{click_id}")

    with open_browser_page() as page:
        page.goto(f"{live_server.url}/c/alice-shoes")
        landed_on = page.url
        kept = page.evaluate("() => affitrack.clickId()")
        cookies = {c["name"]: c for c in page.context.cookies("http://127.0.0.1")}
        page.goto(shop_url(live_server, "thank-you"))  # the checkout: no click id in this URL
        result = page.evaluate(CONVERT)

    assert landed_on.startswith("http://127.0.0.1:") and f"click_id={kept}" in landed_on
    cookie = cookies[COOKIE]
    assert cookie["value"] == kept and cookie["sameSite"] == "Lax" and cookie["secure"] is False
    assert 29.9 * 86400 < cookie["expires"] - time.time() <= 30 * 86400
    assert result["ok"] is True and result["clickId"] == kept
    write_conversions()  # the intake log's writer stores what the pixel's 202 acknowledged
    conversion = Conversion.objects.get()
    assert conversion.channel == "pixel" and conversion.external_id == "web-1001"
    assert conversion.partner == alice_link.partner and conversion.click.click_id == kept
    assert conversion.attribution["step"] == "click_id"
    assert conversion.amount == Decimal("49.90") and conversion.meta == {"cart": "summer"}


def test_init_names_another_parameter_and_cookie_lifetime(
    live_server, alice_link, offer, open_browser_page, write_conversions
):
    point_offer_at_the_shop(offer, live_server, ref="{click_id}", init=quote('{"param":"ref","cookieDays":7}'))

    with open_browser_page() as page:
        page.goto(f"{live_server.url}/c/alice-shoes")
        kept = page.evaluate("() => affitrack.clickId()")
        cookie = next(c for c in page.context.cookies("http://127.0.0.1") if c["name"] == COOKIE)
        page.goto(shop_url(live_server, "thank-you"))
        result = page.evaluate(CONVERT)

    assert kept and cookie["value"] == kept
    assert 6.9 * 86400 < cookie["expires"] - time.time() <= 7 * 86400
    assert result["ok"] is True
    write_conversions()
    assert Conversion.objects.get().partner == alice_link.partner


def test_without_a_click_the_pixel_still_resolves_and_the_conversion_is_unattributed(
    live_server, offer, open_browser_page
):
    with open_browser_page() as page:
        page.goto(shop_url(live_server, "landing", click_id=quote("<script>x</script>")))
        kept = page.evaluate("() => affitrack.clickId()")
        result = page.evaluate(CONVERT)

    assert kept == "" and result["ok"] is True and result["clickId"] == ""
    conversion = Conversion.objects.get()
    assert conversion.status == "rejected" and conversion.status_reason == "unattributed"
    assert RequestLogEntry.objects.get().reason == "unattributed"


def test_a_refused_pixel_resolves_and_lands_in_the_request_log(live_server, alice_link, offer, open_browser_page):
    point_offer_at_the_shop(offer, live_server, click_id="{click_id}")

    with open_browser_page() as page:
        page.goto(f"{live_server.url}/c/alice-shoes")
        result = page.evaluate("""() => affitrack.convert({offer: "acme-shoes", external_id: "web-2", amount: "-1",
                                                           product_id: "s"})""")

    assert result["ok"] is True
    assert not Conversion.objects.exists()
    entry = RequestLogEntry.objects.get()
    assert entry.channel == "pixel" and entry.http_status == 400 and "amount" in entry.message + str(entry.payload)
