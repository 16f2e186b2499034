"""5,000 conversions at full speed while the conversion writer, gunicorn's workers and the intake log's Redis are
SIGKILLed and restarted, on the production topology (gunicorn, `run_worker`, `flush_clicks`, `write_conversions`,
`run_scheduler`), the intake log on a Redis of its own with `appendfsync always` (docs/operations.md).

A conversion is answered 202 once it is in the intake log, before PostgreSQL holds it. After recovery every
conversion answered 202/200 is stored exactly once and processed once, by a real worker.
"""

import time
from decimal import Decimal

import pytest
from django.db.models import Count

from conversions.intake.intake_log import intake_log_length
from conversions.models import Conversion, StatusChange
from referrals.services import click_cookie_name
from rewards.models import Reward
from tests.factories import RewardRuleFactory
from tests.reliability.conftest import PrivateRedis, test_database_url
from tests.reliability.traffic import Stream, Topology, proof_rows, proof_table

pytestmark = pytest.mark.django_db(transaction=True)

CONVERSIONS = 5000


def wait_until(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.5)
    return predicate()


def answered(stream: Stream) -> int:
    return sum(1 for answer in stream.conversions if answer.status in (200, 202))


def test_no_acknowledged_conversion_is_lost_or_doubled_when_every_intake_process_is_killed(
    acme, acme_key, alice_link, capsys, settings
):
    RewardRuleFactory(offer=alice_link.offer, value=Decimal("2.00"))
    redis = PrivateRedis(durable=True)
    intake_redis = PrivateRedis(durable=True, appendfsync="always")
    redis.start()
    intake_redis.start()
    settings.INTAKE_REDIS_URL = intake_redis.url
    topology = Topology(database_url=test_database_url(), redis_url=redis.url, intake_redis_url=intake_redis.url)
    stream = Stream(
        port=topology.port,
        api_key=acme_key,
        link_code="alice-shoes",
        cookie_name=click_cookie_name(alice_link.offer),
        with_clicks=False,
        conversion_threads=8,
        conversion_limit=CONVERSIONS,
    )
    kills = []
    try:
        topology.start()
        stream.start()
        # Each kill once the stream has moved on since the last, so that it lands among requests in flight,
        # however slow the machine is; the stream never waits for the kills.
        for kill in ("writer", "web workers", "intake Redis", "writer", "web workers"):
            progress = answered(stream)
            wait_until(lambda progress=progress: answered(stream) >= progress + 300 or stream.sent_all(), 120)
            if stream.sent_all():
                break
            if kill == "writer":
                topology.restart("conversions")
            elif kill == "web workers":
                topology.web_workers_kill()
            else:
                intake_redis.stop()  # SIGKILL: the appends it acknowledged are in its fsynced append-only file
                time.sleep(2)
                intake_redis.start()
            kills.append(kill)
        wait_until(stream.sent_all, 900)
        stream.stop()

        stored = wait_until(lambda: intake_log_length() == 0, timeout=300)
        processed = wait_until(lambda: not Conversion.objects.filter(status="pending").exists(), timeout=300)
        alive = topology.alive()
    finally:
        stream.stopping.set()
        topology.stop()
        redis.stop()
        intake_redis.stop()

    conversions = dict(Conversion.objects.values_list("external_id").annotate(rows=Count("id")))
    [row] = [proof_rows("conversions (202/200)", stream.conversions, {200, 202}, conversions)]
    with capsys.disabled():
        title = f"{CONVERSIONS} conversions; SIGKILLed and restarted: {', '.join(kills)}:"
        print("\n" + proof_table(title, [row]))

    assert kills == ["writer", "web workers", "intake Redis", "writer", "web workers"]
    assert alive == {"web": True, "worker": True, "clicks": True, "conversions": True, "scheduler": True}
    assert stored and processed, (topology.log("conversions")[-3000:], topology.log("worker")[-2000:])
    assert row["sent"] == CONVERSIONS and row["acknowledged"] > CONVERSIONS / 2, row
    assert row["lost"] == 0 and row["doubled"] == 0 and row["5xx"] == 0, row
    # Processed once: each stored conversion has one reward and went from pending to accepted once.
    accepted = Conversion.objects.filter(status="accepted")
    assert accepted.count() == Conversion.objects.count() == Reward.objects.count()
    assert StatusChange.objects.filter(to_status="accepted").count() == accepted.count()
