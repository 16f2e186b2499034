from urllib.parse import parse_qs, urlsplit

import pytest

from referrals.models import Click, Offer
from tests.factories import LinkFactory, OfferFactory

pytestmark = pytest.mark.django_db


def test_click_redirects_to_the_offer_with_macros_filled_and_encoded(client, alice_link):
    alice_link.offer.destination_url = "https://shop.example/p?cid={click_id}&s1={sub1}&s2={sub2}&o={offer_id}"
    alice_link.offer.save()

    response = client.get("/c/alice-shoes", {"sub1": "news letter&x=1", "sub2": "ü"})

    assert response.status_code == 302
    click = Click.objects.get()
    query = parse_qs(urlsplit(response["Location"]).query)
    assert query == {"cid": [click.click_id], "s1": ["news letter&x=1"], "s2": ["ü"], "o": ["acme-shoes"]}
    assert "%26x%3D1" in response["Location"]  # the value cannot add parameters of its own
    assert click.sub1 == "news letter&x=1"
    assert click.partner == alice_link.partner and click.offer == alice_link.offer


def test_click_sets_a_first_party_cookie_for_the_cookie_window(client, alice_link):
    response = client.get("/c/alice-shoes")

    cookie = response.cookies["atc_acme-shoes"]
    assert cookie.value == Click.objects.get().click_id
    assert int(cookie["max-age"]) == 30 * 24 * 3600
    assert cookie["httponly"]


def test_click_ids_are_unguessable_and_distinct(client, alice_link):
    for _ in range(5):
        client.get("/c/alice-shoes")

    ids = list(Click.objects.values_list("click_id", flat=True))
    assert len(set(ids)) == 5
    assert all(len(click_id) == 32 for click_id in ids)


def test_unknown_link_answers_404_and_records_nothing(client, db):
    response = client.get("/c/nope")

    assert response.status_code == 404
    assert not Click.objects.exists()


def test_paused_offer_answers_404(client, alice):
    offer = OfferFactory(status=Offer.Status.PAUSED)
    LinkFactory(partner=alice, offer=offer, code="paused")

    assert client.get("/c/paused").status_code == 404
    assert not Click.objects.exists()


def test_click_records_ip_user_agent_and_referer(client, alice_link):
    client.get("/c/alice-shoes", HTTP_USER_AGENT="Mozilla/5.0 Test", HTTP_REFERER="https://blog.example/post")

    click = Click.objects.get()
    assert click.ip == "127.0.0.1"
    assert click.user_agent == "Mozilla/5.0 Test"
    assert click.referer == "https://blog.example/post"


IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.0 Mobile/15E148 Safari/604.1"
)


def test_a_repeat_click_from_the_same_ip_and_agent_within_the_window_is_not_unique(client, alice_link):
    client.get("/c/alice-shoes", HTTP_USER_AGENT=IPHONE)
    client.get("/c/alice-shoes", HTTP_USER_AGENT=IPHONE)
    client.get("/c/alice-shoes", HTTP_USER_AGENT="Mozilla/5.0 (Windows NT 10.0; Win64; x64) Firefox/120.0")

    assert list(Click.objects.order_by("pk").values_list("is_unique", flat=True)) == [True, False, True]


def test_the_unique_window_is_configurable(client, alice_link, settings):
    settings.CLICK_UNIQUE_WINDOW_SECONDS = 1
    client.get("/c/alice-shoes")
    import time

    time.sleep(1.1)
    client.get("/c/alice-shoes")

    assert list(Click.objects.values_list("is_unique", flat=True)) == [True, True]


def test_a_bot_is_flagged_and_sent_where_everyone_goes(client, alice_link):
    human = client.get("/c/alice-shoes", HTTP_USER_AGENT=IPHONE)
    bot = client.get("/c/alice-shoes", HTTP_USER_AGENT="Googlebot/2.1 (+http://www.google.com/bot.html)")

    assert urlsplit(bot["Location"]).netloc == urlsplit(human["Location"]).netloc == "shop.example"
    assert list(Click.objects.order_by("pk").values_list("is_bot", "device")) == [(False, "mobile"), (True, "bot")]


def test_user_agent_and_language_are_kept_as_metadata(client, alice_link):
    client.get("/c/alice-shoes", HTTP_USER_AGENT=IPHONE, HTTP_ACCEPT_LANGUAGE="de-DE,de;q=0.9")

    click = Click.objects.get()
    assert (click.browser, click.os, click.device) == ("Mobile Safari", "iOS", "mobile")
    assert click.accept_language == "de-DE,de;q=0.9"


def test_deep_link_goes_only_to_hosts_the_offer_allows(client, alice_link):
    alice_link.offer.deep_link_hosts = "shop.example\nblog.shop.example"
    alice_link.offer.save()

    allowed = client.get("/c/alice-shoes", {"url": "https://blog.shop.example/post?id={click_id}"})
    refused = client.get("/c/alice-shoes", {"url": "https://evil.example/phish"})
    sneaky = client.get("/c/alice-shoes", {"url": "https://shop.example@evil.example/"})
    scheme = client.get("/c/alice-shoes", {"url": "javascript:alert(1)//shop.example"})

    assert allowed["Location"].startswith("https://blog.shop.example/post?id=")
    for response in (refused, sneaky, scheme):
        assert urlsplit(response["Location"]).netloc == "shop.example"


def test_paused_offer_with_a_fallback_sends_visitors_there_without_a_click(client, alice):
    offer = OfferFactory(status=Offer.Status.PAUSED, fallback_url="https://shop.example/other-offers")
    LinkFactory(partner=alice, offer=offer, code="paused-fb")

    response = client.get("/c/paused-fb")

    assert response.status_code == 302 and response["Location"] == "https://shop.example/other-offers"
    assert not Click.objects.exists()


def test_forwarded_for_from_an_untrusted_peer_is_ignored(client, alice_link, settings):
    settings.TRUSTED_PROXIES = []

    client.get("/c/alice-shoes", HTTP_X_FORWARDED_FOR="8.8.8.8", REMOTE_ADDR="203.0.113.9")

    assert Click.objects.get().ip == "203.0.113.9"


def test_forwarded_for_from_a_trusted_proxy_gives_the_client_and_its_country(client, alice_link, settings):
    from referrals import request_metadata as client_ip

    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    client_ip._trusted_proxies.cache_clear()

    client.get("/c/alice-shoes", HTTP_X_FORWARDED_FOR="1.2.3.4, 8.8.8.8, 10.1.1.1", REMOTE_ADDR="10.0.0.2")

    client_ip._trusted_proxies.cache_clear()
    click = Click.objects.get()
    assert click.ip == "8.8.8.8"  # the rightmost address not ours; 1.2.3.4 could be forged by the client
    assert click.country == "US"


def test_a_nul_in_a_sub_id_or_the_referer_is_stored_as_u_fffd_not_a_server_error(client, alice_link):
    response = client.get("/c/alice-shoes", {"sub1": "a\x00b"}, HTTP_REFERER="https://x.example/\x00")

    assert response.status_code == 302
    click = Click.objects.get()
    assert (click.sub1, click.referer) == ("a\ufffdb", "https://x.example/\ufffd")
