"""No open redirect through click links, no server-side request forgery through partner postback URLs.

The SSRF basics (private addresses, `localhost`, redirects not followed, which addresses count as public)
are proved in tests/dashboard/test_postbacks.py; here are the encodings and tricks they do not cover.
"""

import pytest
from django.test import override_settings

from conversions.models import PostbackDelivery
from conversions.postbacks.services import PostbackRefused, http_post, postback_create, postback_test_send
from tests.factories import LinkFactory, OfferFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop_link(acme, alice):
    offer = OfferFactory(
        advertiser=acme,
        public_id="shop",
        destination_url="https://shop.example/landing?cid={click_id}",
        deep_link_hosts="shop.example\nwww.shop.example",
        fallback_url="https://shop.example/paused",
    )
    return LinkFactory(partner=alice, offer=offer, code="shop-link")


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/",
        "//evil.example/path",
        "https://shop.example@evil.example/",
        "https://shop.example:443@evil.example/",
        "https://shop.example\\@evil.example/",
        # Browsers read a backslash as "/" (WHATWG URL), Python's urlsplit does not: to it the host of this one is
        # shop.example, to a browser it is evil.example.
        "https://evil.example\\@shop.example/",
        "https://evil.example\\\\@shop.example/",
        "https://evil.example\\.shop.example/",
        "https:\\\\evil.example",
        "https:/\\evil.example",
        "\\\\evil.example",
        "https://evil.example#@shop.example",
        "https://evil.example?@shop.example",
        "https://shop.example.evil.example/",
        "https://evilshop.example/",
        "javascript:alert(1)//shop.example",
        "data:text/html,<script>alert(1)</script>",
        "ftp://shop.example/",
        "/\\evil.example",
        "https://evil.example%2f@shop.example",  # credentials in a deep link: refused whatever they say
        "https://user:pass@shop.example/",
    ],
)
def test_a_deep_link_to_a_host_the_offer_does_not_list_goes_to_the_offer_instead(client, shop_link, url):
    response = client.get("/c/shop-link", {"url": url})

    assert response.status_code == 302
    assert response["Location"].startswith("https://shop.example/landing?cid=")


def test_a_deep_link_to_a_listed_host_is_followed(client, shop_link):
    response = client.get("/c/shop-link", {"url": "https://www.shop.example/item/9?cid={click_id}"})

    assert response["Location"].startswith("https://www.shop.example/item/9?cid=")


def test_a_paused_offer_sends_to_its_fallback_never_to_the_deep_link(client, shop_link):
    shop_link.offer.status = "paused"
    shop_link.offer.save(update_fields=["status"])

    response = client.get("/c/shop-link", {"url": "https://evil.example/"})

    assert response.status_code == 302 and response["Location"] == "https://shop.example/paused"


# --- SSRF ---------------------------------------------------------------------------------------------------


@override_settings(POSTBACKS_ALLOW_PRIVATE=False)
@pytest.mark.parametrize(
    "url",
    [
        "http://2130706433/",  # 127.0.0.1 as one decimal number
        "http://0x7f000001/",  # ... in hex
        "http://0177.0.0.1/",  # ... in octal
        "http://127.1/",  # ... shortened
        "http://0/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[fd00::1]/",  # IPv6 unique local
        "http://[fe80::1]/",
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata
        "http://10.0.0.1/",
        "http://192.168.0.1:8080/",
        "http://100.64.0.1/",
        "http://localhost/",
        "http://LOCALHOST./",
        "https://localhost:8443/",
        "http://user:pass@127.0.0.1/",
        "http://example.com@127.0.0.1/",
        "file:///etc/passwd",
        "gopher://127.0.0.1:6379/_FLUSHALL",
        "ftp://127.0.0.1/",
    ],
)
def test_postback_urls_to_internal_addresses_are_refused_before_any_connection(url):
    with pytest.raises(PostbackRefused):
        http_post(url, body=b"{}", headers={}, timeout=1)


@pytest.mark.django_db(transaction=True)
def test_a_redirect_from_a_public_looking_server_to_a_private_address_is_not_followed(alice, settings):
    """The first server is allowed (private addresses allowed for the test's local servers), answers 302 to the
    metadata address; the delivery records the 302 as a failure and never goes there."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    hits = []

    class Redirecting(BaseHTTPRequestHandler):
        def do_POST(self):
            hits.append(self.path)
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirecting)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        settings.POSTBACKS_ALLOW_PRIVATE = True
        postback = postback_create(partner=alice, url=f"http://127.0.0.1:{server.server_port}/hook")
        delivery = postback_test_send(postback=postback)
    finally:
        server.shutdown()
        server.server_close()

    assert hits == ["/hook"]
    assert delivery.status_code == 302 and not delivery.ok
    assert PostbackDelivery.objects.count() == 1
