"""bench/cluster.py's stores, private to the run: a PostgreSQL primary and its streaming replica, a Redis master,
its replica and three Sentinels, on loopback ports of the run's range, with their data in /tmp/cluster-*."""

import glob
import os
import pwd
import shutil
import socket
import subprocess
import time
from pathlib import Path

import psycopg
import redis
from redis.sentinel import Sentinel

from bench.servers import BenchError

SENTINEL_MASTER = "affitrack"
PG_BIN = Path(sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1]) if glob.glob("/usr/lib/postgresql/*/bin") else None


def port_wait(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise BenchError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f} s")


def port_free_check(port: int) -> None:
    with socket.socket() as sock:
        if sock.connect_ex(("127.0.0.1", port)) == 0:
            raise BenchError(f"127.0.0.1:{port} is taken: a cluster run still going? (bench/cluster.py --port-base)")


def data_dir(name: str) -> Path:
    """/tmp/cluster-NAME, emptied: a run starts from nothing."""
    path = Path(f"/tmp/cluster-{name}")
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


class Postgres:
    """The primary (wal_level=replica, replication from loopback) and a replica made by `pg_basebackup -R`."""

    def __init__(self, primary_port: int, replica_port: int, logs: Path):
        if PG_BIN is None:
            raise BenchError("PostgreSQL's server binaries are needed in /usr/lib/postgresql/*/bin (postgresql-15)")
        self.ports = {"primary": primary_port, "replica": replica_port}
        self.logs = logs
        # PostgreSQL refuses to run as root: as root, its binaries run as the system's postgres user.
        self.user = pwd.getpwnam("postgres").pw_name if os.geteuid() == 0 else None
        self.dirs: dict[str, Path] = {}

    def url(self, role: str = "primary", database: str = "affitrack") -> str:
        return f"postgres://postgres@127.0.0.1:{self.ports[role]}/{database}"

    def _run(self, *command: str) -> None:
        # No pipes: the server that pg_ctl starts would hold them open and the call would never return.
        subprocess.run(command, check=True, user=self.user, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def _dir(self, role: str) -> Path:
        path = self.dirs[role] = data_dir(f"pg-{role}")
        if self.user:
            shutil.chown(path, self.user, self.user)
        return path

    def _pg_ctl_start(self, role: str) -> None:
        path = self.dirs[role]
        options = f"-p {self.ports[role]} -k {path} -c listen_addresses=127.0.0.1"
        log = self.logs / f"postgres-{role}.log"
        log.touch()
        if self.user:
            shutil.chown(log, self.user, self.user)
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(path), "-o", options, "-l", str(log), "-w", "-t", "60", "start")

    def start(self) -> None:
        for port in self.ports.values():
            port_free_check(port)
        primary = self._dir("primary")
        self._run(str(PG_BIN / "initdb"), "-D", str(primary), "-U", "postgres", "--auth=trust")
        with (primary / "postgresql.conf").open("a") as conf:
            # fsync off: the run kills no PostgreSQL, and the machine is shared; replication as in production.
            conf.write(
                "wal_level = replica\nmax_wal_senders = 5\nhot_standby = on\nfsync = off\n"
                "max_connections = 200\nsynchronous_commit = on\n"
            )
        with (primary / "pg_hba.conf").open("a") as hba:
            hba.write("host replication postgres 127.0.0.1/32 trust\n")
        self._pg_ctl_start("primary")
        with psycopg.connect(self.url(database="postgres"), autocommit=True) as connection:
            connection.execute("CREATE DATABASE affitrack")
        replica = self._dir("replica")
        shutil.rmtree(replica)  # pg_basebackup makes it, with the owner it runs as
        self._run(
            str(PG_BIN / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(self.ports["primary"]), "-U", "postgres",
            "-D", str(replica), "-R", "-X", "stream", "-c", "fast",
        )  # fmt: skip
        self._pg_ctl_start("replica")

    def replica_lag_bytes(self) -> int | None:
        """How far the replica's replay is behind the primary's WAL, or None when it is not streaming."""
        with psycopg.connect(self.url(), autocommit=True) as connection:
            row = connection.execute(
                "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn) FROM pg_stat_replication"
            ).fetchone()
        return int(row[0]) if row and row[0] is not None else None

    def transactions(self, role: str) -> int:
        """Transactions the server has run in the database so far (on the replica: the reports' reads)."""
        with psycopg.connect(self.url(role), autocommit=True) as connection:
            return connection.execute(
                "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()"
            ).fetchone()[0]

    def stop(self) -> None:
        for role in ("replica", "primary"):
            if role in self.dirs and (self.dirs[role] / "postmaster.pid").exists():
                self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.dirs[role]), "-m", "immediate", "-w", "stop")


class RedisGroup:
    """A master and its replicas with the production append-only setting, watched by three Sentinels (quorum 2)."""

    def __init__(self, port_base: int, logs: Path, *, intake: bool):
        """The master on port_base+10, replicas on +11 and +12, Sentinels on +20..+22; with `intake`, the intake
        log's Redis of its own on +15 (`appendfsync always`, docs/operations.md), not under the Sentinels."""
        if not shutil.which("redis-server"):
            raise BenchError("redis-server is needed (Debian's redis-server and redis-sentinel packages)")
        self.server_ports = [port_base + 10, port_base + 11, port_base + 12]
        self.intake_port = port_base + 15 if intake else None
        self.sentinel_ports = [port_base + 20, port_base + 21, port_base + 22]
        self.logs = logs
        self.processes: dict[int, subprocess.Popen] = {}

    @property
    def url(self) -> str:
        """The first master's address: the app's REDIS_URL (with Sentinel support it follows the master)."""
        return f"redis://127.0.0.1:{self.server_ports[0]}/0"

    @property
    def intake_url(self) -> str:
        return f"redis://127.0.0.1:{self.intake_port}/0" if self.intake_port else ""

    @property
    def sentinels(self) -> str:
        return ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)

    def _spawn(self, port: int, config: Path, *extra: str) -> None:
        log = (self.logs / f"redis-{port}.log").open("ab")
        self.processes[port] = subprocess.Popen(
            ["redis-server", str(config), *extra], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def server_start(self, port: int, *, replica_of: int | None = None, appendfsync: str = "everysec") -> None:
        """A new server on `port`, in an emptied folder; a replica of `replica_of` if given."""
        directory = data_dir(f"redis-{port}")
        lines = [
            f"port {port}",
            "bind 127.0.0.1",
            f"dir {directory}",
            "appendonly yes",
            f"appendfsync {appendfsync}",
            'save ""',
            "maxmemory-policy noeviction",
            *([f"replicaof 127.0.0.1 {replica_of}"] if replica_of else []),
        ]
        (directory / "redis.conf").write_text("\n".join(lines) + "\n")
        self._spawn(port, directory / "redis.conf")
        port_wait(port)

    def server_restart(self, port: int, *, replica_of: int) -> None:
        """The killed server again, on its own data, as a replica of the new master: as an operator brings a
        failed master back, not as a second master until the Sentinels notice it."""
        self._spawn(port, Path(f"/tmp/cluster-redis-{port}/redis.conf"), "--replicaof", "127.0.0.1", str(replica_of))
        port_wait(port)

    def start(self) -> None:
        for port in [*self.server_ports, *self.sentinel_ports, *([self.intake_port] if self.intake_port else [])]:
            port_free_check(port)
        if self.intake_port:
            self.server_start(self.intake_port, appendfsync="always")
        master, *replicas = self.server_ports
        self.server_start(master)
        for replica in replicas:
            self.server_start(replica, replica_of=master)
        for port in self.sentinel_ports:
            directory = data_dir(f"sentinel-{port}")
            config = directory / "sentinel.conf"
            config.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {directory}\n"
                f"sentinel monitor {SENTINEL_MASTER} 127.0.0.1 {master} 2\n"
                f"sentinel down-after-milliseconds {SENTINEL_MASTER} 2000\n"
                f"sentinel failover-timeout {SENTINEL_MASTER} 20000\n"
                f"sentinel parallel-syncs {SENTINEL_MASTER} 1\n"
            )
            self._spawn(port, config, "--sentinel")
            port_wait(port)
        self.replica_synced_wait()

    def sentinel(self) -> Sentinel:
        return Sentinel([("127.0.0.1", port) for port in self.sentinel_ports], socket_timeout=2)

    def master_port(self) -> int:
        """The port of the master the Sentinels name now."""
        return int(self.sentinel().discover_master(SENTINEL_MASTER)[1])

    def master(self) -> redis.Redis:
        """A client of the current master, found through the Sentinels."""
        return self.sentinel().master_for(SENTINEL_MASTER, socket_timeout=5)

    def replica_synced_wait(self, timeout: float = 90) -> None:
        """Until the master has every replica online and each Sentinel knows them and the other Sentinels (a
        failover needs the quorum to have met through the master's hello channel)."""
        replicas, others = len(self.server_ports) - 1, len(self.sentinel_ports) - 1
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                info = self.master().info("replication")
                states = [client.sentinel_master(SENTINEL_MASTER) for client in self.sentinel().sentinels]
                if info.get("connected_slaves", 0) >= replicas and all(
                    state["num-slaves"] >= replicas and state["num-other-sentinels"] >= others for state in states
                ):
                    return
            except redis.RedisError:
                pass
            time.sleep(0.2)
        raise BenchError(f"the Redis replicas and Sentinels were not ready within {timeout:.0f} s; see {self.logs}")

    def kill(self, port: int) -> None:
        process = self.processes.pop(port)
        process.kill()
        process.wait()

    def stop(self) -> None:
        for process in self.processes.values():
            process.kill()
            process.wait()
        self.processes.clear()
