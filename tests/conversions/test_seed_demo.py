import json
from io import StringIO

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from conversions.models import Conversion
from referrals.models import Link, Offer, Partner
from rewards.models import RewardRule

pytestmark = pytest.mark.django_db


def seed() -> dict:
    out = StringIO()
    call_command("seed_demo", "--json", "--base-url", "http://demo.test", stdout=out)
    return json.loads(out.getvalue())


def test_seed_demo_prints_the_contract_and_is_idempotent():
    first = seed()
    counts = (Offer.objects.count(), Partner.objects.count(), Link.objects.count(), RewardRule.objects.count())

    second = seed()

    assert counts == (2, 2, 4, 3)
    assert (Offer.objects.count(), Partner.objects.count(), Link.objects.count(), RewardRule.objects.count()) == counts
    advertiser = second["advertisers"][0]
    assert {offer["track_type"] for offer in advertiser["offers"]} == {"realtime", "manual"}
    assert {p["username"] for p in second["partners"]} == {"alice", "bob"}
    assert advertiser["offers"][0]["links"][0]["url"].startswith("http://demo.test/c/")
    assert first["advertisers"][0]["api_key"] != advertiser["api_key"]


def test_the_printed_key_and_link_report_a_conversion(write_conversions, client):
    made = seed()
    advertiser = made["advertisers"][0]
    code = advertiser["offers"][0]["links"][0]["code"]
    click_id = client.get(f"/c/{code}").cookies["atc_acme-shoes"].value
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {advertiser['api_key']}")

    response = api.post(
        "/v1/convert",
        {"type": "purchase", "click_id": click_id, "external_id": "o-1", "amount": "10", "product_id": "p"},
        format="json",
    )

    assert response.status_code == 202
    write_conversions()
    assert Conversion.objects.get(external_id="o-1").partner.user.username == "alice"


def test_the_previous_demo_key_stops_working_after_a_reseed(client):
    old_key = seed()["advertisers"][0]["api_key"]
    seed()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {old_key}")

    assert api.post("/v1/convert", {}, format="json").status_code == 401


def test_alice_gets_demo_traffic_once_so_her_dashboard_has_data(client):
    seed()
    conversions = Conversion.objects.filter(partner__user__username="alice").count()
    seed()

    assert conversions > 0 and Conversion.objects.filter(partner__user__username="alice").count() == conversions
    client.login(username="alice", password="alice-demo-password")
    home = client.get("/dashboard/", {"preset": "last_30"})
    assert home.context["total"].clicks == 60 and home.context["total"].conversions == conversions


def test_the_demo_fills_the_review_queue_once(client):
    made = seed()
    seed()

    assert made["review_queue"]["suspicious"] == 4
    held = dict(Conversion.objects.filter(status="suspicious").values_list("external_id", "status_reason"))
    assert held == {
        "demo-fast-1": "ctit_too_short",
        "demo-bot-1": "bot_user_agent",
        "demo-geo-1": "country_mismatch",
        "demo-shared-customer-1": "multi_partner",
    }
    assert Conversion.objects.get(external_id="demo-ok-1").status == "accepted"
    assert client.login(**made["admin"])
    response = client.get("/admin/conversions/suspiciousconversion/")
    assert response.context["cl"].result_count == 4
