"""Links: joined offers, requests to join, the link builder; earnings from the ledger."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.test import Client, override_settings

from referrals.link_requests import link_request_approve, link_request_decline
from referrals.models import Link, LinkRequest
from rewards.ledger import account_get, ledger_post
from rewards.lifecycle import reward_approve
from rewards.models import Account, Reward
from tests.dashboard.conftest import click_at, convert
from tests.factories import OfferFactory

pytestmark = pytest.mark.django_db


def test_links_page_lists_joined_offers_with_their_link_and_others_to_join(alice_client, alice_link, other_offer):
    html = alice_client.get("/dashboard/links/").content.decode()

    assert "http://127.0.0.1:8000/c/alice-shoes" in html or "/c/alice-shoes" in html
    assert f"Request to join {other_offer.name}" in html


def test_asking_to_join_waits_for_staff_and_approval_creates_the_link(alice_client, alice, other_offer, admin_user):
    response = alice_client.post(f"/dashboard/offers/{other_offer.public_id}/join", {"message": "Food blog"})

    assert response.status_code == 302
    request = LinkRequest.objects.get(partner=alice, offer=other_offer)
    assert request.status == "pending" and request.message == "Food blog"
    assert not Link.objects.filter(partner=alice, offer=other_offer).exists()
    assert "Your request is waiting for review." in alice_client.get("/dashboard/links/").content.decode()

    link = link_request_approve(request_id=request.pk, actor=admin_user)
    assert link_request_approve(request_id=request.pk, actor=admin_user) == link  # twice: one link

    assert Link.objects.get(partner=alice, offer=other_offer) == link
    assert link.code in alice_client.get("/dashboard/links/").content.decode()


def test_asking_twice_makes_one_request(alice_client, alice, other_offer):
    alice_client.post(f"/dashboard/offers/{other_offer.public_id}/join")
    alice_client.post(f"/dashboard/offers/{other_offer.public_id}/join")
    assert LinkRequest.objects.filter(partner=alice).count() == 1


def test_an_offer_that_auto_approves_gives_a_link_at_once(alice_client, alice, acme):
    open_offer = OfferFactory(advertiser=acme, public_id="open", auto_approve_links=True)

    response = alice_client.post("/dashboard/offers/open/join")

    link = Link.objects.get(partner=alice, offer=open_offer)
    assert response["Location"] == f"/dashboard/links/{link.pk}/"


def test_a_declined_request_shows_the_reason(alice_client, alice, other_offer):
    alice_client.post(f"/dashboard/offers/{other_offer.public_id}/join")
    link_request_decline(request_id=LinkRequest.objects.get().pk, reason="Coupon sites are not allowed")

    assert "Coupon sites are not allowed" in alice_client.get("/dashboard/links/").content.decode()


def test_a_paused_offer_cannot_be_joined(alice_client, acme):
    OfferFactory(advertiser=acme, public_id="paused", status="paused")
    assert alice_client.post("/dashboard/offers/paused/join").status_code == 404


@override_settings(SITE_URL="https://track.example.com")
def test_link_builder_adds_the_sub_ids_url_encoded(alice_client, alice_link):
    response = alice_client.get(f"/dashboard/links/{alice_link.pk}/", {"sub1": "spring sale", "sub3": "a&b=c"})

    assert response.context["built_url"] == "https://track.example.com/c/alice-shoes?sub1=spring+sale&sub3=a%26b%3Dc"
    html = response.content.decode()
    assert 'data-copy="#built-url"' in html and "js/dashboard.js" in html


def test_earnings_show_ledger_balances_minimum_payout_and_commissions(alice_client, acme, alice, alice_link, rule):
    convert(acme, click_at(alice_link, datetime(2026, 3, 10, 12, tzinfo=UTC)), external_id="e-1", amount="120.00")
    convert(acme, click_at(alice_link, datetime(2026, 3, 11, 12, tzinfo=UTC)), external_id="e-2", amount="80.00")
    # Approve the first reward the way the validation job does: move it from pending to available.
    reward = Reward.objects.get(conversion_id__in=alice.conversions.filter(external_id="e-1").values("pk"))
    pending = account_get(kind=Account.Kind.PARTNER_PENDING, partner=alice, currency="USD")
    available = account_get(kind=Account.Kind.PARTNER_AVAILABLE, partner=alice, currency="USD")
    ledger_post(
        kind="approval",
        reward=reward,
        legs=[(pending, -reward.amount), (available, reward.amount)],
        memo="",
        now=reward.created_at,
    )
    Reward.objects.filter(pk=reward.pk).update(status="approved")

    response = alice_client.get("/dashboard/earnings/")

    balances = response.context["balances"][0]
    assert balances["balances"] == [
        ("Pending (in validation)", Decimal("8.00")),
        ("Approved (available)", Decimal("12.00")),
        ("Paid", Decimal("0.00")),
    ]
    assert "50.00 USD" in response.content.decode() and not balances["reaches_minimum"]
    assert [r.status for r in alice_client.get("/dashboard/earnings/", {"status": "approved"}).context["page"]] == [
        "approved"
    ]


def test_earnings_list_the_partners_payouts_and_no_one_elses(alice_client, acme, alice, bob, alice_link, rule):
    from rewards.payouts import payout_batch_create, payout_batch_mark_paid

    convert(acme, click_at(alice_link, datetime(2026, 3, 10, 12, tzinfo=UTC)), external_id="p-1", amount="900.00")
    reward = Reward.objects.get()
    reward_approve(conversion_id=reward.conversion_id, now=datetime(2029, 1, 1, tzinfo=UTC))
    batch = payout_batch_create(
        currency="USD", period_end=datetime(2030, 1, 1, tzinfo=UTC).date(), now=datetime(2030, 1, 2, tzinfo=UTC)
    )
    payout_batch_mark_paid(batch_id=batch.pk, now=datetime(2030, 1, 3, tzinfo=UTC))

    mine = alice_client.get("/dashboard/earnings/")
    bob_client = Client()  # bob is a partner too, with no payouts
    bob_client.force_login(bob.user)
    theirs = bob_client.get("/dashboard/earnings/")

    assert [item.amount for item in mine.context["payouts"]] == [reward.amount]
    assert f"#{batch.pk}" in mine.content.decode()
    assert list(theirs.context["payouts"]) == []


def test_the_link_builder_adds_a_deep_link_only_to_allowed_hosts(alice_client, alice_link):
    alice_link.offer.deep_link_hosts = "shop.example"
    alice_link.offer.save()
    url = f"/dashboard/links/{alice_link.pk}/"

    allowed = alice_client.get(url, {"sub1": "x", "url": "https://shop.example/sale"})
    refused = alice_client.get(url, {"url": "https://evil.example/"})

    assert "url=https%3A%2F%2Fshop.example%2Fsale" in allowed.context["built_url"]
    assert "allows deep links only to: shop.example" in refused.content.decode()
    assert "evil" not in refused.context["built_url"]


def earnings_export(client, **query):
    import csv
    import io

    response = client.get("/dashboard/earnings/export.csv", query)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    return response, list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


@pytest.fixture
def two_commissions(acme, alice, alice_link, bob_link, rule):
    """Alice: 12,345.60 USD (approved) and 8.00 USD (pending) of commission, made 5.5 minutes after each click;
    bob one of his own."""
    big = convert(
        acme, click_at(alice_link, datetime(2026, 3, 10, 12, tzinfo=UTC)), external_id="e-1", amount="123456.00"
    )
    convert(acme, click_at(alice_link, datetime(2026, 3, 11, 12, tzinfo=UTC)), external_id="e-2", amount="80.00")
    convert(acme, click_at(bob_link, datetime(2026, 3, 11, 13, tzinfo=UTC)), external_id="b-1", amount="500.00")
    reward_approve(conversion_id=big.pk, now=datetime(2026, 4, 20, 8, tzinfo=UTC))
    return big


def test_earnings_csv_lists_the_partners_commissions_in_plain_decimals(alice_client, alice, two_commissions):
    alice.time_zone = "Europe/Paris"
    alice.save()

    response, rows = earnings_export(alice_client)

    assert response["Content-Disposition"] == 'attachment; filename="commissions.csv"'
    assert [(row["commission"], row["currency"], row["status"]) for row in rows] == [
        ("8.00", "USD", "pending"),
        ("12345.60", "USD", "approved"),
    ]
    assert rows[1]["local_time"] == "2026-03-10 13:05:30" and rows[1]["time_zone"] == "Europe/Paris"
    assert rows[1]["approved_at"] == "2026-04-20 10:00:00" and rows[1]["paid_at"] == ""
    assert rows[1]["conversion_id"] == str(two_commissions.pk) and rows[1]["offer_id"] == "acme-shoes"


def test_earnings_csv_follows_the_status_filter_and_shows_no_one_elses(alice_client, bob, two_commissions):
    _, approved = earnings_export(alice_client, status="approved")
    bob_client = Client()
    bob_client.force_login(bob.user)
    _, bobs = earnings_export(bob_client)

    assert [row["commission"] for row in approved] == ["12345.60"]
    assert [row["commission"] for row in bobs] == ["50.00"]


def test_earnings_page_shows_amounts_with_thousands_separators_and_links_the_export(alice_client, two_commissions):
    html = alice_client.get("/dashboard/earnings/", {"status": "approved"}).content.decode()

    assert "12,345.60 USD" in html and "12345.60" not in html
    assert 'href="/dashboard/earnings/export.csv?status=approved"' in html
