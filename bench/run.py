"""Measure the click redirect and POST /v1/convert against no-op baselines, under gunicorn with wrk.

    .venv/bin/python bench/run.py [--duration 8] [--connections 16] [--json-out bench/results/<timestamp>.json]

Each candidate runs in turn with its baseline (noop-django, click, noop-django, click, ...) so that
both see the same machine, and the table keeps the median of the rounds. See bench/README.md.
"""

import argparse
import json
import os
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.batch import SIZES, batch_workloads
from bench.provenance import git_commit, machine
from bench.servers import (
    BENCH_DATABASE,
    DATABASE_URL,
    REDIS_URL,
    RESULTS_DIR,
    ROOT,
    SEEDED_CLICKS,
    app_serving,
    bench_reset,
    clicks_file,
    main_exit,
    redis_flush,
)
from bench.verdicts import verdict_rows, verdict_table
from bench.wrk import CLICK, CONVERT, POSTBACK, Target, markdown_table, measure, wrk_ensure

WRITTEN = {CLICK.name: "clicks", CONVERT.name: "conversions", POSTBACK.name: "postback conversions"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=5, help="seconds per measured run (default 5)")
    parser.add_argument("--warmup", type=float, default=2, help="seconds of warm-up per workload (default 2)")
    parser.add_argument("--rounds", type=int, default=3, help="alternations of baseline and candidate (default 3)")
    parser.add_argument("--connections", type=int, default=16, help="open connections (default 16)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--json-out", type=Path, help="where to write the JSON (default bench/results/<time>.json)")
    parser.add_argument(
        "--size", choices=sorted(SIZES), default="quick", help="W3/W4/W5 sizes: quick (make bench) or full"
    )
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers (default 2)")
    parser.add_argument("--skip-batch", action="store_true", help="only the wrk workloads (W1, W2)")
    args = parser.parse_args()
    started = datetime.now(UTC)
    json_out = args.json_out or RESULTS_DIR / f"{started:%Y%m%dT%H%M%SZ}.json"

    wrk = wrk_ensure()
    load_before = os.getloadavg()
    if load_before[0] > 1:
        print(
            f"warning: the load average is {load_before[0]:.1f} before we start; other work on the machine "
            "will show in the numbers (compare the rounds, and the ratios rather than req/s)",
            file=sys.stderr,
        )
    print(f"resetting database {BENCH_DATABASE} and Redis {REDIS_URL} ...", flush=True)
    seeded = bench_reset()
    batch = [] if args.skip_batch else batch_workloads(args.size)
    redis_flush()
    log_path = json_out.with_suffix(".gunicorn.log")
    # SIGTERM (a CI timeout, `kill`) should stop gunicorn as Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    with clicks_file(seeded["click_ids"]) as clicks, app_serving(log_path, args.workers) as port:
        print(f"gunicorn on 127.0.0.1:{port}, {args.workers} sync workers; {args.duration:g} s a run", flush=True)
        target = Target(
            wrk=wrk,
            port=port,
            link_code=seeded["link_code"],
            api_key=seeded["api_key"],
            postback_token=seeded["postback_token"],
            clicks_file=clicks,
            threads=args.threads,
            connections=args.connections,
        )
        rows, writes = measure(target, duration=args.duration, warmup=args.warmup, rounds=args.rounds)

    report = {
        **git_commit(),
        "date": started.isoformat(timespec="seconds"),
        "machine": {**machine(), "load_average_before": load_before, "load_average_after": os.getloadavg()},
        "settings": {
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "rounds": args.rounds,
            "connections": args.connections,
            "wrk_threads": args.threads,
            "server": f"gunicorn, {args.workers} sync workers (config/gunicorn.conf.py)",
            "django_settings": "bench.settings",
            "database": DATABASE_URL,
            "redis": REDIS_URL,
            "seeded_clicks": SEEDED_CLICKS,
            "size": args.size,
            "batch_sizes": SIZES[args.size],
        },
        "verdicts": verdict_rows(rows, batch),
        "rows": rows,
        "writes": writes,
    }
    json_out.parent.mkdir(parents=True, exist_ok=True)
    json_out.write_text(json.dumps(report, indent=2) + "\n")

    print()
    print(markdown_table(rows))
    print()
    print(verdict_table(report["verdicts"]))
    print()
    for name, check in writes.items():
        print(
            f"{WRITTEN[name]} lost: {check['lost']} ({check['answered']} answered by gunicorn, "
            f"{check['rows_added']} rows added to {check['table']})"
        )
    print(f"JSON: {json_out.relative_to(ROOT) if json_out.is_relative_to(ROOT) else json_out}")
    noisy = [row["workload"] for row in rows if row["req_per_s_max"] > 1.25 * row["req_per_s_min"]]
    if noisy:
        print(
            f"warning: req/s varied by more than 25% between rounds for {', '.join(noisy)}; "
            "the machine was busy, so trust the ratios more than the raw numbers, or run again",
            file=sys.stderr,
        )
    # The numbers stand; but a run with failed requests or lost rows did not measure the real path.
    errors = sum(row["errors"] for row in rows)
    lost = sum(check["lost"] for check in writes.values())
    if errors or lost:
        print(
            f"bench: {errors} requests failed or answered 4xx/5xx and {lost} rows were lost; "
            f"see 'runs' in the JSON and the gunicorn log {log_path}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    main_exit(main, "bench")
