"""W5: import a 100k-row conversions CSV end to end and print the seconds it took.

    DATABASE_URL=... REDIS_URL=... .venv/bin/python bench/w5_csv_import.py [--rows 100000] [--process]

"End to end" is what an advertiser waits for: the file checked and stored
(upload_create), then the import job (upload_run: parse, validate, attribute
by click id and referral code, insert, status rows, enqueue processing).
Half the rows name a click, half a referral code. With REDIS_URL the created
conversions' processing jobs are enqueued, and `--process` also runs them with
an RQ worker and prints that time separately. The data it makes is left in
the database (its names carry a run id).
"""

import argparse
import json
import os
import secrets
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

import django_rq  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402
from rq import SimpleWorker  # noqa: E402

from conversions.uploads.importing import upload_run  # noqa: E402
from conversions.uploads.services import upload_create  # noqa: E402
from referrals.models import Advertiser, Click, Link, Offer, Partner  # noqa: E402
from rewards.models import RewardRule  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--process", action="store_true", help="Also run the processing jobs and time them.")
    args = parser.parse_args()

    run = secrets.token_hex(4)
    now = timezone.now()
    advertiser = Advertiser.objects.create(name=f"W5 {run}")
    offer = Offer.objects.create(
        advertiser=advertiser,
        public_id=f"w5-{run}",
        name="W5 manual offer",
        destination_url="https://shop.example/?c={click_id}",
        track_type="manual",
    )
    RewardRule.objects.create(offer=offer, name="4%", reward_type="percentage", value="4", created_at=now)
    user = get_user_model().objects.create(username=f"w5-{run}")
    partner = Partner.objects.create(user=user, referral_code=f"W5{run}".upper())
    link = Link.objects.create(partner=partner, offer=offer, code=f"w5{run}")
    by_click = args.rows // 2
    clicks = [
        Click(
            click_id=secrets.token_hex(16),
            link=link,
            offer=offer,
            partner=partner,
            created_at=now - timedelta(hours=2),
        )
        for _ in range(by_click)
    ]
    Click.objects.bulk_create(clicks, batch_size=5000)

    lines = ["click_id,referral_code,external_id,type,amount,currency,occurred_at,product_id,category,meta_coupon"]
    occurred = (now - timedelta(hours=1)).replace(microsecond=0).isoformat()
    for n in range(args.rows):
        click_id, code = (clicks[n].click_id, "") if n < by_click else ("", partner.referral_code)
        lines.append(f"{click_id},{code},w5-{run}-{n},purchase,{n % 500}.99,USD,{occurred},sku-{n % 97},shoes,W5")
    raw = ("\r\n".join(lines) + "\r\n").encode()
    print(f"W5: {args.rows} rows, {len(raw) / 1e6:.1f} MB, run {run}", flush=True)

    backend_cpu = _backend_cpu_seconds()
    python_cpu = time.process_time()
    started = time.perf_counter()
    upload = upload_create(advertiser=advertiser, kind="conversions", name="w5.csv", raw=raw, offer=offer)
    checked = time.perf_counter()
    upload = upload_run(upload_id=upload.pk)
    finished = time.perf_counter()
    python_cpu = time.process_time() - python_cpu
    backend_cpu = _backend_cpu_seconds() - backend_cpu if backend_cpu is not None else None
    assert upload.status == "done" and upload.created_count == args.rows, (upload.status, upload.created_count)
    print(f"  check and store: {checked - started:.2f} s")
    print(f"  import job:      {finished - checked:.2f} s")
    print(f"W5 import end to end: {finished - started:.2f} s ({args.rows / (finished - started):,.0f} rows/s)")
    # CPU, to tell the work from waiting for a loaded machine's cores.
    print(f"  CPU: this process {python_cpu:.2f} s, its PostgreSQL backend {backend_cpu or 0:.2f} s")
    result = {
        "benchmark": "W5",
        "rows": args.rows,
        "seconds": round(finished - started, 3),
        "check_s": round(checked - started, 3),
        "import_s": round(finished - checked, 3),
        "rows_per_second": round(args.rows / (finished - started), 1),
        "python_cpu_s": round(python_cpu, 3),
        "backend_cpu_s": round(backend_cpu, 3) if backend_cpu is not None else None,
    }
    print(json.dumps(result), flush=True)

    queue = django_rq.get_queue("default")
    if args.process:
        began = time.perf_counter()
        SimpleWorker([queue], connection=queue.connection).work(burst=True)
        print(f"W5 processing (rewards and ledger) of {args.rows}: {time.perf_counter() - began:.2f} s")
    else:
        print(f"  {queue.count} processing jobs left on the queue (run with --process to time them)")


def _backend_cpu_seconds() -> float | None:
    """CPU time of this connection's PostgreSQL backend, when the server runs on this machine."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    main()
