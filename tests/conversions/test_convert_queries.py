"""The convert path's database round trips, counted: each one is a share of W2's throughput (docs/performance.md)."""

import pytest

from conversions.models import Conversion, ConversionStat, ConversionSub1Stat, PostbackDispatch
from conversions.postbacks.services import postback_create
from referrals.models import Click


def purchase(external_id: str, click_id: str) -> dict:
    return {
        "type": "purchase",
        "external_id": external_id,
        "click_id": click_id,
        "amount": "10",
        "currency": "USD",
        "product_id": "sku-1",
    }


@pytest.fixture
def click_id(client, alice_link):
    client.get("/c/alice-shoes")
    return Click.objects.get().click_id


def test_a_new_conversion_costs_the_click_read_and_one_write_transaction(acme_api, click_id, django_assert_num_queries):
    acme_api.post("/v1/convert", purchase("first", click_id), format="json")  # the API key is now cached

    # The click read, then the conversion with its status change and rollups in one statement
    # (conversions/intake/conversion_rows.py); the partner has no postbacks, which the cache knows.
    with django_assert_num_queries(2):
        response = acme_api.post("/v1/convert", purchase("second", click_id), format="json")

    assert response.status_code == 202
    assert response.json()["reward"] is None  # not processed yet: no reward lookup needed


def test_the_one_statement_writes_the_status_change_and_the_rollups_once(write_conversions, acme_api, click_id):
    first = acme_api.post("/v1/convert", purchase("once", click_id), format="json").json()
    repeat = acme_api.post("/v1/convert", purchase("once", click_id), format="json")

    assert repeat.status_code == 200
    write_conversions()
    conversion = Conversion.objects.get(pk=first["id"])
    assert list(conversion.status_changes.values_list("to_status", "channel")) == [("pending", "api")]
    stat = ConversionStat.objects.get()
    assert (stat.partner_id, stat.offer_id, stat.conversions, stat.earnings) == (
        conversion.partner_id,
        conversion.offer_id,
        1,
        0,
    )
    assert ConversionSub1Stat.objects.get().conversions == 1


def test_a_partner_postback_added_here_is_seen_by_the_next_conversion(write_conversions, acme_api, click_id):
    acme_api.post("/v1/convert", purchase("before", click_id), format="json")  # caches "no postbacks"
    click = Click.objects.get(click_id=click_id)
    postback_create(partner=click.partner, url="https://partner.example/pb?c={click_id}")

    acme_api.post("/v1/convert", purchase("after", click_id), format="json")

    write_conversions()
    assert list(PostbackDispatch.objects.values_list("conversion__external_id", "event")) == [("after", "created")]


def test_a_repeat_still_answers_with_the_first_conversion(acme_api, click_id):
    first = acme_api.post("/v1/convert", purchase("same", click_id), format="json").json()

    again = acme_api.post("/v1/convert", {**purchase("same", click_id), "click_id": "no-such-click"}, format="json")

    assert again.status_code == 200
    assert again.json()["id"] == first["id"]
