"""wrk and what it measures: the workloads, one run and its parsed output, the rounds and their summary."""

import json
import os
import shutil
import statistics
import subprocess
import time
from dataclasses import dataclass

from bench.servers import RESULT_MARKER, ROOT, BenchError, BufferLagSampler, buffers_drained, row_count


@dataclass(frozen=True)
class Workload:
    name: str
    method: str
    path: str
    script: str = "bench/report.lua"


NOOP_DJANGO = Workload("noop-django", "GET", "/bench/noop")
CLICK = Workload("click", "GET", "/c/{link_code}?sub1=x")
NOOP_DRF = Workload("noop-drf", "POST", "/bench/noop-drf", script="bench/json_post.lua")
CONVERT = Workload("convert", "POST", "/v1/convert", script="bench/convert.lua")
NOOP_DRF_GET = Workload("noop-drf-get", "GET", "/bench/noop-drf")

# The soak's postback script with no pause: a new conversion each request, by query parameters.
POSTBACK = Workload("postback", "GET", "/v1/postback", script="bench/soak_postback.lua")

# (baseline, candidate): a GET that writes a click against Django's floor, a JSON POST against DRF's,
# a server-to-server GET postback against DRF's GET.
PAIRS = [(NOOP_DJANGO, CLICK), (NOOP_DRF, CONVERT), (NOOP_DRF_GET, POSTBACK)]

# Rows each candidate writes, to check that every answered request stored its row.
WRITES = {
    CLICK.name: "referrals_click",
    CONVERT.name: "conversions_conversion",
    POSTBACK.name: "conversions_conversion",
}


def parse_wrk_output(stdout: str) -> dict:
    """The numbers from the JSON line that bench/report.lua's done() hook prints, with req/s and error totals."""
    for line in stdout.splitlines():
        if line.startswith(RESULT_MARKER):
            raw = json.loads(line[len(RESULT_MARKER) :])
            break
    else:
        raise BenchError(f"wrk printed no {RESULT_MARKER.strip()} line; its output was:\n{stdout}")
    errors = raw["errors"]
    seconds = raw["duration_us"] / 1_000_000
    return {
        "requests": raw["requests"],
        "duration_s": round(seconds, 3),
        "req_per_s": round(raw["requests"] / seconds, 1) if seconds else 0.0,
        "p50_ms": raw["latency_us"]["p50"] / 1000,
        "p90_ms": raw["latency_us"]["p90"] / 1000,
        "p99_ms": raw["latency_us"]["p99"] / 1000,
        "mean_ms": round(raw["latency_us"]["mean"] / 1000, 3),
        "max_ms": raw["latency_us"]["max"] / 1000,
        # wrk counts answers with a status above 399 as "status" errors: our non-2xx/3xx count.
        "non_2xx_3xx": errors["status"],
        "socket_errors": {name: errors[name] for name in ("connect", "read", "write", "timeout")},
        "errors": sum(errors.values()),
    }


def workload_summary(workload: Workload, runs: list[dict], baseline: dict | None) -> dict:
    """One table row: the median of each number over the rounds, errors summed over all of them."""
    row = {
        "workload": workload.name,
        "request": f"{workload.method} {workload.path.replace('{link_code}', '<code>')}",
        "baseline": baseline["workload"] if baseline else None,
        "req_per_s": round(statistics.median(run["req_per_s"] for run in runs), 1),
        # The spread says how far to trust the median: other work on the machine shows up here first.
        "req_per_s_min": min(run["req_per_s"] for run in runs),
        "req_per_s_max": max(run["req_per_s"] for run in runs),
        "p50_ms": round(statistics.median(run["p50_ms"] for run in runs), 3),
        "p99_ms": round(statistics.median(run["p99_ms"] for run in runs), 3),
        "requests": sum(run["requests"] for run in runs),
        "errors": sum(run["errors"] for run in runs),
        "non_2xx_3xx": sum(run["non_2xx_3xx"] for run in runs),
        "runs": runs,
    }
    reference = baseline or row
    row["ratio_req_per_s"] = round(row["req_per_s"] / reference["req_per_s"], 3) if reference["req_per_s"] else None
    # Each round's candidate ran right after its baseline, so the median of the per-round ratios
    # cancels a machine that slows down or speeds up during the run; the table shows this one.
    pairs = list(zip(runs, reference["runs"], strict=True))
    row["ratio_req_per_s_paired"] = (
        round(statistics.median(run["req_per_s"] / base["req_per_s"] for run, base in pairs), 3)
        if all(base["req_per_s"] for _, base in pairs)
        else None
    )
    row["ratio_p50"] = round(row["p50_ms"] / reference["p50_ms"], 3) if reference["p50_ms"] else None
    row["ratio_p99"] = round(row["p99_ms"] / reference["p99_ms"], 3) if reference["p99_ms"] else None
    return row


def markdown_table(rows: list[dict]) -> str:
    lines = [
        "| workload | req/s | p50 ms | p99 ms | errors | ratio to baseline |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for row in rows:
        if not row["baseline"]:
            ratio = "1.00 (baseline)"
        elif row["ratio_req_per_s_paired"] is None:
            ratio = f"n/a ({row['baseline']} answered nothing)"
        else:
            ratio = f"{row['ratio_req_per_s_paired']:.2f} of {row['baseline']}"
        lines.append(
            f"| {row['workload']} `{row['request']}` | {row['req_per_s']:,.0f} | {row['p50_ms']:.2f} "
            f"| {row['p99_ms']:.2f} | {row['errors']} | {ratio} |"
        )
    return "\n".join(lines)


def wrk_ensure() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk is not installed; installing it from Debian (apt-get install -y wrk) ...", flush=True)
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    for command in (["apt-get", "install", "-y", "wrk"], ["apt-get", "update"], ["apt-get", "install", "-y", "wrk"]):
        try:
            subprocess.run([*sudo, *command], check=False, stdout=subprocess.DEVNULL)
        except FileNotFoundError:
            break
        found = shutil.which("wrk")
        if found:
            return found
    raise BenchError(
        "wrk is needed and could not be installed. Install it yourself (Debian/Ubuntu: `apt-get install wrk`, "
        "macOS: `brew install wrk`) and run `make bench` again."
    )


@dataclass
class Target:
    wrk: str
    port: int
    link_code: str
    api_key: str
    postback_token: str
    clicks_file: str
    threads: int
    connections: int


def wrk_measure(
    binary: str, url: str, script: str, args: list[str], *, threads: int, connections: int, duration: float, label: str
) -> dict:
    """One wrk run with one of the bench's Lua scripts (their arguments after `--`), parsed."""
    options = f"--threads={threads} --connections={connections} --duration={duration:g}s --timeout=10s --latency"
    command = [binary, *options.split(), f"--script={script}", url, *(["--", *args] if args else [])]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BenchError(f"wrk failed ({result.returncode}) on {label}:\n{result.stdout}{result.stderr}")
    return parse_wrk_output(result.stdout)


def wrk_run(target: Target, workload: Workload, duration: float, run_label: str) -> dict:
    args = []
    if workload is CONVERT:
        # A fresh nonce each run keeps external ids unique across rounds and the warm-up.
        args = [target.clicks_file, target.api_key, f"{run_label}-{time.time_ns()}"]
    elif workload is POSTBACK:
        args = [target.clicks_file, target.postback_token, f"pb{run_label}-{time.time_ns()}", "0"]
    return wrk_measure(
        target.wrk,
        f"http://127.0.0.1:{target.port}{workload.path.format(link_code=target.link_code)}",
        workload.script,
        args,
        threads=target.threads,
        connections=target.connections,
        duration=duration,
        label=workload.name,
    )


def measure(target: Target, *, duration: float, warmup: float, rounds: int) -> tuple[list[dict], dict]:
    """Each pair warmed up, then its baseline and candidate in turn for `rounds` rounds: the table rows, and per
    candidate how many of its answers stored their row."""
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
                    buffers_drained()  # the warm-up's or last round's clicks are counted before, not in, this run
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
                    buffers_drained()
                    stored["answered"] += run["requests"] - run["non_2xx_3xx"]
                    stored["rows_added"] += row_count(table) - before
                print(
                    f"round {number}/{rounds} {workload.name:12} {run['req_per_s']:9,.0f} req/s  "
                    f"p50 {run['p50_ms']:7.2f} ms  p99 {run['p99_ms']:7.2f} ms  errors {run['errors']}",
                    flush=True,
                )
        baseline_row = workload_summary(baseline, runs[baseline.name], None)
        rows += [baseline_row, workload_summary(candidate, runs[candidate.name], baseline_row)]
        # wrk does not count a request it stopped waiting for, so rows may exceed answers by up to
        # the number of connections; fewer rows than answers means writes were lost.
        writes[candidate.name] = {
            "table": WRITES[candidate.name],
            **stored,
            "lost": max(0, stored["answered"] - stored["rows_added"]),
            "unanswered_but_stored": max(0, stored["rows_added"] - stored["answered"]),
        }
    return rows, writes
