"""The batch path: the sweeper drains pending conversions, rules loaded once, each rewarded exactly once."""

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conversions.models import Conversion, StatusChange
from conversions.processing.jobs import process_conversion, process_pending_conversions
from conversions.processing.pipeline import conversions_process_pending
from referrals.models import Click
from rewards.models import Reward, Transaction
from tests.factories import RewardRuleFactory
from tests.rewards.conftest import make_conversion


@pytest.mark.django_db
def test_the_sweeper_rewards_a_batch_loading_the_rules_once(offer, alice, bob):
    RewardRuleFactory(offer=offer, reward_type="percentage", value=Decimal("10"))
    RewardRuleFactory(offer=offer, partner=bob, value=Decimal("2.00"))
    for index in range(30):
        make_conversion(offer, alice if index % 2 else bob, amount="20.00")

    with CaptureQueriesContext(connection) as queries:
        result = conversions_process_pending(batch_size=100)

    assert result.counts == {"rewarded": 30}
    # A fixed number of statements for the batch (29 today, accounts created included), none per conversion:
    # one query more per conversion would make it 59.
    assert len(queries.captured_queries) < 45
    rule_queries = [q for q in queries.captured_queries if 'FROM "rewards_rewardrule"' in q["sql"]]
    assert len(rule_queries) == 1
    assert Reward.objects.filter(partner=alice, amount=Decimal("2.00")).count() == 15
    assert Reward.objects.filter(partner=bob, amount=Decimal("2.00")).count() == 15  # bob's override
    assert set(Conversion.objects.values_list("status", flat=True)) == {"accepted"}


@pytest.mark.django_db
def test_a_batch_rejects_with_the_reason_and_keeps_the_explanation(offer, alice):
    RewardRuleFactory(offer=offer, min_amount=Decimal("50"))
    make_conversion(offer, alice, amount="10.00")

    conversions_process_pending(batch_size=10)

    conversion = Conversion.objects.get()
    assert conversion.status == "rejected" and conversion.status_reason == "no_matching_rule"
    assert conversion.reward_explanation["rules"][0]["reason"] == "amount 10 USD below 50.0000"
    assert StatusChange.objects.filter(conversion=conversion, to_status="rejected").count() == 1


@pytest.mark.django_db
def test_the_sweeper_and_the_per_conversion_job_reward_once_run_twice(offer, alice, queue, run_worker):
    RewardRuleFactory(offer=offer)
    conversions = [make_conversion(offer, alice) for _ in range(5)]
    for conversion in conversions:
        queue.enqueue(process_conversion, str(conversion.pk))
    queue.enqueue(process_pending_conversions, 2)
    queue.enqueue(process_pending_conversions, 2)
    run_worker()
    for conversion in conversions:
        process_conversion(str(conversion.pk))
    process_pending_conversions(batch_size=2)

    assert Reward.objects.count() == 5 and Transaction.objects.filter(kind="accrual").count() == 5
    assert StatusChange.objects.filter(to_status="accepted").count() == 5


@pytest.mark.django_db
def test_the_sweeper_drains_more_than_one_batch(offer, alice):
    RewardRuleFactory(offer=offer)
    for _ in range(7):
        make_conversion(offer, alice)
    assert process_pending_conversions(batch_size=3) == {"rewarded": 7}
    assert process_pending_conversions(batch_size=3) == {}


@pytest.mark.django_db(transaction=True)
def test_two_workers_sweeping_at_once_never_reward_twice(offer, alice):
    RewardRuleFactory(offer=offer)
    for _ in range(60):
        make_conversion(offer, alice)
    start = threading.Barrier(3)

    def sweep(_):
        try:
            start.wait()
            return process_pending_conversions(batch_size=10)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(sweep, range(3)))

    assert sum(result.get("rewarded", 0) for result in results) == 60
    assert Reward.objects.count() == 60 and Transaction.objects.count() == 60


@pytest.mark.django_db
def test_the_api_shows_the_reward_and_its_explanation(write_conversions, acme_api, alice_link):
    RewardRuleFactory(offer=alice_link.offer, reward_type="percentage", value=Decimal("10"))
    Click.objects.create(
        click_id="c" * 32,
        link=alice_link,
        offer=alice_link.offer,
        partner=alice_link.partner,
        created_at=timezone.now() - timedelta(minutes=5),
    )
    body = {"type": "purchase", "click_id": "c" * 32, "external_id": "o-9", "amount": "120.00", "product_id": "p"}

    first = acme_api.post("/v1/convert", body, format="json")
    assert first.status_code == 202 and first.json()["reward"] is None
    write_conversions()
    conversions_process_pending(batch_size=10)
    again = acme_api.post("/v1/convert", body, format="json").json()

    assert again["reward"]["amount"] == "12.00" and again["reward"]["currency"] == "USD"
    assert again["reward"]["status"] == "pending"
    explanation = again["reward"]["explanation"]
    assert explanation["outcome"] == "rewarded" and explanation["rules"][0]["won"] is True
    assert explanation["facts"]["amount"] == "120.00"
    assert explanation["reward"]["rounding"] == "ROUND_HALF_UP to the currency's minor unit, once"


@pytest.mark.django_db
def test_the_sweeper_adds_the_batch_earnings_to_the_rollups_as_a_rebuild_counts_them(offer, alice, bob):
    from django.db.models import Sum

    from conversions.models import ConversionStat, ConversionSub1Stat
    from conversions.rollups import rollup_conversions_rebuild

    RewardRuleFactory(offer=offer, reward_type="percentage", value=Decimal("10"))
    for index in range(12):
        make_conversion(offer, alice if index % 3 else bob, amount="20.00")

    process_pending_conversions(5)  # three batches of at most 5
    earned = (
        ConversionStat.objects.aggregate(total=Sum("earnings"))["total"],
        ConversionSub1Stat.objects.aggregate(total=Sum("earnings"))["total"],
    )
    rollup_conversions_rebuild()

    assert earned == (Decimal("24.00"), Decimal("24.00"))
    assert earned == (
        ConversionStat.objects.aggregate(total=Sum("earnings"))["total"],
        ConversionSub1Stat.objects.aggregate(total=Sum("earnings"))["total"],
    )


@pytest.mark.django_db
def test_a_batch_keeps_the_reward_a_pending_conversion_already_has(offer, alice, caplog):
    from conversions.processing.pipeline import conversion_facts
    from rewards.grants import GrantRequest, rewards_grant

    RewardRuleFactory(offer=offer, value=Decimal("3.00"))
    conversion = make_conversion(offer, alice)
    # Rewarded, but its status not settled yet (as a worker killed between the two would leave it).
    rewards_grant(
        requests=[GrantRequest(conversion_id=conversion.pk, offer=offer, facts=conversion_facts(conversion))],
        now=timezone.now(),
    )
    make_conversion(offer, alice)

    assert conversions_process_pending(batch_size=10).counts == {"rewarded": 2}
    assert "one by one" not in caplog.text  # the batch itself knew, not its fallback
    assert Reward.objects.count() == 2 and Transaction.objects.filter(kind="accrual").count() == 2
    assert Reward.objects.get(conversion_id=conversion.pk).amount == Decimal("3.00")
