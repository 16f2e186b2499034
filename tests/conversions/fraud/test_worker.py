"""Screening in the real processing job: a click, a report through the API, an RQ worker."""

from decimal import Decimal

import pytest

from conversions.models import Conversion, StatusChange
from conversions.processing.jobs import process_conversion
from rewards.models import Reward
from tests.factories import RewardRuleFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_conversion_reported_seconds_after_its_click_is_held_by_the_worker(
    write_conversions, client, acme_api, alice_link, queue, run_worker
):
    RewardRuleFactory(offer=alice_link.offer, reward_type="fixed", value=Decimal("5.00"))
    click_id = client.get("/c/alice-shoes").cookies["atc_acme-shoes"].value
    body = {"type": "purchase", "click_id": click_id, "external_id": "fast-1", "amount": "80.00", "product_id": "p"}
    assert acme_api.post("/v1/convert", body, format="json").status_code == 202

    write_conversions()
    run_worker()

    conversion = Conversion.objects.get()
    assert (conversion.status, conversion.status_reason) == ("suspicious", "ctit_too_short")
    assert [s["code"] for s in conversion.fraud_signals] == ["ctit_too_short"]
    assert not Reward.objects.exists()

    # The job again (a retry, a duplicate enqueue): nothing changes twice.
    queue.enqueue(process_conversion, str(conversion.pk))
    run_worker()
    assert StatusChange.objects.filter(conversion=conversion, channel="fraud").count() == 1
    assert not Reward.objects.exists()
