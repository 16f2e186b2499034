"""Several nodes together under a fixed-rate soak, with faults (issue 13): `make cluster`, or
`python bench/cluster.py --duration 180`.

On loopback ports from --port-base (default 17600), with data in /tmp/cluster-*: a PostgreSQL primary and its
streaming replica, a Redis master and replica under three Sentinels, two gunicorn web nodes behind HAProxy, two
RQ workers, an active and a standby click flusher, the scheduler (and the intake writer, where the code has one).
Clicks, conversions, postbacks and report reads go through HAProxy at fixed rates for --duration seconds while
web1, the active flusher, a worker and the Redis master are killed in turn. Once everything has drained, SQL on
the primary checks that every 302 and every 202/200 is stored exactly once, every conversion was processed once
and the ledger balances. Exit 0 only with nothing lost, nothing doubled and every check at 0.
"""

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg
from redis import Redis

from bench.cluster_checks import error_statuses, invariant_violations, soak_passed, soak_rows, soak_table
from bench.cluster_faults import Faults
from bench.cluster_nodes import Nodes, code_mentions, command_exists
from bench.cluster_stores import Postgres, RedisGroup
from bench.provenance import git_commit
from bench.servers import RESULTS_DIR, main_exit, manage, python_output, shell
from tests.reliability.traffic import Answer, FixedRate, Stream

SEEDED_CLICKS = 500
ADVERTISER = "from referrals.models import Advertiser; print(Advertiser.objects.get().pk)"
# The publisher's session, for the dashboard reads.
SESSION = (
    "from django.contrib.auth import get_user_model; from django.test import Client; client = Client(); "
    "client.force_login(get_user_model().objects.get(username='bench-partner')); "
    "print(client.cookies['sessionid'].value)"
)


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=180, help="seconds of soak (default 180)")
    parser.add_argument("--click-rate", type=float, default=40, help="clicks per second (default 40)")
    parser.add_argument("--convert-rate", type=float, default=8, help="POST /v1/convert per second (default 8)")
    parser.add_argument("--postback-rate", type=float, default=4, help="GET /v1/postback per second (default 4)")
    parser.add_argument("--read-rate", type=float, default=2, help="GET /v1/conversions per second (default 2)")
    parser.add_argument("--dashboard-rate", type=float, default=1, help="GET /dashboard/ per second (default 1)")
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn workers per web node (default 2)")
    parser.add_argument("--port-base", type=int, default=17600, help="the run's ports are base+1 .. base+40")
    parser.add_argument(
        "--redis-fault",
        choices=["kill", "failover", "none"],
        default="kill",
        help="SIGKILL the Redis master (default), ask the Sentinels for a failover, or leave Redis alone",
    )
    parser.add_argument("--no-redis-failover", action="store_true", help="the same as --redis-fault none")
    parser.add_argument("--drain-timeout", type=int, default=300, help="seconds to wait for the backlog to drain")
    args = parser.parse_args()
    if args.no_redis_failover:
        args.redis_fault = "none"
    return args


def senders(args, stream: Stream, seeded: dict, session: str, clicks: Callable[[], list[Answer]], nonce: str):
    """Each endpoint's rate and how it sends request n. Postbacks name a seeded click or, every other one, the
    newest acknowledged click, which may still be in the buffer (attribution then writes it at once)."""

    def recent_click(number: int) -> str:
        if number % 2:
            for answer in reversed(clicks()[-20:]):
                if answer.status == 302 and answer.key:
                    return answer.key
        return seeded["click_ids"][number % len(seeded["click_ids"])]

    def read(path: str, headers: dict) -> Callable[[int], Answer]:
        return lambda number: stream.request_send("GET", path, "-", None, headers)

    token = seeded["postback_token"]
    advertiser = {"Authorization": f"Bearer {seeded['api_key']}"}
    return {
        "click": (args.click_rate, lambda n: stream.click_send()),
        "convert": (args.convert_rate, lambda n: stream.conversion_send(f"{nonce}-convert-{n}")),
        "postback": (args.postback_rate, lambda n: stream.postback_send(token, f"{nonce}-pb-{n}", recent_click(n))),
        "read api": (args.read_rate, read("/v1/conversions?page_size=20", advertiser)),
        "dashboard": (args.dashboard_rate, read("/dashboard/", {"Cookie": f"sessionid={session}"})),
    }  # fmt: skip


def backlog(postgres: Postgres, redis: RedisGroup, advertiser_id: int) -> dict[str, int]:
    """What is still on its way: buffered clicks, queued jobs, pending conversions, and the stored rows."""
    master = redis.master()
    intake = Redis.from_url(redis.intake_url, socket_timeout=5) if redis.intake_url else None
    with psycopg.connect(postgres.url(), autocommit=True) as connection:
        pending, conversions = connection.execute(
            "SELECT count(*) FILTER (WHERE status = 'pending'), count(*) FROM conversions_conversion "
            "WHERE advertiser_id = %s",
            [advertiser_id],
        ).fetchone()
        clicks = connection.execute("SELECT count(*) FROM referrals_click").fetchone()[0]
    return {
        "buffered clicks": master.llen("clickbuf:queue") + master.llen("clickbuf:processing"),
        "queued jobs": master.llen("rq:queue:default"),
        "logged conversions": intake.llen("intake:queue") + intake.llen("intake:processing") if intake else 0,
        "pending": pending,
        "conversions": conversions,
        "clicks": clicks,
    }


def drain(postgres: Postgres, redis: RedisGroup, advertiser_id: int, timeout: float) -> dict[str, int]:
    """Until nothing is on its way and the stored counts hold still for three looks in a row, or `timeout`."""
    deadline = time.monotonic() + timeout
    previous, steady = None, 0
    while time.monotonic() < deadline:
        try:
            now = backlog(postgres, redis, advertiser_id)
        except Exception as error:  # a store still recovering: look again
            print(f"  drain: {error.__class__.__name__}: {error}", flush=True)
            time.sleep(2)
            continue
        idle = not (now["buffered clicks"] or now["queued jobs"] or now["logged conversions"] or now["pending"])
        steady = steady + 1 if idle and now == previous else 0
        if steady >= 3:
            return now
        previous = now
        time.sleep(2)
    print(f"  drain: not drained within {timeout:.0f} s: {previous}", flush=True)
    return previous or {}


def soak(args, nodes: Nodes, postgres: Postgres, redis: RedisGroup, logs: Path) -> int:
    env = nodes.env()
    manage("migrate", "--noinput", "--verbosity=0", env=env)
    seeded = json.loads(python_output("-m", "bench.seed", "--clicks", str(SEEDED_CLICKS), env=env))
    advertiser_id = int(shell(ADVERTISER, env=env))
    session = shell(SESSION, env=env)
    nodes.start()
    print(f"cluster up: HAProxy on 127.0.0.1:{nodes.ports['haproxy']}, logs in {logs}", flush=True)
    stream = Stream(
        port=nodes.ports["haproxy"],
        api_key=seeded["api_key"],
        link_code=seeded["link_code"],
        cookie_name=f"atc_{seeded['offer']}",
        referral_code="BENCH",
        offer=seeded["offer"],
    )
    traffic = FixedRate(senders(args, stream, seeded, session, lambda: traffic.answers["click"], f"cl{time.time_ns()}"))
    faults = Faults(nodes, postgres, redis, args.duration, args.redis_fault)
    print(f"soak: {args.duration} s; faults on a schedule:", flush=True)
    replica_before = postgres.transactions("replica")
    traffic.start()
    faults.start()
    began = time.monotonic()
    while time.monotonic() - began < args.duration:
        time.sleep(min(15, max(0.1, args.duration - (time.monotonic() - began))))
        sent = ", ".join(f"{name} {len(answers)}" for name, answers in traffic.answers.items())
        print(f"  t={time.monotonic() - began:>6.1f} s  sent: {sent}", flush=True)
    traffic.stop()
    faults.stop()
    print("soak over; draining the click buffer, the queue and the pending conversions", flush=True)
    drained = drain(postgres, redis, advertiser_id, args.drain_timeout)
    with psycopg.connect(postgres.url(), autocommit=True) as connection:
        rates = {name: rate for name, (rate, _) in traffic.senders.items()}
        rows = soak_rows(connection, advertiser_id, traffic.answers, rates, args.duration)
        violations = invariant_violations(connection, advertiser_id)
    print("\n" + soak_table(rows) + "\n")
    errors = error_statuses(traffic.answers)
    for name, statuses in errors.items():
        for status, seen in statuses.items():
            print(f"{name} errors: {seen['count']} x {status or 'no answer'}, the first: {seen['first'][:200]!r}")
    for name, count in violations.items():
        print(f"{name}: {count}")
    replica_reads = postgres.transactions("replica") - replica_before
    lag = postgres.replica_lag_bytes()
    print(f"replica: {replica_reads} transactions during the soak and drain; {lag} bytes of WAL behind after it")
    for problem in faults.errors:
        print(f"fault problem: {problem}")
    passed = soak_passed(rows, violations) and not faults.errors
    report = {
        **git_commit(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "nproc": os.cpu_count(),
        "duration_s": args.duration,
        "redis_fault": args.redis_fault,
        "code": {
            "replica router (DATABASE_REPLICA_URL)": code_mentions("DATABASE_REPLICA_URL"),
            "sentinel (REDIS_SENTINELS)": code_mentions("REDIS_SENTINELS"),
            "intake writer (write_conversions)": command_exists("write_conversions"),
        },
        "rows": rows,
        "events": [vars(event) for event in faults.events],
        "fault_problems": faults.errors,
        "errors_by_status": errors,
        "violations": violations,
        "after_drain": drained,
        "replica_transactions": replica_reads,
        "replica_lag_bytes_after_drain": lag,
        "passed": passed,
    }
    out = RESULTS_DIR / f"{logs.name}.json"
    out.write_text(json.dumps(report, indent=2))
    print(f"{'PASS' if passed else 'FAIL'}: 0 lost, 0 doubled and every check at 0 is a pass. JSON: {out}")
    return 0 if passed else 1


def main() -> int:
    args = arguments()
    if args.redis_fault != "none" and not code_mentions("REDIS_SENTINELS"):
        print("warning: this code does not read REDIS_SENTINELS: it cannot follow a failover (--no-redis-failover)")
    base = args.port_base
    logs = RESULTS_DIR / f"cluster-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    logs.mkdir(parents=True, exist_ok=True)
    postgres = Postgres(base + 1, base + 2, logs)
    redis = RedisGroup(base, logs, intake=command_exists("write_conversions"))
    ports = {"web1": base + 30, "web2": base + 31, "haproxy": base + 40}
    nodes = Nodes(postgres, redis, logs, ports=ports, web_workers=args.web_workers)
    try:
        postgres.start()
        redis.start()
        print(f"stores up: PostgreSQL {postgres.ports}, Redis {redis.server_ports}, Sentinels {redis.sentinel_ports}")
        return soak(args, nodes, postgres, redis, logs)
    finally:
        nodes.stop()
        redis.stop()
        postgres.stop()


if __name__ == "__main__":
    main_exit(main, "cluster", durable=False)
