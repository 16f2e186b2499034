from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from threading import Barrier

import pytest
from django.db import connection, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from conversions.intake.intake_log import entry_decode, logged_entries
from conversions.intake.log_writer import logged_conversions_store
from conversions.models import Conversion
from referrals.models import Click

pytestmark = pytest.mark.django_db(transaction=True)


def recent_click(link, click_id: str) -> Click:
    return Click.objects.create(
        click_id=click_id,
        link=link,
        offer=link.offer,
        partner=link.partner,
        created_at=timezone.now() - timedelta(minutes=1),
    )


def test_the_same_external_id_from_20_threads_makes_one_conversion(write_conversions, acme_key, alice_link):
    recent_click(alice_link, "t" * 32)
    body = {"type": "purchase", "click_id": "t" * 32, "external_id": "race-1", "amount": "10", "product_id": "p"}

    def post(_):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {acme_key}")
        try:
            response = client.post("/v1/convert", body, format="json")
            return response.status_code, response.json()["id"]
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(post, range(20)))

    statuses = sorted(status for status, _ in results)
    assert statuses.count(202) == 1 and statuses.count(200) == 19
    assert len({conversion_id for _, conversion_id in results}) == 1
    write_conversions()
    assert Conversion.objects.filter(external_id="race-1").count() == 1


def test_two_stores_of_the_same_logged_conversions_in_opposite_orders_store_each_once(acme_api, alice_link):
    """The writer's batch and a read's store-first may hold the same entries: neither deadlocks nor fails."""
    recent_click(alice_link, "o" * 32)
    for number in range(300):
        body = {
            "type": "purchase",
            "click_id": "o" * 32,
            "external_id": f"both-{number}",
            "amount": "10",
            "product_id": "p",
        }
        assert acme_api.post("/v1/convert", body, format="json").status_code == 202
    entries = sorted(
        (entry_decode(entry) for entry in logged_entries(every_one=True)), key=lambda entry: entry["report"].external_id
    )
    for entry in entries[150:]:
        entry["channel"] = "postback"  # two groups, one statement each: the order of the statements matters too
    api_first, postback_first = entries, entries[150:] + entries[:150]
    barrier = Barrier(2)

    def store(ordered):
        barrier.wait()
        try:
            with transaction.atomic():
                return logged_conversions_store(ordered)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=2) as pool:
        stored = list(pool.map(store, [api_first, postback_first[::-1]]))

    assert sum(stored) == 300
    assert Conversion.objects.filter(external_id__startswith="both-").count() == 300
