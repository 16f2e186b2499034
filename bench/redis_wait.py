"""What a replica's confirmation costs a click: the click buffer's write with and without `WAIT 1`.

    DATABASE_URL=... REDIS_URL=... .venv/bin/python bench/redis_wait.py [--clicks 5000] [--rounds 3]

Starts a private Redis master with one replica (tests/reliability/sentinel_group.py; no sentinels: WAIT is
the master's business), then buffers N clicks exactly as `GET /c/<code>` does (`click_buffer_push`) with
REDIS_WAIT_REPLICAS=0, then N with 1, alternating for the rounds; prints one JSON line with each one's median
and p99 per click in microseconds, and how many clicks the replica did not confirm in time (those are written
to PostgreSQL at once). The buffered clicks are drained into the database (bench/w1b_flush.py's link).
"""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

from django.conf import settings  # noqa: E402

from bench.w1b_flush import clicks_made, link_for_bench  # noqa: E402
from referrals.click_buffer import click_buffer_push, clicks_flush  # noqa: E402
from tests.reliability.sentinel_group import SentinelGroup  # noqa: E402


def push_microseconds(clicks, replicas: int) -> tuple[list[float], int]:
    """Each click's buffer write in microseconds, and how many were written to PostgreSQL instead of waiting."""
    settings.REDIS_WAIT_REPLICAS = replicas
    times, unconfirmed = [], 0
    for click in clicks:
        started = time.perf_counter()
        if not click_buffer_push(click=click, unique_key=f"bench:unique:{click.click_id}"):
            sys.exit("Redis refused a buffered click")
        times.append((time.perf_counter() - started) * 1e6)
        unconfirmed += click.pk is not None
    clicks_flush()
    return times, unconfirmed


def summary(times: list[float]) -> dict:
    ordered = sorted(times)
    return {"median_us": round(statistics.median(ordered)), "p99_us": round(ordered[int(len(ordered) * 0.99) - 1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clicks", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    settings.CLICK_BUFFER = True
    group = SentinelGroup(replicas=1, sentinels=0)
    group.start()
    try:
        settings.RQ_QUEUES["default"] = {"URL": group.master_url, "DEFAULT_TIMEOUT": 300}
        link = link_for_bench()
        measured = {0: ([], 0), 1: ([], 0)}
        for _ in range(args.rounds):
            for replicas in (0, 1):
                times, unconfirmed = push_microseconds(clicks_made(link, args.clicks), replicas)
                measured[replicas] = (measured[replicas][0] + times, measured[replicas][1] + unconfirmed)
    finally:
        group.stop()
    without, with_wait = summary(measured[0][0]), summary(measured[1][0])
    print(
        json.dumps(
            {
                "clicks": args.clicks * args.rounds,
                "wait_timeout_ms": settings.REDIS_WAIT_TIMEOUT_MS,
                "no_wait": without,
                "wait_1": with_wait,
                "wait_1_unconfirmed": measured[1][1],
                "added_median_us": with_wait["median_us"] - without["median_us"],
            }
        )
    )


if __name__ == "__main__":
    main()
