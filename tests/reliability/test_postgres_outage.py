"""PostgreSQL stopped for 5 s and started again under a stream of clicks and conversions, on the production
topology (gunicorn, `run_worker`, `flush_clicks`, `write_conversions`, `run_scheduler`) and a private cluster.

While it is down, clicks still answer 302 (the link is cached, the click goes to the Redis buffer) and
conversions answer 503 in the JSON error shape with Retry-After, never an HTML 500. When it is back, the
flusher, the writer and the worker carry on by themselves: every click answered 302 and every conversion answered
202/200 is stored once and processed, and no process had to be restarted.
"""

import json
import subprocess
import sys
import time

from tests.reliability.conftest import ROOT, PrivateRedis
from tests.reliability.traffic import Stream, Topology, proof_rows, proof_table

SEED = """
import json
from decimal import Decimal
from django.contrib.auth import get_user_model
from referrals.models import Advertiser, Link, Offer, Partner
from referrals.services import api_key_create
from rewards.models import RewardRule
acme = Advertiser.objects.create(name="Acme")
offer = Offer.objects.create(advertiser=acme, public_id="acme-shoes", name="o", destination_url="https://shop.example/")
alice = Partner.objects.create(user=get_user_model().objects.create(username="alice"), referral_code="ALICE")
Link.objects.create(partner=alice, offer=offer, code="alice-shoes")
RewardRule.objects.create(offer=offer, name="r", reward_type="fixed", value=Decimal("2.00"), currency="USD")
print(json.dumps({"key": api_key_create(advertiser=acme)[1]}))
"""
STATE = """
import json
from django.db.models import Count
from conversions.intake.intake_log import intake_log_length
from conversions.models import Conversion
from referrals.models import Click
print(json.dumps({
    "clicks": dict(Click.objects.values_list("click_id").annotate(rows=Count("id"))),
    "conversions": dict(Conversion.objects.values_list("external_id").annotate(rows=Count("id"))),
    "pending": Conversion.objects.filter(status="pending").count() + intake_log_length(),
}))
"""


def test_a_postgres_outage_is_ridden_out_by_every_process(private_postgres, capsys):
    redis = PrivateRedis(durable=True)
    redis.start()
    topology = Topology(database_url=private_postgres["url"], redis_url=redis.url)

    def manage(*args: str) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=topology.env, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr[-3000:]
        return (result.stdout.strip().splitlines() or [""])[-1]

    def state() -> dict:
        return json.loads(manage("shell", "-v", "0", "-c", STATE))

    manage("migrate", "--noinput", "-v", "0")
    key = json.loads(manage("shell", "-v", "0", "-c", SEED))["key"]
    stream = Stream(port=topology.port, api_key=key, link_code="alice-shoes", cookie_name="atc_acme-shoes")
    try:
        topology.start()
        stream.start()
        time.sleep(4)
        private_postgres["stop"]()
        time.sleep(5)
        private_postgres["start"]()
        time.sleep(4)
        stream.stop()

        acknowledged = {answer.key for answer in stream.clicks if answer.status == 302}
        deadline = time.monotonic() + 150
        final = state()
        while time.monotonic() < deadline and (final["pending"] or not acknowledged <= set(final["clicks"])):
            time.sleep(1)
            final = state()
        alive = topology.alive()
    finally:
        stream.stopping.set()
        topology.stop()
        redis.stop()

    rows = [
        proof_rows("clicks (302)", stream.clicks, {302}, final["clicks"]),
        proof_rows("conversions (202/200)", stream.conversions, {200, 202}, final["conversions"]),
    ]
    with capsys.disabled():
        print("\n" + proof_table("PostgreSQL stopped for 5 s, then started:", rows))

    assert alive == {"web": True, "worker": True, "clicks": True, "conversions": True, "scheduler": True}
    assert final["pending"] == 0, topology.log("worker")[-3000:]
    for row in rows:
        assert row["acknowledged"] > 0 and row["lost"] == 0 and row["doubled"] == 0, row
        assert row["5xx not 503+Retry-After"] == 0 and row["no answer"] == 0, row
    # The outage was met and answered as one: 503 in the JSON error shape, with Retry-After.
    refused = [answer for answer in stream.conversions if answer.status >= 500]
    assert refused and all(answer.content_type == "application/json" for answer in refused)
    # The flusher met it too, and said so once when it began and once when it ended.
    flusher = topology.log("clicks")
    assert flusher.count("PostgreSQL unavailable") == 1 and flusher.count("back after") == 1, flusher[-2000:]
