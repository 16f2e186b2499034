"""New conversions ask for processing once for many: one sweeper job, enqueued only when none waits."""

from datetime import timedelta
from decimal import Decimal

import pytest

from conversions.models import Conversion
from conversions.processing.jobs import NEW_CONVERSIONS_KEY
from core.jobs import job_coalesce_release
from rewards.models import Reward
from tests.factories import RewardRuleFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def click(make_click):
    return make_click(age=timedelta(minutes=10))  # a purchase seconds after its click is held by screening


def purchase(external_id: str) -> dict:
    return {"type": "purchase", "click_id": "c" * 32, "external_id": external_id, "amount": "20", "product_id": "s"}


def test_many_conversions_enqueue_one_job_that_processes_them_all(
    write_conversions, acme_api, click, queue, run_worker
):
    RewardRuleFactory(offer=click.offer, reward_type="fixed", value=Decimal("3.00"))
    for number in range(5):
        assert acme_api.post("/v1/convert", purchase(f"order-{number}"), format="json").status_code == 202

    write_conversions()
    assert queue.count == 1
    run_worker()

    assert queue.count == 0
    assert not Conversion.objects.filter(processed_at__isnull=True).exists()
    assert set(Conversion.objects.values_list("status", flat=True)) == {"accepted"}
    assert Reward.objects.count() == 5


def test_a_conversion_recorded_once_the_job_has_started_asks_for_another(
    write_conversions, acme_api, click, queue, run_worker
):
    acme_api.post("/v1/convert", purchase("first"), format="json")
    job_coalesce_release(NEW_CONVERSIONS_KEY)  # what the waiting job does first, before it reads

    acme_api.post("/v1/convert", purchase("second"), format="json")

    write_conversions()
    assert queue.count == 2
    run_worker()
    assert not Conversion.objects.filter(status="pending").exists()
