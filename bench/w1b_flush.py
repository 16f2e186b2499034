"""W1b: the click flusher's rows/s against a raw COPY of the same rows into a table of the same shape.

    DATABASE_URL=... REDIS_URL=... .venv/bin/python bench/w1b_flush.py [--clicks 50000] [--rounds 3]

Each round first COPYs N click rows straight into `referrals_click`, one COPY and one commit:
the floor for this table, its indexes and foreign keys as they are (the rows are deleted again,
untimed). Then it buffers N other clicks in Redis exactly as `GET /c/<code>` does
(`click_buffer_push`) and times `clicks_flush()` draining them into the same table with their
rollups. Prints one JSON line with the median of each and the ratio. It needs the bench's seeded
link (bench/seed.py) or makes one, and leaves the flushed clicks in the database.
"""

import argparse
import json
import os
import secrets
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from referrals.click_buffer import COLUMNS, click_buffer_enabled, click_buffer_push, clicks_flush  # noqa: E402
from referrals.models import Click, Link  # noqa: E402


def link_for_bench() -> Link:
    link = Link.objects.select_related("offer", "partner").first()
    if link is None:
        from bench.seed import seed

        seed(clicks=0)
        link = Link.objects.select_related("offer", "partner").get()
    return link


def clicks_made(link: Link, count: int) -> list[Click]:
    now = timezone.now()
    return [
        Click(
            click_id=secrets.token_hex(16),
            link=link,
            offer_id=link.offer_id,
            partner_id=link.partner_id,
            created_at=now,
            ip=f"10.{number % 250}.{number // 250 % 250}.{number % 200 + 1}",
            user_agent="Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36",
            referer="https://blog.example/post",
            sub1=f"s{number % 50}",
            country="US",
            device="desktop",
            browser="Chrome",
            os="Linux",
            accept_language="en-US",
        )
        for number in range(count)
    ]


def raw_copy_seconds(clicks: list[Click]) -> float:
    """The floor: the same rows, one COPY, one commit, into the click table itself; then removed, untimed."""
    rows = [[getattr(click, name) for name in COLUMNS] for click in clicks]
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        with cursor.connection.cursor().copy(f"COPY referrals_click ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    seconds = time.perf_counter() - started
    Click.objects.filter(click_id__in=[click.click_id for click in clicks]).delete()
    return seconds


def flush_seconds(clicks: list[Click]) -> float:
    """The candidate: the clicks buffered as the click view buffers them, then drained by the flusher."""
    for click in clicks:
        if not click_buffer_push(click=click, unique_key=f"bench:unique:{click.click_id}"):
            sys.exit("Redis refused the buffered clicks; is REDIS_URL set and answering?")
    before = Click.objects.count()
    started = time.perf_counter()
    written = clicks_flush()
    seconds = time.perf_counter() - started
    if written != len(clicks) or Click.objects.count() - before != len(clicks):
        sys.exit(f"the flusher wrote {written} of {len(clicks)} clicks")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clicks", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if not click_buffer_enabled():
        sys.exit("The click buffer needs PostgreSQL (DATABASE_URL), Redis (REDIS_URL) and CLICK_BUFFER on.")
    link = link_for_bench()
    clicks_flush()  # what an earlier run left buffered is not part of the measurement
    raw, flushed = [], []
    for _ in range(args.rounds):
        raw.append(raw_copy_seconds(clicks_made(link, args.clicks)))
        flushed.append(flush_seconds(clicks_made(link, args.clicks)))
    raw_rate = args.clicks / statistics.median(raw)
    flush_rate = args.clicks / statistics.median(flushed)
    print(
        json.dumps(
            {
                "clicks": args.clicks,
                "rounds": args.rounds,
                "batch_size": settings.CLICK_BUFFER_BATCH_SIZE,
                "raw_copy_rows_per_s": round(raw_rate),
                "flush_rows_per_s": round(flush_rate),
                "ratio": round(flush_rate / raw_rate, 3),
                "raw_copy_seconds": [round(seconds, 3) for seconds in raw],
                "flush_seconds": [round(seconds, 3) for seconds in flushed],
            }
        )
    )


if __name__ == "__main__":
    main()
