"""The production topology as real processes (gunicorn, the worker, the click flusher, the conversion writer), a
stream of clicks and conversions against it, and the proof table: sent, acknowledged, stored, lost, doubled, 5xx.

Used by the outage proofs: the stream runs while a test kills or stops Redis or PostgreSQL under it; and by
`bench/cluster.py`, whose senders (`FixedRate`) keep each endpoint at a fixed rate behind HAProxy.
"""

import http.client
import itertools
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.servers import ROOT, process_children, process_tree_kill
from bench.servers import free_port as _free_port


@dataclass
class Answer:
    status: int
    content_type: str
    retry_after: str
    key: str  # the click id (from the cookie) or the conversion's external id
    seconds: float = 0.0  # from sending the request to the end of its answer (or its failure)
    detail: str = ""  # the start of an error's body, or what broke the connection


@dataclass
class Stream:
    """Threads sending clicks (one, unless `with_clicks` is off) and conversions (`conversion_threads`, up to
    `conversion_limit` in all), each as fast as the server answers; its `*_send` methods send one request each,
    for `FixedRate`."""

    port: int
    api_key: str
    link_code: str
    cookie_name: str
    referral_code: str = "ALICE"
    offer: str = "acme-shoes"
    with_clicks: bool = True
    conversion_threads: int = 1
    conversion_limit: int | None = None
    clicks: list[Answer] = field(default_factory=list)
    conversions: list[Answer] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)
    numbers: itertools.count = field(default_factory=lambda: itertools.count(1))

    def request_send(self, method: str, path: str, key: str, body: bytes | None = None, headers=None) -> Answer:
        """One request on a new connection; refused, reset or timed out is status 0 (not acknowledged)."""
        started = time.monotonic()
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            body = response.read()
            return Answer(
                response.status,
                response.getheader("Content-Type", ""),
                response.getheader("Retry-After", ""),
                key or self._click_id(response.getheader("Set-Cookie", "")),
                time.monotonic() - started,
                body[:300].decode(errors="replace") if response.status >= 400 else "",
            )
        except (OSError, http.client.HTTPException) as error:  # an answer cut short is no answer either
            return Answer(0, "", "", key, time.monotonic() - started, f"{error.__class__.__name__}: {error}")
        finally:
            connection.close()

    def _click_id(self, cookie: str) -> str:
        return cookie.split(f"{self.cookie_name}=", 1)[1].split(";", 1)[0] if self.cookie_name in cookie else ""

    def click_send(self) -> Answer:
        """A click on the link; the answer's key is the click id its cookie names."""
        return self.request_send("GET", f"/c/{self.link_code}", "")

    def conversion_send(self, external_id: str) -> Answer:
        """A purchase by referral code through POST /v1/convert."""
        body = {
            "type": "purchase",
            "referral_code": self.referral_code,
            "offer": self.offer,
            "external_id": external_id,
            "amount": "10.00",
            "product_id": "p",
        }
        headers = {"Authorization": f"Bearer {self.api_key}", "Content-Type": "application/json"}
        return self.request_send("POST", "/v1/convert", external_id, json.dumps(body).encode(), headers)

    def postback_send(self, token: str, external_id: str, click_id: str) -> Answer:
        """A purchase of a click through GET /v1/postback."""
        query = f"token={token}&type=purchase&external_id={external_id}&click_id={click_id}&amount=40.00&product_id=p"
        return self.request_send("GET", f"/v1/postback?{query}", external_id)

    def _clicks(self) -> None:
        while not self.stopping.is_set():
            self.clicks.append(self.click_send())

    def _conversions(self) -> None:
        while not self.stopping.is_set():
            number = next(self.numbers)  # one counter for every thread: each external id is sent once
            if self.conversion_limit is not None and number > self.conversion_limit:
                return
            self.conversions.append(self.conversion_send(f"stream-{number}"))

    def start(self) -> None:
        self.threads = [threading.Thread(target=self._conversions) for _ in range(self.conversion_threads)]
        if self.with_clicks:
            self.threads.append(threading.Thread(target=self._clicks))
        for thread in self.threads:
            thread.start()

    def sent_all(self) -> bool:
        """True once every thread has stopped by itself (`conversion_limit` reached, and no clicks)."""
        return not any(thread.is_alive() for thread in self.threads)

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join()


class Topology:
    """The Procfile's five processes as production runs them: gunicorn, `run_worker --with-scheduler`,
    `flush_clicks`, `write_conversions` and `run_scheduler config.cron`, on the given PostgreSQL and Redis (and
    the intake log on `intake_redis_url`, by default the same Redis), and `env`'s settings."""

    COMMANDS = {
        "web": ["-m", "gunicorn", "-c", "config/gunicorn.conf.py", "config.wsgi"],
        "worker": ["manage.py", "run_worker", "default", "--with-scheduler"],
        "clicks": ["manage.py", "flush_clicks", "--interval", "0.2"],
        "conversions": ["manage.py", "write_conversions"],
        "scheduler": ["manage.py", "run_scheduler", "config.cron"],
    }

    def __init__(self, *, database_url: str, redis_url: str, intake_redis_url: str = "", env: dict | None = None):
        self.port = _free_port()
        self.logs = Path(tempfile.mkdtemp(prefix="affitrack-topology-"))
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "INTAKE_REDIS_URL": intake_redis_url or redis_url,
            "LOG_FORMAT": "console",
            "GUNICORN_BIND": f"127.0.0.1:{self.port}",
            "WEB_CONCURRENCY": "2",
            "API_RATE_INGEST": "1000000/min",
            "CLICK_BUFFER": "1",
            **(env or {}),
        }
        self.processes: dict[str, subprocess.Popen] = {}

    def _start(self, name: str) -> None:
        log = open(self.logs / f"{name}.log", "ab")
        command = [sys.executable, *self.COMMANDS[name]]
        self.processes[name] = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log, stderr=log)

    def restart(self, name: str) -> None:
        """SIGKILL the process (and its children), as a crash would, and start it again."""
        process_tree_kill(self.processes[name])
        self._start(name)

    def web_workers_kill(self) -> list[int]:
        """SIGKILL gunicorn's workers, as the OOM killer would; the master starts new ones."""
        killed = process_children(self.processes["web"].pid)
        for pid in killed:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return killed

    def start(self) -> None:
        for name in self.COMMANDS:
            self._start(name)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                connection.request("GET", "/healthz")
                if connection.getresponse().status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"gunicorn did not answer /healthz; see {self.logs}")

    def alive(self) -> dict[str, bool]:
        return {name: process.poll() is None for name, process in self.processes.items()}

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def stop(self) -> None:
        for process in self.processes.values():
            process_tree_kill(process)


def proof_rows(kind: str, answers: list[Answer], acknowledged_statuses: set[int], stored: dict[str, int]) -> dict:
    """One row of the proof table. `stored` maps each key found in the database to how many rows hold it."""
    acknowledged = [answer.key for answer in answers if answer.status in acknowledged_statuses]
    return {
        "what": kind,
        "sent": len(answers),
        "acknowledged": len(acknowledged),
        "stored": sum(1 for key in acknowledged if stored.get(key, 0) >= 1),
        "lost": sum(1 for key in acknowledged if stored.get(key, 0) == 0),
        "doubled": sum(1 for key in acknowledged if stored.get(key, 0) > 1),
        "5xx": sum(1 for answer in answers if answer.status >= 500),
        "5xx not 503+Retry-After": sum(
            1 for answer in answers if answer.status >= 500 and not (answer.status == 503 and answer.retry_after)
        ),
        "no answer": sum(1 for answer in answers if answer.status == 0),
    }


def proof_table(title: str, rows: list[dict]) -> str:
    columns = list(rows[0])
    widths = {column: max(len(column), *(len(str(row[column])) for row in rows)) for column in columns}
    lines = [title, " | ".join(column.ljust(widths[column]) for column in columns)]
    lines.append("-|-".join("-" * widths[column] for column in columns))
    lines += [" | ".join(str(row[column]).ljust(widths[column]) for column in columns) for row in rows]
    return "\n".join(lines)


class FixedRate:
    """Each sender at its own fixed rate for a bounded time (bench/cluster.py's soak). Request n of a sender is
    due n / rate seconds after the start; a few threads share each schedule, so one slow answer does not slow
    the pace (all of them stuck, the rate drops: `sent` says so)."""

    def __init__(self, senders: dict[str, tuple[float, Callable[[int], Answer]]], threads_per_sender: int = 8):
        self.senders = senders
        self.threads_per_sender = threads_per_sender
        self.answers: dict[str, list[Answer]] = {name: [] for name in senders}
        self.stopping = threading.Event()
        self._numbers = {name: 0 for name in senders}
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._started = 0.0

    def _next(self, name: str) -> int:
        with self._lock:
            number = self._numbers[name]
            self._numbers[name] += 1
            return number

    def _pace(self, name: str) -> None:
        rate, send = self.senders[name]
        while True:
            number = self._next(name)
            if self.stopping.wait(max(0.0, self._started + number / rate - time.monotonic())):
                return
            try:
                answer = send(number)
            except Exception as error:  # counted, with what it was, rather than a sender lost to the run
                answer = Answer(0, "", "", "", 0.0, f"{error.__class__.__name__}: {error}")
            self.answers[name].append(answer)

    def start(self) -> None:
        self._started = time.monotonic()
        for name, (rate, _) in self.senders.items():
            if rate > 0:
                for _ in range(self.threads_per_sender):
                    self._threads.append(threading.Thread(target=self._pace, args=(name,), daemon=True))
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self.stopping.set()
        for thread in self._threads:
            thread.join()


def p99_ms(answers: list[Answer]) -> float:
    """The 99th percentile of the answers' times (nearest rank), in milliseconds."""
    if not answers:
        return 0.0
    times = sorted(answer.seconds for answer in answers)
    return round(times[max(0, math.ceil(0.99 * len(times)) - 1)] * 1000, 1)


def soak_row(kind: str, answers: list[Answer], acknowledged_statuses: set[int], stored: dict[str, int] | None) -> dict:
    """proof_rows' counts as bench/cluster.py prints them: errors (every answer not acknowledged) and p99; `stored`
    None for reads, which store nothing."""
    row = proof_rows(kind, answers, acknowledged_statuses, stored or {})
    errors = sum(1 for answer in answers if answer.status not in acknowledged_statuses)
    if stored is None:
        row.update(stored="-", lost="-", doubled="-")
    return {
        **{name: row[name] for name in ("what", "sent", "acknowledged", "stored", "lost", "doubled")},
        "errors": errors,
        "p99 ms": p99_ms(answers),
    }
