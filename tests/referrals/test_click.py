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
