"""A worker killed with SIGKILL in the middle of a batch, before or after a batch commits: after recovery
every conversion is processed and rewarded exactly once, and the ledger balances.

To stop the worker at a known point inside a batch, another session inserts, and does not commit, a reward
for one conversion: the batch that rewards that conversion waits on the unique index in the middle of its
transaction, and is killed there. Alice's conversions are the oldest, so they form the first batch.
"""

import time
from decimal import Decimal

import django_rq
import psycopg
import pytest
from django.db import connection
from rq import SimpleWorker

from conversions.models import Conversion
from conversions.processing.jobs import process_pending_conversions
from rewards.models import Entry, Reward, Transaction
from tests.factories import RewardRuleFactory
from tests.reliability.conftest import process_tree_kill, test_database_url

pytestmark = pytest.mark.django_db(transaction=True)
PER_PARTNER = 10


def wait_for(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


def hold_the_reward_of(conversion: Conversion, rule):
    session = psycopg.connect(test_database_url())
    session.execute("BEGIN")
    session.execute(
        "INSERT INTO rewards_reward (conversion_id, partner_id, offer_id, rule_id, amount, currency, status,"
        " explanation, reversed_from, created_at) VALUES (%s, %s, %s, %s, 0, 'USD', 'pending', '{}', '', now())",
        [conversion.pk, conversion.partner_id, conversion.offer_id, rule.pk],
    )
    return session


def no_other_session_is_busy() -> bool:
    """The killed worker's database session ends once PostgreSQL sees its client gone; its transaction
    (and the row locks that make the next sweep skip those conversions) end with it, uncommitted."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid() AND state <> 'idle'",
            [connection.settings_dict["NAME"]],
        )
        return cursor.fetchone()[0] == 0


def a_session_waits_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = %s",
            [connection.settings_dict["NAME"]],
        )
        return cursor.fetchone()[0] > 0


@pytest.mark.parametrize("killed", ["before_the_first_commit", "after_the_first_commit"])
def test_a_killed_worker_loses_nothing_and_rewards_nothing_twice(
    acme_api, alice, bob, offer, worker_process, killed, write_conversions
):
    rule = RewardRuleFactory(offer=offer, value=Decimal("1.50"))
    for code in ("ALICE", "BOB"):
        for n in range(PER_PARTNER):
            body = {
                "type": "purchase",
                "referral_code": code,
                "offer": "acme-shoes",
                "external_id": f"{code}-{n}",
                "amount": "10",
                "product_id": "p",
            }
            acme_api.post("/v1/convert", body, format="json")
    write_conversions()
    queue = django_rq.get_queue("default")
    queue.empty()  # the per-conversion jobs are lost; only the sweeper is left to do the work
    queue.enqueue(process_pending_conversions, batch_size=PER_PARTNER)
    blocked = alice if killed == "before_the_first_commit" else bob
    session = hold_the_reward_of(Conversion.objects.filter(partner=blocked).order_by("created_at").first(), rule)
    try:
        worker = worker_process("--burst")
        wait_for(a_session_waits_on_a_lock)
        process_tree_kill(worker)
    finally:
        session.rollback()
        session.close()
    wait_for(no_other_session_is_busy)

    accepted_before_recovery = set(Conversion.objects.filter(status="accepted").values_list("partner", flat=True))
    assert accepted_before_recovery == (set() if killed == "before_the_first_commit" else {alice.pk})
    assert Conversion.objects.filter(status="pending").count() == (2 if blocked == alice else 1) * PER_PARTNER

    # Recovery: the scheduler's next sweep, on a fresh worker.
    queue.enqueue(process_pending_conversions, batch_size=PER_PARTNER)
    SimpleWorker([queue], connection=queue.connection).work(burst=True)

    assert Conversion.objects.filter(status="accepted").count() == 2 * PER_PARTNER
    assert Reward.objects.filter(amount=Decimal("1.50")).count() == Reward.objects.count() == 2 * PER_PARTNER
    assert Transaction.objects.filter(kind="accrual").count() == 2 * PER_PARTNER
    assert sum(Entry.objects.values_list("amount", flat=True)) == 0
