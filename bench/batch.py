"""W1b, W3, W5 and W4: each a script in a process of its own on the bench database, its JSON line a verdict row."""

import json
import subprocess
import sys
import time

from bench.servers import ROOT, BenchError, bench_env, redis_flush
from bench.verdicts import verdict

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


def script_result(script: str, **options) -> dict:
    """Run a bench script with `--option value`s on the bench database; its last line that parses as JSON."""
    args = [part for name, value in options.items() for part in (f"--{name}", str(value))]
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
    """W1b (click flush), W3 (processing rate), W4 (report pages), W5 (CSV import), as verdict rows."""
    sizes = SIZES[size]
    w1b = script_result("bench/w1b_flush.py", clicks=sizes["w1b_clicks"], rounds=3)
    redis_flush()
    # W3 first: its worker sweeps every pending conversion, so it runs before anything else leaves some.
    w3 = script_result("bench/w3_processing.py", conversions=sizes["w3_conversions"], mode="batch")
    redis_flush()  # W5 leaves its processing jobs queued; nothing runs them
    w5 = script_result("bench/w5_csv_import.py", rows=sizes["w5_rows"])
    redis_flush()
    w4 = script_result(
        "bench/w4_reports.py", clicks=sizes["w4_clicks"], conversions=sizes["w4_conversions"], runs=sizes["w4_runs"]
    )
    w3_rate = w3["conversions_per_second_per_worker"]
    w4_slowest = max(w4["per_page"], key=lambda page: w4["per_page"][page]["p95_ms"])
    w4_p95 = w4["per_page"][w4_slowest]["p95_ms"]
    w5_for_100k = w5["seconds"] * 100_000 / w5["rows"]
    return [
        verdict(
            "W1b click flush",
            f"{w1b['clicks']:,} clicks, {w1b['flush_rows_per_s']:,} vs {w1b['raw_copy_rows_per_s']:,} rows/s",
            w1b["ratio"],
            "of a raw COPY",
            ">= 0.8 of a raw COPY",
            w1b["ratio"] >= 0.8,
            raw=w1b,
        ),
        verdict(
            "W3 processing",
            f"{w3['conversions']:,} conversions, 1 RQ worker, batch sweeper",
            w3_rate,
            "conversions/s",
            ">= 3000/s",
            w3_rate >= 3000,
            raw=w3,
        ),
        # Every page must meet it: the p95 over all requests would hide one slow page among 24.
        verdict(
            "W4 reports",
            f"{w4['clicks']:,} clicks, {w4['conversions']:,} conversions, {w4['pages']} pages (a heavy and a "
            f"typical partner); slowest {w4_slowest}, all requests p95 {w4['p95_ms']:.1f} ms",
            w4_p95,
            "ms p95, slowest page",
            "p95 <= 50 ms",
            w4_p95 <= 50,
            raw=w4,
        ),
        verdict(
            "W5 CSV import",
            f"{w5['rows']:,} rows" + ("" if w5["rows"] == 100_000 else f" ({w5['seconds']:.2f} s), scaled to 100k"),
            round(w5_for_100k, 2),
            "s for 100k rows",
            "<= 3 s",
            w5_for_100k <= 3,
            raw=w5,
        ),
    ]
