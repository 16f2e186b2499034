"""bench/cluster.py's faults, on a schedule through the soak: a web node, the active click flusher, a worker and the
Redis master, each killed as a crash would (SIGKILL), or Redis failed over by `SENTINEL FAILOVER`."""

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg
import redis

from bench.cluster_nodes import Nodes
from bench.cluster_stores import SENTINEL_MASTER, Postgres, RedisGroup

# When each fault comes, as a share of the soak's duration.
SCHEDULE = (("web node", 0.15), ("click flusher", 0.35), ("worker", 0.55), ("redis", 0.75))


@dataclass
class Event:
    at_s: float
    fault: str
    detail: str


def busy_pick(postgres: Postgres, names: list[str], wait: float = 10.0) -> tuple[str, str]:
    """Which of `names` is at work: one caught inside a transaction within `wait` seconds (killed there, it
    leaves its batch half done), else the one whose last statement is the newest."""
    applications = [f"cluster-{name}" for name in names]
    deadline = time.monotonic() + wait
    with psycopg.connect(postgres.url(), autocommit=True) as connection:
        while time.monotonic() < deadline:
            row = connection.execute(
                "SELECT application_name FROM pg_stat_activity WHERE application_name = ANY(%s) "
                "AND state IN ('active', 'idle in transaction') ORDER BY xact_start LIMIT 1",
                [applications],
            ).fetchone()
            if row:
                return row[0].removeprefix("cluster-"), "caught inside a transaction"
            time.sleep(0.005)
        row = connection.execute(
            "SELECT application_name FROM pg_stat_activity WHERE application_name = ANY(%s) "
            "ORDER BY query_start DESC NULLS LAST LIMIT 1",
            [applications],
        ).fetchone()
    return (row[0].removeprefix("cluster-"), "the last to run a statement") if row else (names[0], "none seen at work")


@dataclass
class Faults:
    """Runs the schedule in a thread while the soak goes on; `events` says what was done and when."""

    nodes: Nodes
    postgres: Postgres
    redis: RedisGroup
    duration: float
    redis_fault: str  # kill, failover or none
    events: list[Event] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    started: float = 0.0

    def _note(self, fault: str, detail: str) -> None:
        event = Event(round(time.monotonic() - self.started, 1), fault, detail)
        self.events.append(event)
        print(f"  t={event.at_s:>6.1f} s  {fault}: {detail}", flush=True)

    def web_node(self) -> None:
        self.nodes.kill("web1")
        self._note("web node", "web1 (gunicorn and its workers) SIGKILLed; HAProxy's checks route around it")

    def click_flusher(self) -> None:
        candidates = [name for name in ("flusher1", "flusher2") if not self.nodes.nodes[name].killed]
        name, how = busy_pick(self.postgres, candidates)
        self.nodes.kill(name)
        self._note("click flusher", f"{name} SIGKILLed ({how}); the other takes clickbuf:lock when it expires")

    def worker(self) -> None:
        candidates = [name for name in ("worker1", "worker2") if not self.nodes.nodes[name].killed]
        name, how = busy_pick(self.postgres, candidates)
        self.nodes.kill(name)
        self._note("worker", f"{name} and its work horse SIGKILLed ({how})")

    def redis_master(self) -> None:
        old = self.redis.master_port()
        began = time.monotonic()
        if self.redis_fault == "failover":
            self.redis.sentinel().sentinels[0].execute_command("SENTINEL", "FAILOVER", SENTINEL_MASTER)
            what = f"SENTINEL FAILOVER from {old}"
        else:
            self.redis.kill(old)
            what = f"master {old} SIGKILLed"
        new = old
        while new == old and time.monotonic() - began < 60:
            time.sleep(0.2)
            try:
                new = self.redis.master_port()
            except redis.RedisError:
                continue
        if new == old:
            self.errors.append("the Sentinels promoted no replica within 60 s")
            self._note("redis", f"{what}; no replica promoted within 60 s")
            return
        took = time.monotonic() - began
        if self.redis_fault != "failover":
            time.sleep(5)
            self.redis.server_restart(old, replica_of=new)
        self._note("redis", f"{what}; the Sentinels promoted {new} after {took:.1f} s; {old} is its replica again")

    def run(self) -> None:
        actions: dict[str, Callable[[], None]] = {
            "web node": self.web_node,
            "click flusher": self.click_flusher,
            "worker": self.worker,
            "redis": self.redis_master,
        }
        for fault, share in SCHEDULE:
            if fault == "redis" and self.redis_fault == "none":
                continue
            if self.stopping.wait(max(0.0, self.started + share * self.duration - time.monotonic())):
                return
            try:
                actions[fault]()
            except Exception as error:  # reported with the table: the run goes on to its checks
                self.errors.append(f"{fault}: {error.__class__.__name__}: {error}")

    def start(self) -> None:
        self.started = time.monotonic()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        if self.thread:
            self.thread.join()
