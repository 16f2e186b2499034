"""Measure the click redirect and POST /v1/convert against no-op baselines, under gunicorn with wrk.

    .venv/bin/python bench/run.py [--duration 8] [--connections 16] [--json-out bench/results/<timestamp>.json]

Each candidate runs in turn with its baseline (noop-django, click, noop-django, click, ...) so that
both see the same machine, and the table keeps the median of the rounds. See bench/README.md.
"""

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.servers import (
    BENCH_DATABASE,
    DATABASE_URL,
    REDIS_URL,
    RESULTS_DIR,
    ROOT,
    SEEDED_CLICKS,
    BenchError,
    BufferLagSampler,
    bench_env,
    click_buffer_drained,
    database_reset,
    flusher_start,
    free_port,
    gunicorn_start,
    gunicorn_stop,
    gunicorn_wait_healthy,
    log_tail,
    manage,
    redis_flush,
    row_count,
    seed,
)
from bench.wrk import (
    CLICK,
    CONVERT,
    PAIRS,
    POSTBACK,
    Target,
    markdown_table,
    workload_summary,
    wrk_ensure,
    wrk_run,
)

# Rows each candidate writes, to check that every answered request stored its row.
WRITES = {
    CLICK.name: "referrals_click",
    CONVERT.name: "conversions_conversion",
    POSTBACK.name: "conversions_conversion",
}

WRITTEN = {CLICK.name: "clicks", CONVERT.name: "conversions", POSTBACK.name: "postback conversions"}


def measure(target: Target, *, duration: float, warmup: float, rounds: int) -> tuple[list[dict], dict]:
    rows: list[dict] = []
    writes: dict = {}
    for baseline, candidate in PAIRS:
        for workload in (baseline, candidate):
            print(f"warm-up {workload.name} ({warmup:g} s)", flush=True)
            wrk_run(target, workload, warmup, "warmup")
        runs: dict[str, list[dict]] = {baseline.name: [], candidate.name: []}
        stored = {"answered": 0, "rows_added": 0}
        for number in range(1, rounds + 1):
            for workload in (baseline, candidate):
                table = WRITES.get(workload.name)
                if table:
                    click_buffer_drained()  # the warm-up's or last round's clicks are counted before, not in, this run
                before = row_count(table) if table else 0
                if workload is CLICK:
                    with BufferLagSampler() as lag:
                        run = wrk_run(target, workload, duration, f"round{number}")
                    run["buffer_lag_max_s"] = round(max(lag.samples, default=0.0), 3)
                else:
                    run = wrk_run(target, workload, duration, f"round{number}")
                runs[workload.name].append(run)
                if table:
                    # Requests still in flight when wrk stops are finished by gunicorn, not counted by wrk.
                    time.sleep(1)
                    click_buffer_drained()
                    stored["answered"] += run["requests"] - run["non_2xx_3xx"]
                    stored["rows_added"] += row_count(table) - before
                print(
                    f"round {number}/{rounds} {workload.name:12} {run['req_per_s']:9,.0f} req/s  "
                    f"p50 {run['p50_ms']:7.2f} ms  p99 {run['p99_ms']:7.2f} ms  errors {run['errors']}",
                    flush=True,
                )
        baseline_row = workload_summary(baseline, runs[baseline.name], None)
        rows += [baseline_row, workload_summary(candidate, runs[candidate.name], baseline_row)]
        table = WRITES[candidate.name]
        # wrk does not count a request it stopped waiting for, so rows may exceed answers by up to
        # the number of connections; fewer rows than answers means writes were lost.
        writes[candidate.name] = {
            "table": table,
            **stored,
            "lost": max(0, stored["answered"] - stored["rows_added"]),
            "unanswered_but_stored": max(0, stored["rows_added"] - stored["answered"]),
        }
    return rows, writes


# (size in `make bench`, size in `make bench-full`). The quick sizes keep `make bench` to a few
# minutes; W5's target is for 100k rows, so the quick run's time is scaled linearly to 100k
# (the import is a per-row loop over batches: linear in the rows) and says so. W4 runs on
# bench/datagen.py's skewed data set (500 offers, 2,000 partners, 30 days); full is the size.
SIZES = {
    "quick": {
        "w1b_clicks": 20_000,
        "w3_conversions": 3000,
        "w4_clicks": 1_000_000,
        "w4_conversions": 50_000,
        "w4_runs": 10,
        "w5_rows": 20_000,
    },
    "full": {
        "w1b_clicks": 100_000,
        "w3_conversions": 20_000,
        "w4_clicks": 10_000_000,
        "w4_conversions": 500_000,
        "w4_runs": 15,
        "w5_rows": 100_000,
    },
}

# The targets of issue 8.
P99_TARGETS_MS = {"click": 6, "convert": 15, "postback": 15}

TARGETS = {
    "click": ("ratio >= 0.65 of noop-django", lambda row: row["ratio_req_per_s_paired"], ">=", 0.65),
    "convert": ("ratio >= 0.50 of noop-drf", lambda row: row["ratio_req_per_s_paired"], ">=", 0.50),
    "postback": ("ratio >= 0.50 of noop-drf-get", lambda row: row["ratio_req_per_s_paired"], ">=", 0.50),
}


def script_result(script: str, *args: str) -> dict:
    """Run a bench script on the bench database; its last line that parses as JSON is its result."""
    print(f"{script} {' '.join(args)} ...", flush=True)
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, script, *args], cwd=ROOT, env=bench_env(), capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise BenchError(f"{script} failed ({result.returncode}):\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    for line in reversed(result.stdout.splitlines()):
        if line.startswith("{"):
            found = json.loads(line)
            found["wall_s"] = round(time.monotonic() - started, 1)
            return found
    raise BenchError(f"{script} printed no JSON result:\n{result.stdout[-3000:]}")


def batch_workloads(size: str) -> list[dict]:
    """W3 (processing rate), W5 (CSV import), W4 (report pages), as table rows with target and verdict."""
    sizes = SIZES[size]
    w1b = script_result("bench/w1b_flush.py", "--clicks", str(sizes["w1b_clicks"]), "--rounds", "3")
    redis_flush()
    # W3 first: its worker sweeps every pending conversion, so it runs before anything else leaves some.
    w3 = script_result("bench/w3_processing.py", "--conversions", str(sizes["w3_conversions"]), "--mode", "batch")
    redis_flush()  # W5 leaves its processing jobs queued; nothing runs them
    w5 = script_result("bench/w5_csv_import.py", "--rows", str(sizes["w5_rows"]))
    redis_flush()
    w4 = script_result(
        "bench/w4_reports.py",
        "--clicks",
        str(sizes["w4_clicks"]),
        "--conversions",
        str(sizes["w4_conversions"]),
        "--runs",
        str(sizes["w4_runs"]),
    )
    w5_for_100k = w5["seconds"] * 100_000 / w5["rows"]
    w4_slowest = max(w4["per_page"], key=lambda page: w4["per_page"][page]["p95_ms"])
    rows = [
        {
            "workload": "W1b click flush",
            "detail": f"{w1b['clicks']:,} clicks, {w1b['flush_rows_per_s']:,} vs {w1b['raw_copy_rows_per_s']:,} rows/s",
            "figure": w1b["ratio"],
            "unit": "of a raw COPY",
            "target": ">= 0.8 of a raw COPY",
            "pass": w1b["ratio"] >= 0.8,
            "raw": w1b,
        },
        {
            "workload": "W3 processing",
            "detail": f"{w3['conversions']:,} conversions, 1 RQ worker, batch sweeper",
            "figure": w3["conversions_per_second_per_worker"],
            "unit": "conversions/s",
            "target": ">= 3000/s",
            "pass": w3["conversions_per_second_per_worker"] >= 3000,
            "raw": w3,
        },
        {
            "workload": "W4 reports",
            # Every page must meet it: the p95 over all requests would hide one slow page among 24.
            "detail": f"{w4['clicks']:,} clicks, {w4['conversions']:,} conversions, {w4['pages']} pages "
            f"(a heavy and a typical partner); slowest {w4_slowest}, all requests p95 {w4['p95_ms']:.1f} ms",
            "figure": w4["per_page"][w4_slowest]["p95_ms"],
            "unit": "ms p95, slowest page",
            "target": "p95 <= 50 ms",
            "pass": w4["per_page"][w4_slowest]["p95_ms"] <= 50,
            "raw": w4,
        },
        {
            "workload": "W5 CSV import",
            "detail": f"{w5['rows']:,} rows"
            + ("" if w5["rows"] == 100_000 else f" ({w5['seconds']:.2f} s), scaled to 100k"),
            "figure": round(w5_for_100k, 2),
            "unit": "s for 100k rows",
            "target": "<= 3 s",
            "pass": w5_for_100k <= 3,
            "raw": w5,
        },
    ]
    return rows


def verdict_rows(rows: list[dict], batch: list[dict]) -> list[dict]:
    """Every workload with a target: its figure, the target, pass or miss."""
    verdicts = []
    for row in rows:
        if row["workload"] not in TARGETS:
            continue
        label, figure, _, threshold = TARGETS[row["workload"]]
        value = figure(row)
        name = f"W{1 if row['workload'] == 'click' else 2} {row['workload']}"
        verdicts.append(
            {
                "workload": name,
                "detail": f"{row['req_per_s']:,.0f} req/s vs {row['baseline']}",
                "figure": value,
                "unit": f"of {row['baseline']}",
                "target": label,
                "pass": value is not None and value >= threshold,
            }
        )
        p99_limit = P99_TARGETS_MS[row["workload"]]
        verdicts.append(
            {
                "workload": f"{name} p99",
                "detail": "the median of the rounds' p99",
                "figure": row["p99_ms"],
                "unit": "ms",
                "target": f"p99 <= {p99_limit} ms",
                "pass": row["p99_ms"] <= p99_limit,
            }
        )
        if row["workload"] == CLICK.name:
            lag = max(run.get("buffer_lag_max_s", 0.0) for run in row["runs"])
            verdicts.append(
                {
                    "workload": "W1b buffer lag",
                    "detail": "the oldest buffered click's age, sampled every 0.1 s during the click rounds",
                    "figure": lag,
                    "unit": "s max",
                    "target": "<= 2 s at the W1 rate",
                    "pass": lag <= 2,
                }
            )
    return verdicts + batch


def verdict_table(verdicts: list[dict]) -> str:
    lines = ["| workload | figure | target | verdict | detail |", "| --- | ---: | --- | --- | --- |"]
    for row in verdicts:
        figure = "n/a" if row["figure"] is None else f"{row['figure']:,.2f} {row['unit']}"
        verdict = "pass" if row["pass"] else "MISS"
        lines.append(f"| {row['workload']} | {figure} | {row['target']} | {verdict} | {row['detail']} |")
    return "\n".join(lines)


def git_commit() -> dict:
    def git(*args: str) -> str:
        result = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return result.stdout.strip()

    return {"commit": git("rev-parse", "HEAD") or None, "dirty": bool(git("status", "--porcelain"))}


def machine() -> dict:
    # `wrk --version` prints its banner and exits 1.
    wrk_version = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    banner = (wrk_version.stdout or wrk_version.stderr).strip()
    return {
        "nproc": os.cpu_count(),
        "uname": " ".join(platform.uname()),
        "python": platform.python_version(),
        "wrk": banner.splitlines()[0] if banner else None,
    }


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
    print(f"resetting database {BENCH_DATABASE} and Redis db 14 ...", flush=True)
    database_reset()
    redis_flush()
    manage("migrate", "--noinput", "--verbosity=0")
    seeded = seed()
    batch = [] if args.skip_batch else batch_workloads(args.size)
    redis_flush()
    port = free_port()
    log_path = json_out.with_suffix(".gunicorn.log")
    process = gunicorn_start(port, log_path, args.workers)
    flusher = flusher_start(log_path.with_suffix(".flusher.log"))
    # SIGTERM (a CI timeout, `kill`) should stop gunicorn as Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    with tempfile.NamedTemporaryFile("w", prefix="bench-clicks-", suffix=".txt") as clicks_file:
        clicks_file.write("\n".join(seeded["click_ids"]) + "\n")
        clicks_file.flush()
        try:
            try:
                gunicorn_wait_healthy(process, port)
            except BenchError as error:
                raise BenchError(f"{error}; the end of {log_path}:\n{log_tail(log_path)}") from None
            print(f"gunicorn on 127.0.0.1:{port}, {args.workers} sync workers; {args.duration:g} s a run", flush=True)
            target = Target(
                wrk=wrk,
                port=port,
                link_code=seeded["link_code"],
                api_key=seeded["api_key"],
                postback_token=seeded["postback_token"],
                clicks_file=clicks_file.name,
                threads=args.threads,
                connections=args.connections,
            )
            rows, writes = measure(target, duration=args.duration, warmup=args.warmup, rounds=args.rounds)
        finally:
            gunicorn_stop(process)
            gunicorn_stop(flusher)  # SIGTERM: it finishes its batch and exits

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
    try:
        sys.exit(main())
    except BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        sys.exit(2)
    except subprocess.CalledProcessError as error:
        print(f"bench: {' '.join(map(str, error.cmd))} failed with status {error.returncode}", file=sys.stderr)
        if error.stderr:
            print(error.stderr, file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        sys.exit(130)
