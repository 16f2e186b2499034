"""Redis SIGKILLed and restarted under a stream of clicks and conversions, on the production topology
(gunicorn, `run_worker`, `flush_clicks`) with the append-only file docs/operations.md asks for.

Every click answered 302 is in the click table once, every conversion answered 202/200 once; the worker
and the flusher carry on by themselves after Redis returns (none is restarted), and no answer is a 5xx.
"""

import time
from decimal import Decimal

import pytest

from referrals.services import click_cookie_name
from tests.factories import RewardRuleFactory
from tests.reliability.conftest import PrivateRedis, test_database_url
from tests.reliability.stream_counts import stream_proof_rows, stream_stored_wait
from tests.reliability.traffic import Stream, Topology, proof_table

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_redis_crash_loses_no_acknowledged_click_or_conversion(acme, acme_key, alice_link, capsys, settings):
    RewardRuleFactory(offer=alice_link.offer, value=Decimal("2.00"))
    redis = PrivateRedis(durable=True)
    redis.start()
    intake_redis = PrivateRedis(durable=True, appendfsync="always")
    intake_redis.start()
    settings.INTAKE_REDIS_URL = intake_redis.url
    topology = Topology(database_url=test_database_url(), redis_url=redis.url, intake_redis_url=intake_redis.url)
    stream = Stream(
        port=topology.port, api_key=acme_key, link_code="alice-shoes", cookie_name=click_cookie_name(alice_link.offer)
    )
    try:
        topology.start()
        stream.start()
        time.sleep(4)
        redis.stop()  # SIGKILL, as a crash or the OOM killer would
        time.sleep(3)
        redis.start()  # the same port and directory: it reloads its append-only file
        time.sleep(4)
        stream.stop()

        stored = stream_stored_wait(stream)
        alive = topology.alive()
    finally:
        stream.stopping.set()
        topology.stop()
        redis.stop()
        intake_redis.stop()

    rows = stream_proof_rows(stream)
    with capsys.disabled():
        print("\n" + proof_table("Redis SIGKILLed for 3 s, restarted with its AOF (appendfsync everysec):", rows))

    assert alive == {"web": True, "worker": True, "clicks": True, "conversions": True, "scheduler": True}
    assert stored, (topology.log("clicks")[-2000:], topology.log("worker")[-2000:])
    flusher = topology.log("clicks")
    assert flusher.count("Redis unavailable") == 1 and flusher.count("back after") == 1, flusher[-2000:]
    for row in rows:
        assert row["acknowledged"] > 0 and row["lost"] == 0 and row["doubled"] == 0 and row["5xx"] == 0, row
