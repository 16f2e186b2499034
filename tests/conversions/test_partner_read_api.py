from datetime import timedelta

import pytest
from rest_framework.test import APIClient

from referrals.partner_tokens import partner_token_rotate
from tests.factories import LinkFactory

pytestmark = pytest.mark.django_db


def partner_api(partner) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {partner_token_rotate(partner=partner)[1]}")
    return client


@pytest.fixture
def traffic(acme_api, alice, bob, offer, make_click, write_conversions):
    bob_link = LinkFactory(partner=bob, offer=offer, code="bob-shoes")
    alice_click = make_click("a" * 32, age=timedelta(minutes=5), sub1="news")
    bob_click = make_click("b" * 32, link=bob_link, age=timedelta(minutes=5))
    for external_id, click in (("alice-1", alice_click), ("bob-1", bob_click)):
        body = {
            "type": "purchase",
            "click_id": click.click_id,
            "external_id": external_id,
            "amount": "10",
            "product_id": "p",
            "meta": {"customer": "secret-of-acme"},
        }
        assert acme_api.post("/v1/convert", body, format="json").status_code == 202
    write_conversions()
    return alice_click, bob_click


def test_a_partner_lists_only_their_own_conversions_without_the_advertisers_meta(alice, traffic):
    rows = partner_api(alice).get("/v1/conversions").json()["results"]

    assert [row["external_id"] for row in rows] == ["alice-1"]
    assert "meta" not in rows[0] and rows[0]["click_id"] == "a" * 32


def test_another_partners_conversion_answers_404(alice, bob, traffic):
    from conversions.models import Conversion

    bobs = Conversion.objects.get(external_id="bob-1")

    assert partner_api(alice).get(f"/v1/conversions/{bobs.pk}").status_code == 404
    assert partner_api(bob).get(f"/v1/conversions/{bobs.pk}").status_code == 200


def test_a_partner_lists_their_clicks_filtered_by_sub_id_without_visitor_ips(alice, traffic):
    api = partner_api(alice)

    rows = api.get("/v1/clicks").json()["results"]
    filtered = api.get("/v1/clicks", {"sub1": "other"}).json()["results"]

    assert [row["click_id"] for row in rows] == ["a" * 32]
    assert "ip" not in rows[0] and "user_agent" not in rows[0] and rows[0]["sub1"] == "news"
    assert filtered == []


def test_clicks_are_for_partners_only(acme_api, api, traffic):
    assert acme_api.get("/v1/clicks").status_code == 401
    assert api.get("/v1/clicks").status_code == 401


def test_a_partner_token_cannot_write(alice, traffic):
    from conversions.models import Conversion

    mine = Conversion.objects.get(external_id="alice-1")
    client = partner_api(alice)

    convert = client.post("/v1/convert", {"type": "purchase"}, format="json")
    status = client.post(f"/v1/conversions/{mine.pk}/status", {"status": "accepted"}, format="json")

    assert convert.status_code == 401 and status.status_code == 401


def test_a_rotated_token_stops_working(alice, traffic):
    old = APIClient()
    _, raw = partner_token_rotate(partner=alice)
    old.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    partner_token_rotate(partner=alice)

    assert old.get("/v1/conversions").status_code == 401
