from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from conversions.models import Conversion
from referrals.models import Click

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_same_external_id_from_20_threads_makes_one_conversion(write_conversions, acme_key, alice_link):
    Click.objects.create(
        click_id="t" * 32,
        link=alice_link,
        offer=alice_link.offer,
        partner=alice_link.partner,
        created_at=timezone.now() - timedelta(minutes=1),
    )
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
