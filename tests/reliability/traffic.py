"""The production topology as real processes (gunicorn, the worker, the click flusher, the conversion writer), a
stream of clicks and conversions against it, and the proof table: sent, acknowledged, stored, lost, doubled, 5xx.

Used by the outage proofs: the stream runs while a test kills or stops Redis or PostgreSQL under it.
"""

import http.client
import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from django.db.models import Count

from conversions.models import Conversion
from referrals.models import Click
from tests.reliability.conftest import ROOT, _children, _free_port, process_tree_kill


@dataclass
class Answer:
    status: int
    content_type: str
    retry_after: str
    key: str  # the click id (from the cookie) or the conversion's external id


@dataclass
class Stream:
    """Threads sending clicks (one, unless `with_clicks` is off) and conversions (`conversion_threads`, up to
    `conversion_limit` in all), each as fast as the server answers."""

    port: int
    api_key: str
    link_code: str
    cookie_name: str
    with_clicks: bool = True
    conversion_threads: int = 1
    conversion_limit: int | None = None
    clicks: list[Answer] = field(default_factory=list)
    conversions: list[Answer] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)
    numbers: itertools.count = field(default_factory=lambda: itertools.count(1))

    def _request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            response.read()
            return response
        except OSError:
            return None  # refused or reset: counted as not acknowledged
        finally:
            connection.close()

    def _clicks(self) -> None:
        while not self.stopping.is_set():
            response = self._request("GET", f"/c/{self.link_code}")
            if response is None:
                self.clicks.append(Answer(0, "", "", ""))
                continue
            cookie = response.getheader("Set-Cookie", "")
            click_id = cookie.split(f"{self.cookie_name}=", 1)[1].split(";", 1)[0] if self.cookie_name in cookie else ""
            self.clicks.append(Answer(response.status, response.getheader("Content-Type", ""), "", click_id))
            self.clicks[-1].retry_after = response.getheader("Retry-After", "")

    def _conversions(self) -> None:
        while not self.stopping.is_set():
            number = next(self.numbers)  # one counter for every thread: each external id is sent once
            if self.conversion_limit is not None and number > self.conversion_limit:
                return
            external_id = f"stream-{number}"
            body = {
                "type": "purchase",
                "referral_code": "ALICE",
                "offer": "acme-shoes",
                "external_id": external_id,
                "amount": "10.00",
                "product_id": "p",
            }
            response = self._request(
                "POST",
                "/v1/convert",
                json.dumps(body).encode(),
                {"Authorization": f"Bearer {self.api_key}", "Content-Type": "application/json"},
            )
            if response is None:
                self.conversions.append(Answer(0, "", "", external_id))
                continue
            self.conversions.append(
                Answer(
                    response.status,
                    response.getheader("Content-Type", ""),
                    response.getheader("Retry-After", ""),
                    external_id,
                )
            )

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
    the intake log on `intake_redis_url`, by default the same Redis; and `env`'s settings)."""

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
        killed = _children(self.processes["web"].pid)
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


def wait_until(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.25)
    return predicate()


def stream_stored_wait(stream: Stream, *, clicks_timeout: float = 90, conversions_timeout: float = 150) -> bool:
    """Wait until every click answered 302 and every conversion answered 202/200 is in the table and none is
    pending: the writer stores what the intake log holds, and conversions whose job could not be queued are the
    scheduler's sweep's (every minute), processed by the same worker, unrestarted."""
    clicks = {answer.key for answer in stream.clicks if answer.status == 302}
    conversions = {answer.key for answer in stream.conversions if answer.status in (200, 202)}
    flushed = wait_until(lambda: Click.objects.filter(click_id__in=clicks).count() == len(clicks), clicks_timeout)
    processed = wait_until(
        lambda: Conversion.objects.filter(external_id__in=conversions).values("external_id").distinct().count()
        == len(conversions)
        and not Conversion.objects.filter(status="pending").exists(),
        conversions_timeout,
    )
    return flushed and processed


def stream_proof_rows(stream: Stream) -> list[dict]:
    """The proof table's rows for the stream's clicks and conversions, counted in the database."""
    clicks = dict(Click.objects.values_list("click_id").annotate(rows=Count("id")))
    conversions = dict(Conversion.objects.values_list("external_id").annotate(rows=Count("id")))
    return [
        proof_rows("clicks (302)", stream.clicks, {302}, clicks),
        proof_rows("conversions (202/200)", stream.conversions, {200, 202}, conversions),
    ]
