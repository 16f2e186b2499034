"""Every dashboard page and export is the logged-in partner's own: bob gets 404 on each of alice's objects."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from conversions.claims.services import claim_submit
from conversions.postbacks.services import postback_create
from tests.dashboard.conftest import click_at, convert
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def alices_things(acme, alice, alice_link, rule, bob_link):
    conversion = convert(acme, click_at(alice_link, datetime(2026, 3, 10, 12, tzinfo=UTC)), external_id="alice-1")
    postback = postback_create(partner=alice, url="https://hooks.example.com/alice")
    claim = claim_submit(
        partner=alice, offer=alice_link.offer, order_id="o-9", purchase_date=timezone.now().date(), amount=Decimal("10")
    )
    return {"conversion": conversion, "postback": postback, "claim": claim, "link": alice_link}


def alices_urls(things) -> list[tuple[str, str]]:
    postback = things["postback"].pk
    return [
        ("get", reverse("dashboard:conversion", args=[things["conversion"].pk])),
        ("get", reverse("dashboard:link_builder", args=[things["link"].pk])),
        ("get", reverse("dashboard:postback", args=[postback])),
        ("post", reverse("dashboard:postback", args=[postback])),
        ("get", reverse("dashboard:postback_secret", args=[postback])),
        ("post", reverse("dashboard:postback_test", args=[postback])),
        ("post", reverse("dashboard:postback_rotate", args=[postback])),
        ("post", reverse("dashboard:postback_enable", args=[postback])),
        ("post", reverse("dashboard:postback_delete", args=[postback])),
        ("get", reverse("dashboard:claim", args=[things["claim"].pk])),
    ]


def test_bob_gets_404_for_every_one_of_alices_objects(bob_client, alices_things):
    for method, url in alices_urls(alices_things):
        response = getattr(bob_client, method)(url)
        assert response.status_code == 404, f"{method.upper()} {url} answered {response.status_code}"
    alices_things["postback"].refresh_from_db()  # still there, unchanged
    assert alices_things["postback"].url == "https://hooks.example.com/alice"


def test_alice_reaches_the_same_urls(alice_client, alices_things):
    for method, url in alices_urls(alices_things):
        if method == "get":
            assert alice_client.get(url).status_code == 200, url


LIST_PAGES = [
    "dashboard:home",
    "dashboard:conversions",
    "dashboard:performance",
    "dashboard:links",
    "dashboard:earnings",
    "dashboard:profile",
    "dashboard:postbacks",
    "dashboard:claims",
]


def test_bobs_lists_reports_and_export_show_none_of_alices_rows(bob_client, alices_things):
    march = {"preset": "custom", "start": "2026-03-01", "end": "2026-03-31"}
    for name in LIST_PAGES:
        response = bob_client.get(reverse(name), march)
        html = response.content.decode()
        assert response.status_code == 200, name
        assert "alice-1" not in html and "hooks.example.com/alice" not in html and "o-9" not in html, name
    csv_text = b"".join(bob_client.get(reverse("dashboard:conversions_export"), march).streaming_content).decode()
    assert "alice-1" not in csv_text and csv_text.count("\n") == 1  # the header only
    performance = bob_client.get(reverse("dashboard:performance"), march).context["total"]
    assert performance.clicks == 0 and performance.conversions == 0


def test_bob_cannot_filter_by_an_offer_he_has_not_joined(bob_client, alices_things, other_offer):
    march = {"preset": "custom", "start": "2026-03-01", "end": "2026-03-31", "offer": other_offer.pk}
    response = bob_client.get(reverse("dashboard:conversions"), march)
    assert response.status_code == 200 and response.context["form"].errors.get("offer")


def test_logged_out_visitors_are_sent_to_log_in(client, alices_things):
    response = client.get(reverse("dashboard:conversions"))
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_a_login_without_a_partner_gets_404(client, alices_things):
    client.force_login(UserFactory(username="carol"))
    for name in LIST_PAGES:
        assert client.get(reverse(name)).status_code == 404, name
