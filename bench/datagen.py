"""A skewed, realistic data set for the report benchmarks (W4): clicks, conversions, rewards, ledger, rollups.

    DJANGO_SETTINGS_MODULE=bench.settings DATABASE_URL=postgres://postgres@127.0.0.1:5432/affitrack_bench \
        .venv/bin/python bench/datagen.py --clicks 10000000 --conversions 500000 --offers 500 --partners 2000 --days 30

What it makes, over the `--days` before `--end` (default: now):

- advertisers (one per 10 offers), offers (USD, EUR, GBP; validation terms of 7 to 60 days), one reward rule each;
- partners with a user each (`dg-partner-00001`, password "bench"), in a mix of time zones; partner 1 is the
  heaviest, then Zipf (weight 1/rank): at 2,000 partners the top one has ~12% of the clicks, the median one ~0.01%;
- links: heavy partners promote many offers (60 for the top one), small ones one or two; offer popularity is Zipf;
- clicks in time order, with a diurnal and weekly pattern; sub1 in each partner's style (none, a few traffic
  sources, a long tail of campaign ids, or a unique id per click), sub2 for campaign partners;
- conversions on exactly `--conversions` of those clicks (offers convert at different rates), minutes to days
  after the click: ~72% accepted, 12% pending, 13% rejected, 3% suspicious; amounts log-normal around each offer's
  basket;
- a reward for every accepted conversion (and a reversed one for a third of the rejected), approved once its
  validation term is over, with the ledger's accrual, approval and reversal transactions and their entries;
- the quarter-hour rollups of the generated partners, by set-based SQL that gives what
  `manage.py rollups_rebuild` gives (tests/test_datagen.py holds the two equal).

No status history, payouts, postbacks or request logs: the publisher reports do not read them.

Deterministic: the same --seed, sizes and --end give the same rows. Idempotent enough: it adds its own
advertisers, offers and partners (named dg-...) next to whatever the database holds, and does nothing if they
are already there (drop and recreate the database to change the sizes). All of it is one transaction.
Rows go in with COPY; on large loads the click and conversion tables' secondary indexes are dropped first and
created again afterwards with the very definitions they had (pg_indexes), which is several times faster.
"""

import argparse
import json
import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from bench.datagen_clicks import clicks_write
from bench.datagen_conversions import conversions_write, rewards_write
from bench.datagen_copy import secondary_indexes_drop, ts
from bench.datagen_month import Sizes, offers_write, partners_write
from bench.datagen_rollups import rollups_fill

MARKER = "DG00001"  # the referral code of the first generated partner: present means loaded
DROP_INDEXES_FROM = 200_000  # clicks: below this, inserting into the indexes is as quick as rebuilding them


def generate(
    connection, sizes: Sizes, *, seed: int = 8, end: datetime | None = None, rebuild_indexes=None, log=print
) -> dict:
    """Fill the database through `connection` (a Django connection) in its transaction; returns counts and timings.

    `rebuild_indexes`: drop the click and conversion tables' secondary indexes for the load and create them
    again after it; by default for loads of DROP_INDEXES_FROM clicks or more.
    """
    rng = random.Random(seed)
    if rebuild_indexes is None:
        rebuild_indexes = sizes.clicks >= DROP_INDEXES_FROM
    end = (end or datetime.now(UTC)).replace(second=0, microsecond=0)
    start = end - timedelta(days=sizes.days)
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = round(now - clock, 1)
        clock = now
        log(f"{name}: {timings[name]} s")

    with connection.cursor() as django_cursor:
        django_cursor.execute("SELECT 1 FROM referrals_partner WHERE referral_code = %s", [MARKER])
        if django_cursor.fetchone():
            log("the generated data is already there; nothing to do")
            return {"loaded": False}
    cursor = connection.connection.cursor()  # the psycopg connection's: it COPYs
    cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
    created = ts(start - timedelta(days=30))
    offers = offers_write(cursor, rng, sizes, created)
    lap("offers")
    plans = partners_write(cursor, rng, sizes, offers, created)
    lap("partners and links")
    indexes = []
    if rebuild_indexes:
        indexes = secondary_indexes_drop(cursor, "referrals_click") + secondary_indexes_drop(
            cursor, "conversions_conversion"
        )
    converting = clicks_write(cursor, rng, sizes, start, offers, plans)
    lap("clicks")
    rewards = conversions_write(cursor, rng, end, offers, converting)
    lap("conversions")
    entries = rewards_write(cursor, rng, end, rewards)
    lap("rewards and ledger")
    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the deferred foreign-key checks, before CREATE INDEX
    lap("foreign keys checked")
    for statement in indexes:
        cursor.execute(statement)
    lap("indexes")
    rollups_fill(cursor, (plans[0].pk, plans[-1].pk))
    lap("rollups")
    cursor.execute("ANALYZE")
    lap("analyze")
    return {
        "loaded": True,
        "seed": seed,
        "end": end.isoformat(),
        "clicks": sizes.clicks,
        "conversions": len(converting),
        "rewards": len(rewards),
        "ledger_entries": entries,
        "offers": sizes.offers,
        "partners": sizes.partners,
        "links": sum(len(plan.links) for plan in plans),
        "days": sizes.days,
        "seconds": timings,
    }


def load(sizes: Sizes, *, seed: int = 8, end: datetime | None = None, log=print) -> dict:
    """`generate` in a transaction of its own, then VACUUM ANALYZE; with the database's size."""
    from django.db import connection, transaction

    started = time.perf_counter()
    with transaction.atomic():
        result = generate(connection, sizes, seed=seed, end=end, log=log)
    if result["loaded"]:
        # What autovacuum does to a freshly loaded table, done now: the visibility map lets the report
        # queries use index-only scans, as they would on a database in service.
        vacuum_started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        result["seconds"]["vacuum"] = round(time.perf_counter() - vacuum_started, 1)
    result["total_seconds"] = round(time.perf_counter() - started, 1)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
        result["database_size"] = cursor.fetchone()[0]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    Sizes.arguments_add(parser)
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--end", type=datetime.fromisoformat, help="the end of the data (default: now), ISO 8601")
    args = parser.parse_args()
    import django

    django.setup()

    result = load(Sizes.from_arguments(args), seed=args.seed, end=args.end, log=lambda line: print(line, flush=True))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
