"""Races across real processes: identical postbacks at once, and conversions racing a spend cap on two workers."""

from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from urllib.parse import urlencode

import django_rq
import pytest
from django.db import connection
from django.test import Client

from conversions.models import Conversion
from conversions.processing.jobs import process_conversion, process_pending_conversions
from referrals.services import postback_token_rotate
from rewards.models import Entry, Reward
from tests.factories import RewardRuleFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_50_identical_postbacks_at_once_make_one_conversion_and_no_5xx(acme, alice, offer):
    token = postback_token_rotate(advertiser=acme)
    query = urlencode(
        {
            "token": token,
            "type": "purchase",
            "referral_code": "ALICE",
            "offer": "acme-shoes",
            "external_id": "same-order",
            "amount": "25.00",
            "product_id": "p",
        }
    )

    def send(_):
        try:
            return Client().get(f"/v1/postback?{query}").status_code
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=25) as pool:
        statuses = list(pool.map(send, range(50)))

    assert sorted(set(statuses)) == [200, 202] and statuses.count(202) == 1
    assert Conversion.objects.filter(external_id="same-order").count() == 1


def test_50_conversions_racing_a_cap_of_10_on_two_worker_processes_reward_exactly_10(
    acme_api, alice, offer, worker_process, write_conversions
):
    RewardRuleFactory(offer=offer, value=Decimal("5.00"), spend_limit=Decimal("50.00"), spend_limit_period="day")
    for n in range(50):
        body = {
            "type": "purchase",
            "referral_code": "ALICE",
            "offer": "acme-shoes",
            "external_id": f"cap-{n}",
            "amount": "10",
            "product_id": "p",
        }
        assert acme_api.post("/v1/convert", body, format="json").status_code == 202
    write_conversions()  # the writer stores what the 202s acknowledged, and asks for processing
    queue = django_rq.get_queue("default")
    assert queue.count == 1  # the 50 asked for processing once: one sweeper job
    # Make the two workers race for the same conversions: small sweeps and a job per conversion besides.
    for _ in range(5):
        queue.enqueue(process_pending_conversions, batch_size=10)
    for conversion_id in Conversion.objects.values_list("pk", flat=True):
        queue.enqueue(process_conversion, str(conversion_id))

    workers = [worker_process("--burst"), worker_process("--burst")]
    for worker in workers:
        assert worker.wait(timeout=120) == 0

    statuses = list(Conversion.objects.values_list("status", "status_reason"))
    assert statuses.count(("accepted", "")) == 10
    assert statuses.count(("rejected", "cap_reached")) == 40
    assert Reward.objects.count() == 10
    assert sum(Entry.objects.values_list("amount", flat=True)) == 0
