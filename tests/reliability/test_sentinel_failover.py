"""Redis under Sentinel: the master SIGKILLed under a stream of clicks and conversions, a replica promoted, on the
production topology (gunicorn, `run_worker`, `flush_clicks`, `run_scheduler`) with REDIS_SENTINELS set.

Every click answered 302 is in the click table once, every conversion answered 202/200 once, and no answer is a
5xx: a buffered click is answered only once a replica has it (REDIS_WAIT_REPLICAS), so the promoted replica
holds every acknowledged click. The processes find the new master by themselves (none is restarted).
"""

import time
from decimal import Decimal

import pytest
from django.conf import settings as django_settings

from core.redis_config import redis_queue_config
from referrals.click_buffer import PROCESSING, QUEUE, clicks_flush
from referrals.models import Click
from referrals.services import click_cookie_name
from tests.factories import RewardRuleFactory
from tests.reliability.conftest import test_database_url
from tests.reliability.sentinel_group import MASTER_NAME, SentinelGroup
from tests.reliability.stream_counts import stream_proof_rows, stream_stored_wait, wait_until
from tests.reliability.traffic import Stream, Topology, proof_table

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_sentinel_failover_loses_no_acknowledged_click_or_conversion(acme, acme_key, alice_link, capsys):
    RewardRuleFactory(offer=alice_link.offer, value=Decimal("2.00"))
    group = SentinelGroup(replicas=2)
    group.start()
    old_master = group.master_port()
    topology = Topology(
        database_url=test_database_url(),
        # With sentinels the URL names only the database (and password): the host is whatever they answer.
        redis_url=f"redis://127.0.0.1:{old_master}/0",
        env={"REDIS_SENTINELS": group.sentinels, "REDIS_SENTINEL_MASTER": MASTER_NAME, "REDIS_WAIT_REPLICAS": "1"},
    )
    stream = Stream(
        port=topology.port, api_key=acme_key, link_code="alice-shoes", cookie_name=click_cookie_name(alice_link.offer)
    )
    try:
        topology.start()
        stream.start()
        time.sleep(5)
        before = len(stream.clicks), len(stream.conversions)
        killed_at = time.monotonic()
        group.master_kill()  # SIGKILL, as a crash or the OOM killer would
        new_master = group.failover_wait(old_master, timeout=120)
        failover_seconds = time.monotonic() - killed_at
        time.sleep(6)  # on the new master
        stream.stop()
        during = len(stream.clicks) - before[0], len(stream.conversions) - before[1]

        # A job lost with the old master is the sweeper's; a flusher's lock replicated to the new one expires.
        stored = stream_stored_wait(stream, clicks_timeout=120)
        new_redis = group.client(new_master)
        # The flusher drains the new master's buffer, the copies of clicks also written at once included.
        drained = wait_until(lambda: new_redis.llen(QUEUE) + new_redis.llen(PROCESSING) == 0, timeout=90)
        alive = topology.alive()
    finally:
        stream.stopping.set()
        topology.stop()
        group.stop()

    rows = stream_proof_rows(stream)
    title = (
        f"Redis master SIGKILLed under Sentinel (2 replicas, 3 sentinels, REDIS_WAIT_REPLICAS=1): a replica was "
        f"promoted {failover_seconds:.1f} s later; {during[0]} clicks and {during[1]} conversions were sent from "
        "the kill to the end:"
    )
    with capsys.disabled():
        print("\n" + proof_table(title, rows))

    assert alive == {"web": True, "worker": True, "clicks": True, "conversions": True, "scheduler": True}
    assert stored, (topology.log("clicks")[-2000:], topology.log("worker")[-2000:])
    assert drained
    for row in rows:
        assert row["acknowledged"] > 0 and row["lost"] == 0 and row["doubled"] == 0 and row["5xx"] == 0, row


@pytest.mark.parametrize("wait_replicas, survives", [(1, True), (0, False)])
def test_a_click_the_replica_did_not_get_survives_a_failover_only_with_wait(
    client, alice_link, settings, monkeypatch, wait_replicas, survives
):
    """The loss window: the master answers a click its replica never receives, then dies. With WAIT the click
    was written to PostgreSQL too before its 302; without, the promoted replica never had it."""
    settings.CLICK_BUFFER = True
    settings.REDIS_WAIT_REPLICAS = wait_replicas
    settings.REDIS_WAIT_TIMEOUT_MS = 200
    group = SentinelGroup(replicas=1, relayed=True)
    group.start()
    try:
        old_master = group.master_port()
        config = redis_queue_config("redis://127.0.0.1:1/0", sentinels=group.sentinels.split(","), master=MASTER_NAME)
        monkeypatch.setitem(django_settings.RQ_QUEUES, "default", {**config, "DEFAULT_TIMEOUT": 300})
        group.relay.hold()
        response = client.get("/c/alice-shoes")
        group.master_kill()
        group.failover_wait(old_master, timeout=120)
        clicks_flush()
    finally:
        group.stop()

    assert response.status_code == 302
    click_id = response.cookies[click_cookie_name(alice_link.offer)].value
    assert Click.objects.filter(click_id=click_id).exists() is survives
