"""PostgreSQL restarted while a worker processes conversions: nothing is lost, nothing counted twice.

The test runs its own PostgreSQL cluster (initdb in a temporary directory, tests/reliability/conftest.py)
so that restarting it harms no one else; the app, a real worker process and the checks all talk to that cluster.
"""

import json
import os
import subprocess
import sys
import time
from decimal import Decimal

from tests.reliability.conftest import ROOT, process_tree_kill

SEED = """
from decimal import Decimal
from django.contrib.auth import get_user_model
from conversions.intake.recording import ConversionReport, conversion_record
from referrals.models import Advertiser, Offer, Partner
from rewards.models import RewardRule
acme = Advertiser.objects.create(name="Acme")
offer = Offer.objects.create(advertiser=acme, public_id="o", name="o", destination_url="https://shop.example/")
alice = Partner.objects.create(user=get_user_model().objects.create(username="alice"), referral_code="ALICE")
RewardRule.objects.create(offer=offer, name="r", reward_type="fixed", value=Decimal("2.00"), currency="USD")
for n in range(40):
    report = ConversionReport(type="purchase", external_id=f"pg-{n}", amount=Decimal("10"), referral_code="ALICE",
                              offer="o", product_id="p")
    conversion_record(advertiser=acme, report=report, channel="api")
"""
STATE = """
import json
from django.db.models import Sum
from conversions.models import Conversion
from rewards.models import Entry, Reward, Transaction
print(json.dumps({
    "accepted": Conversion.objects.filter(status="accepted").count(),
    "pending": Conversion.objects.filter(status="pending").count(),
    "rewards": Reward.objects.count(),
    "accruals": Transaction.objects.filter(kind="accrual").count(),
    "ledger_sum": str(Entry.objects.aggregate(total=Sum("amount"))["total"] or 0),
}))
"""
SWEEP = "from conversions.processing.jobs import process_pending_conversions; print(process_pending_conversions())"


def test_a_postgres_restart_during_processing_loses_nothing(private_postgres, private_redis):
    env = {
        **os.environ,
        "DATABASE_URL": private_postgres["url"],
        "REDIS_URL": private_redis.url,
        "LOG_FORMAT": "console",
        "DB_CONN_MAX_AGE": "60",
    }

    def manage(*args: str) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=True
        )
        return result.stdout

    def state() -> dict:
        return json.loads(manage("shell", "-v", "0", "-c", STATE).strip().splitlines()[-1])

    manage("migrate", "--noinput", "-v", "0")
    manage("shell", "-v", "0", "-c", SEED)
    assert state()["pending"] == 40

    worker = subprocess.Popen(
        [sys.executable, "manage.py", "rqworker", "default"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while state()["accepted"] < 5 and time.monotonic() < deadline:
            time.sleep(0.1)
        private_postgres["restart"]()  # in the middle of the queue: some jobs meet a dead connection
        time.sleep(2)
    finally:
        process_tree_kill(worker)

    # Recovery: the scheduler's sweep picks up whatever a failed job left pending.
    manage("shell", "-v", "0", "-c", SWEEP)
    final = state()

    assert Decimal(final.pop("ledger_sum")) == 0
    assert final == {"accepted": 40, "pending": 0, "rewards": 40, "accruals": 40}
