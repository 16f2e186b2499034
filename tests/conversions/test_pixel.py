import pytest

from conversions.models import Conversion, RequestLogEntry

pytestmark = pytest.mark.django_db

GIF_MAGIC = b"GIF89a"


def fire(client, **params):
    base = {"offer": "acme-shoes", "external_id": "px-1", "amount": "30.00", "product_id": "sku"}
    return client.get("/v1/pixel.gif", {**base, **params})


def assert_gif(response):
    assert response.status_code == 200 and response["Content-Type"] == "image/gif"
    assert response.content.startswith(GIF_MAGIC) and "no-store" in response["Cache-Control"]


def test_pixel_attributes_by_the_click_cookie_set_at_the_link(write_conversions, client, alice_link):
    client.get("/c/alice-shoes")  # the browser keeps our atc_acme-shoes cookie

    response = fire(client)

    assert_gif(response)
    write_conversions()
    conversion = Conversion.objects.get()
    assert conversion.channel == "pixel" and conversion.partner == alice_link.partner
    assert conversion.attribution["step"] == "cookie"


def test_pixel_with_an_explicit_click_id_wins_over_the_cookie(write_conversions, client, alice_link, make_click):
    client.get("/c/alice-shoes")
    explicit = make_click("e" * 32)

    fire(client, click_id=explicit.click_id)

    write_conversions()
    assert Conversion.objects.get().click == explicit


def test_the_last_click_wins(write_conversions, client, alice_link, bob, offer):
    from tests.factories import LinkFactory

    LinkFactory(partner=bob, offer=offer, code="bob-shoes")
    client.get("/c/alice-shoes")
    client.get("/c/bob-shoes")

    fire(client)

    write_conversions()
    assert Conversion.objects.get().partner == bob


def test_pixel_without_a_cookie_stores_an_unattributed_rejection(client, offer):
    assert_gif(fire(client))

    conversion = Conversion.objects.get()
    assert conversion.status == "rejected" and conversion.status_reason == "unattributed"
    assert RequestLogEntry.objects.get().reason == "unattributed"


@pytest.mark.parametrize("params", [{"amount": "-5"}, {"offer": "nope"}, {"type": "refund"}, {"amount": "x"}])
def test_pixel_answers_a_gif_whatever_happened_and_logs_the_failure(write_conversions, client, alice_link, params):
    client.get("/c/alice-shoes")

    assert_gif(fire(client, **params))

    write_conversions()
    assert not Conversion.objects.exists()
    assert RequestLogEntry.objects.get().channel == "pixel"


def test_pixel_collects_the_visitors_metadata(write_conversions, client, alice_link):
    client.get("/c/alice-shoes")

    client.get(
        "/v1/pixel.gif",
        {"offer": "acme-shoes", "external_id": "px-1", "amount": "3", "product_id": "s"},
        HTTP_USER_AGENT="Mozilla/5.0 (Windows NT 10.0; Win64; x64) Firefox/120.0",
        HTTP_ACCEPT_LANGUAGE="fr-FR",
    )

    write_conversions()
    conversion = Conversion.objects.get()
    assert conversion.ip == "127.0.0.1" and conversion.device == "desktop"
    assert conversion.headers["accept-language"] == "fr-FR"
