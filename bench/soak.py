"""A fixed-rate soak of the click and postback endpoints (issue 9): 0 errors, nothing lost, no queue backlog growth.

gunicorn (config/gunicorn.conf.py), the click flusher and one RQ worker run as in production; two wrk
processes keep a steady pace on `/c/<code>` and `/v1/postback` for `--duration` seconds (10 minutes
by default) while the queue length is sampled every 10 s. `make soak`; `make bench-full` runs it too.
"""

import argparse
import json
import statistics
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.provenance import git_commit, machine
from bench.servers import (
    REDIS_URL,
    RESULTS_DIR,
    app_serving,
    bench_reset,
    buffers_drained,
    clicks_file,
    main_exit,
    redis_flush,
    row_count,
    shell,
)
from bench.wrk import wrk_ensure, wrk_measure

TOKEN = (
    "from referrals.models import Advertiser; from referrals.services import postback_token_rotate; "
    "print(postback_token_rotate(advertiser=Advertiser.objects.get()))"
)
PENDING = "from conversions.models import Conversion; print(Conversion.objects.filter(status='pending').count())"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=600, help="seconds (default 600)")
    parser.add_argument("--click-rate", type=int, default=100, help="clicks per second (default 100)")
    parser.add_argument("--postback-rate", type=int, default=10, help="postbacks per second (default 10)")
    args = parser.parse_args()
    started = datetime.now(UTC)
    binary = wrk_ensure()
    seeded = bench_reset()
    token = shell(TOKEN)
    redis_flush()
    import redis

    queue = redis.Redis.from_url(REDIS_URL)
    samples: list[int] = []
    results: dict[str, dict] = {}
    log_path = RESULTS_DIR / f"soak-{started:%Y%m%dT%H%M%SZ}.log"
    with app_serving(log_path, 2, rq_worker=True) as port:
        with clicks_file(seeded["click_ids"]) as clicks:
            # Each connection pauses `delay` ms between requests: 4 connections at 40 ms is about 100/s.
            plans = {
                "click": (
                    f"http://127.0.0.1:{port}/c/{seeded['link_code']}?sub1=soak",
                    "bench/soak_click.lua",
                    [str(int(4000 / args.click_rate))],
                    4,
                ),
                "postback": (
                    f"http://127.0.0.1:{port}/v1/postback",
                    "bench/soak_postback.lua",
                    [clicks, token, f"soak{time.time_ns()}", str(int(2000 / args.postback_rate))],
                    2,
                ),
            }

            def soak(name: str, url: str, script: str, script_args: list[str], connections: int) -> None:
                results[name] = wrk_measure(
                    binary,
                    url,
                    script,
                    script_args,
                    threads=1,
                    connections=connections,
                    duration=args.duration,
                    label=url,
                )

            threads = [threading.Thread(target=soak, args=(name, *plan)) for name, plan in plans.items()]
            for thread in threads:
                thread.start()
            while any(thread.is_alive() for thread in threads):
                samples.append(queue.llen("rq:queue:default"))
                time.sleep(10)
            for thread in threads:
                thread.join()
        buffers_drained()
        deadline = time.monotonic() + 120
        while queue.llen("rq:queue:default") and time.monotonic() < deadline:
            time.sleep(1)
        backlog_after = queue.llen("rq:queue:default")

    answered = {name: result["requests"] for name, result in results.items()}
    errors = {name: result["errors"] for name, result in results.items()}
    clicks_stored = row_count("referrals_click") - len(seeded["click_ids"])
    conversions_stored = row_count("conversions_conversion")
    pending = int(shell(PENDING))
    minute = max(1, len(samples) // max(1, args.duration // 60))
    first, last = samples[:minute] or [0], samples[-minute:] or [0]
    report = {
        **git_commit(),
        "date": started.isoformat(timespec="seconds"),
        "machine": machine(),
        "duration_s": args.duration,
        "rates": {"click": args.click_rate, "postback": args.postback_rate},
        "requests": answered,
        "req_per_s": {name: result["req_per_s"] for name, result in results.items()},
        "p99_ms": {name: round(result["p99_ms"], 2) for name, result in results.items()},
        "errors": errors,
        # wrk does not count a request it stopped waiting for when time ran out, which the server may
        # still have answered and stored: more rows than answers is that, fewer is a loss.
        "clicks_lost": max(0, answered.get("click", 0) - clicks_stored),
        "postbacks_lost": max(0, answered.get("postback", 0) - conversions_stored),
        "stored_beyond_answered": {
            "click": max(0, clicks_stored - answered.get("click", 0)),
            "postback": max(0, conversions_stored - answered.get("postback", 0)),
        },
        "queue_samples": samples,
        "queue_first_minute": statistics.mean(first),
        "queue_last_minute": statistics.mean(last),
        "queue_after_drain": backlog_after,
        "pending_after_drain": pending,
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / f"soak-{started:%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(report, indent=2))
    print("| endpoint | req/s | p99 ms | errors |\n| --- | ---: | ---: | ---: |")
    for name in results:
        print(f"| {name} | {report['req_per_s'][name]} | {report['p99_ms'][name]} | {errors[name]} |")
    print(
        f"clicks lost: {report['clicks_lost']}; postbacks lost: {report['postbacks_lost']}; "
        f"queue length first minute {report['queue_first_minute']:.1f}, last minute "
        f"{report['queue_last_minute']:.1f}, after the load {backlog_after}; pending after drain: {pending}"
    )
    print(f"JSON: {out}")
    healthy = (
        not any(errors.values()) and report["clicks_lost"] == 0 and report["postbacks_lost"] == 0 and backlog_after == 0
    )
    return 0 if healthy else 1


if __name__ == "__main__":
    main_exit(main, "soak")
