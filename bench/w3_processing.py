"""W3: conversions processed per second by one RQ worker.

Generates N pending conversions (bulk-inserted, as a burst of ingestion would
leave them), then times one SimpleWorker draining them: in `batch` mode with
the sweeper job `process_pending_conversions` (rules, rates and accounts loaded
once per batch), in `per-job` mode with one `process_conversion` job each, as
ingestion enqueues them. Prints one JSON line.

Either way each conversion goes through the whole pipeline: fraud screening with
the checks a new offer has (the defaults), reward rules, spend limit, recurring
limit, ledger, status, rollups. The generated conversions have no click and no
meta, so the click and customer checks find nothing to look at; `--visitor-ips`
gives them visitor IPs, so the IP checks run too.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/affitrack_bench REDIS_URL=redis://127.0.0.1:6379/12 \
        .venv/bin/python bench/w3_processing.py --conversions 5000 --mode batch

It migrates the database it is given and leaves its rows there; point it at a
database of its own.
"""

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversions", type=int, default=5000)
    parser.add_argument("--batch-size", type=int, help="Default: settings.CONVERSION_BATCH_SIZE, as production runs.")
    parser.add_argument("--mode", choices=["batch", "per-job"], default="batch")
    parser.add_argument("--workers", type=int, default=1, help="RQ workers (more than 1: separate processes)")
    parser.add_argument("--spawn", action="store_true", help="Run even one worker as `rqworker --burst` processes.")
    parser.add_argument(
        "--visitor-ips",
        action="store_true",
        help="Give each conversion a visitor IP, so the IP checks (velocity, data-centre) query and look up too.",
    )
    parser.add_argument("--generate-only", action="store_true", help="Leave the conversions pending (to profile).")
    args = parser.parse_args()

    import django

    django.setup()
    import django_rq
    from django.conf import settings
    from django.core.management import call_command
    from django.utils import timezone
    from rq import SimpleWorker

    class JobTimedWorker(SimpleWorker):
        last_job_finished = None

        def handle_job_success(self, job, queue, started_job_registry):
            super().handle_job_success(job, queue, started_job_registry)
            self.last_job_finished = time.perf_counter()

    from conversions.models import Conversion
    from conversions.processing.jobs import process_conversion, process_pending_conversions
    from referrals.models import Advertiser, Offer, Partner
    from rewards.models import Reward, RewardRule

    args.batch_size = args.batch_size or settings.CONVERSION_BATCH_SIZE
    if not settings.REDIS_URL or "postgresql" not in settings.DATABASES["default"]["ENGINE"]:
        sys.exit("Set DATABASE_URL (PostgreSQL) and REDIS_URL: W3 measures a real worker.")
    call_command("migrate", verbosity=0)
    from django.contrib.auth import get_user_model

    run = uuid.uuid4().hex[:8]
    advertiser = Advertiser.objects.create(name=f"W3 {run}", time_zone="Europe/Berlin")
    offer = Offer.objects.create(
        advertiser=advertiser, public_id=f"w3-{run}", name=f"W3 {run}", destination_url="https://example.com/"
    )
    partners = [
        Partner.objects.create(
            user=get_user_model().objects.create(username=f"w3-{run}-{n}"), referral_code=f"W3{run}{n}"
        )
        for n in range(20)
    ]
    RewardRule.objects.create(
        offer=offer, name="10% capped", reward_type="percentage", value=Decimal("10"), max_reward=Decimal("50")
    )
    RewardRule.objects.create(
        offer=offer,
        name="subscriptions",
        conversion_type="subscription",
        value=Decimal("5"),
        reward_type="fixed",
        recurring="first_n",
        recurring_count=12,
    )
    RewardRule.objects.create(
        offer=offer,
        partner=partners[0],
        name="override",
        reward_type="fixed",
        value=Decimal("7"),
        spend_limit=Decimal("1000000"),
        spend_limit_period="day",
    )
    now = timezone.now()
    rows = [
        Conversion(
            advertiser=advertiser,
            offer=offer,
            partner=partners[n % len(partners)],
            external_id=f"w3-{run}-{n}",
            type="subscription" if n % 5 == 0 else "purchase",
            subscription_id=f"sub-{n % 200}" if n % 5 == 0 else "",
            amount=Decimal(10 + n % 300) + Decimal("0.99"),
            currency="USD",
            product_id=f"sku-{n % 50}",
            occurred_at=now - timedelta(seconds=n),
            created_at=now - timedelta(seconds=n),
            **({"ip": f"198.51.{n // 256 % 256}.{n % 256}", "ip_from_visitor": True} if args.visitor_ips else {}),
        )
        for n in range(args.conversions)
    ]
    Conversion.objects.bulk_create(rows, batch_size=2000)
    pending_before = Conversion.objects.filter(status="pending").count()
    if args.generate_only:
        print(json.dumps({"generated": args.conversions, "pending": pending_before}))
        return

    queue = django_rq.get_queue("default")
    queue.empty()
    if args.mode == "batch":
        jobs = -(-pending_before // (args.batch_size * 20))
        for _ in range(jobs):
            queue.enqueue(process_pending_conversions, args.batch_size, 20)
    else:
        queue.enqueue_many([queue.prepare_data(process_conversion, (str(row.pk),)) for row in rows])
    started, cpu_started = time.perf_counter(), time.process_time()
    last_job_finished = None
    if args.workers == 1 and not args.spawn:
        worker = JobTimedWorker([queue], connection=queue.connection)
        worker.work(burst=True, logging_level="WARNING")
        last_job_finished = worker.last_job_finished
    else:
        # Separate processes, as production scales workers; each takes jobs until the queue is empty.
        root = Path(__file__).resolve().parent.parent
        workers = [
            subprocess.Popen(
                [sys.executable, "manage.py", "rqworker", "default", "--burst", "--worker-class", "rq.SimpleWorker"],
                cwd=root,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for _ in range(args.workers)
        ]
        for worker in workers:
            worker.wait()
    # Until the last job finished: a burst worker's exit then waits up to a second for its pubsub
    # thread, which made one run's figure double the next's.
    elapsed = (last_job_finished or time.perf_counter()) - started
    # The in-process worker's own CPU time: on a busy machine a steadier figure than the wall clock.
    worker_cpu = time.process_time() - cpu_started if args.workers == 1 and not args.spawn else None

    processed = Conversion.objects.filter(offer=offer).exclude(status="pending").count()
    rewarded = Reward.objects.filter(offer=offer).count()
    print(
        json.dumps(
            {
                "benchmark": "W3",
                "mode": args.mode,
                "workers": args.workers,
                "conversions": args.conversions,
                "batch_size": args.batch_size if args.mode == "batch" else 1,
                "processed": processed,
                "rewarded": rewarded,
                "seconds": round(elapsed, 3),
                "worker_cpu_seconds": round(worker_cpu, 3) if worker_cpu is not None else None,
                "conversions_per_second": round(processed / elapsed, 1) if elapsed else None,
                "conversions_per_second_per_worker": round(processed / elapsed / args.workers, 1) if elapsed else None,
            }
        )
    )


if __name__ == "__main__":
    main()
