"""The convert path's database round trips, counted: each one is a share of W2's throughput (docs/performance.md)."""

import pytest

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

    # click read; savepoint; conversion, status change, rollup; partner postbacks read; release.
    with django_assert_num_queries(7):
        response = acme_api.post("/v1/convert", purchase("second", click_id), format="json")

    assert response.status_code == 202
    assert response.json()["reward"] is None  # not processed yet: no reward lookup needed


def test_a_repeat_still_answers_with_the_first_conversion(acme_api, click_id):
    first = acme_api.post("/v1/convert", purchase("same", click_id), format="json").json()

    again = acme_api.post("/v1/convert", {**purchase("same", click_id), "click_id": "no-such-click"}, format="json")

    assert again.status_code == 200
    assert again.json()["id"] == first["id"]
