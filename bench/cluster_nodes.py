"""bench/cluster.py's application processes: two gunicorn web nodes behind HAProxy, two RQ workers, an active and
a standby click flusher, the scheduler, and the conversion intake writer where the code has one.

Each process names itself to PostgreSQL (PGAPPNAME=cluster-<name>), so the faults can find which flusher or worker
is at work (pg_stat_activity) and kill that one.
"""

import shutil
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from bench.cluster_stores import SENTINEL_MASTER, Postgres, RedisGroup, port_free_check, port_wait
from bench.servers import ROOT, BenchError, gunicorn_wait_healthy, process_start, process_stop, process_tree_kill

SECRET_KEY = "cluster-only-insecure-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"


def command_exists(name: str) -> bool:
    """Whether this checkout has `manage.py name` (the intake writer arrives with its own branch)."""
    return any(ROOT.glob(f"*/management/commands/{name}.py"))


def code_mentions(setting: str) -> bool:
    """Whether the settings or the Redis connection read `setting`: the harness sets it either way, and says
    which faults the code can ride out."""
    return any(setting in path.read_text() for path in [*ROOT.glob("config/*.py"), *ROOT.glob("core/*.py")])


@dataclass
class Node:
    name: str
    process: subprocess.Popen
    log: Path
    killed: bool = False

    def alive(self) -> bool:
        return self.process.poll() is None


class Nodes:
    """The application's processes on the run's stores, each with its log in `logs`."""

    def __init__(self, postgres: Postgres, redis: RedisGroup, logs: Path, *, ports: dict[str, int], web_workers: int):
        self.postgres = postgres
        self.redis = redis
        self.logs = logs
        self.ports = ports  # web1, web2, haproxy
        self.web_workers = web_workers
        self.nodes: dict[str, Node] = {}
        self.haproxy: subprocess.Popen | None = None

    def env(self) -> dict[str, str]:
        """What every process of the cluster runs with: the replica and the Sentinels too (unused by code that
        does not read them yet), no throttle the soak would hit."""
        return {
            "DATABASE_URL": self.postgres.url("primary"),
            "DATABASE_REPLICA_URL": self.postgres.url("replica"),
            "REDIS_URL": self.redis.url,
            "REDIS_SENTINELS": self.redis.sentinels,
            "REDIS_SENTINEL_MASTER": SENTINEL_MASTER,
            "INTAKE_REDIS_URL": self.redis.intake_url or self.redis.url,
            "SECRET_KEY": SECRET_KEY,
            "DEBUG": "0",
            "LOG_FORMAT": "console",
            "CLICK_BUFFER": "1",
            "API_RATE_INGEST": "1000000/min",
            "API_RATE_READ": "1000000/min",
        }

    def _start(self, name: str, *args: str, **env: str) -> Node:
        log = self.logs / f"{name}.log"
        process = process_start(log, *args, **self.env(), PGAPPNAME=f"cluster-{name}", **env)
        node = self.nodes[name] = Node(name, process, log)
        return node

    def start(self) -> None:
        for name in ("web1", "web2"):
            port_free_check(self.ports[name])
            self._start(
                name,
                *("-m", "gunicorn", "-c", "config/gunicorn.conf.py", "--bind", f"127.0.0.1:{self.ports[name]}"),
                "config.wsgi:application",
                WEB_CONCURRENCY=str(self.web_workers),
            )
        for name in ("worker1", "worker2"):
            self._start(name, "manage.py", "run_worker", "default", "--with-scheduler")
        for name in ("flusher1", "flusher2"):  # one holds clickbuf:lock at a time: the other is the standby
            self._start(name, "manage.py", "flush_clicks", "--interval", "0.2")
        self._start("scheduler", "manage.py", "run_scheduler", "config.cron")
        if command_exists("write_conversions"):
            self._start("intake-writer", "manage.py", "write_conversions")
        for name in ("web1", "web2"):
            gunicorn_wait_healthy(self.nodes[name].process, self.ports[name], self.nodes[name].log, timeout=90)
        self.haproxy_start()

    def haproxy_config(self) -> str:
        """Round robin over the two nodes, each checked on /livez every second: down after 3 failures, a check
        given 5 s (on a loaded machine it waits behind the requests in gunicorn's backlog). A request whose node
        refused it or closed without an answer goes to the other: POST /v1/convert and the postback are
        idempotent by external id, so a retried one is stored once, and a retried click is a new click."""
        servers = "".join(f"    server {name} 127.0.0.1:{self.ports[name]} check\n" for name in ("web1", "web2"))
        # dontlog-normal: one log line per request that went wrong (a retry, a 5xx, a broken connection).
        return f"""global
    maxconn 2000
    log stdout format raw local0

defaults
    mode http
    log global
    option httplog
    option dontlog-normal
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout check 5s
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response

frontend cluster
    bind 127.0.0.1:{self.ports["haproxy"]}
    default_backend nodes

backend nodes
    balance roundrobin
    option httpchk GET /livez
    http-check expect status 200
    default-server inter 1s fall 3 rise 2
{servers}"""

    def haproxy_start(self) -> None:
        binary = shutil.which("haproxy") or "/usr/sbin/haproxy"
        if not Path(binary).exists():
            raise BenchError("haproxy is needed: .ci/install-cluster-packages.sh (apt-get install haproxy)")
        port_free_check(self.ports["haproxy"])
        config = self.logs / "haproxy.cfg"
        config.write_text(self.haproxy_config())
        with (self.logs / "haproxy.log").open("w") as log:
            self.haproxy = subprocess.Popen(
                [binary, "-f", str(config), "-db"], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        port_wait(self.ports["haproxy"])
        url = f"http://127.0.0.1:{self.ports['haproxy']}/healthz"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError):
                pass
            time.sleep(0.3)
        raise BenchError(f"HAProxy did not answer {url} within 30 s; see {self.logs / 'haproxy.log'}")

    def kill(self, name: str) -> None:
        """SIGKILL the process and its children (gunicorn's workers, RQ's work horse), as a crash would."""
        node = self.nodes[name]
        process_tree_kill(node.process)
        node.killed = True

    def stop(self) -> None:
        for node in self.nodes.values():
            if node.alive():
                process_stop(node.process)
        if self.haproxy and self.haproxy.poll() is None:
            self.haproxy.terminate()
            self.haproxy.wait()
