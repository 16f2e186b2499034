"""PostgreSQL or Redis unreachable: what counts as an outage, and how a long-running process rides one out
(under honcho one exiting process stops the others): it waits with backoff, logging start and end once."""

import logging
import signal
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import psycopg
import redis
from django.db import InterfaceError, OperationalError, connections

log = logging.getLogger(__name__)
T = TypeVar("T")

# Connection refused, reset, timed out, server restarting ("the database system is shutting down",
# Redis LOADING its append-only file). psycopg's own appear where the click buffer COPYs on a raw cursor.
OUTAGE_ERRORS = (
    OperationalError,
    InterfaceError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
)
# How long a client should wait before trying again (the Retry-After of a 503).
RETRY_AFTER_SECONDS = 5


def outage_is(error: BaseException) -> bool:
    """True when error (or what caused it) says PostgreSQL or Redis could not be reached."""
    while error is not None:
        if isinstance(error, OUTAGE_ERRORS):
            return True
        error = error.__cause__ or error.__context__
    return False


def outage_service(error: BaseException) -> str:
    return "Redis" if isinstance(error, redis.exceptions.RedisError) else "PostgreSQL"


class OutageLog:
    """One warning when an outage starts and one line when the service is back, however many retries between."""

    def __init__(self, process: str):
        self.process = process
        self.started: float | None = None

    def failed(self, error: BaseException) -> None:
        if self.started is None:
            self.started = time.monotonic()
            log.warning(
                "%s: %s unavailable (%s: %s); retrying with backoff",
                self.process,
                outage_service(error),
                error.__class__.__name__,
                str(error).strip().splitlines()[0] if str(error).strip() else "",
            )

    def recovered(self) -> None:
        if self.started is not None:
            log.warning("%s: back after %.1f s; carrying on", self.process, time.monotonic() - self.started)
            self.started = None


def redis_persistence_check(client) -> str | None:
    """What a Redis crash would lose, or None when Redis keeps an append-only file (or refuses CONFIG, as
    managed services may: then we cannot tell)."""
    try:
        appendonly = client.config_get("appendonly").get("appendonly")
    except redis.exceptions.RedisError:
        return None
    if appendonly == "yes":
        return None
    return "Redis keeps no append-only file (appendonly no): a Redis crash loses the clicks still in the buffer"


def connections_drop() -> None:
    """Close Django's database connections so the next query connects afresh (a dead socket never recovers)."""
    for connection in connections.all(initialized_only=True):
        try:
            connection.close()
        except Exception:  # noqa: S110 - closing a connection to a server that is gone may fail; it is gone either way
            pass


def outages_ride_out(
    step: Callable[[], T],
    *,
    process: str,
    stopping: Callable[[], bool] = lambda: False,
    sleep: Callable[[float], None] = time.sleep,
    outage: OutageLog | None = None,
) -> T | None:
    """Call `step` until it gets through without an outage; returns its result (None if asked to stop first).
    A bug is raised: it should stop the process loudly, not loop. `outage`: one the caller has met already."""
    outage = outage or OutageLog(process)
    delay = 0.5  # doubling up to 30 s: quick to notice a blip, gentle on a service that stays down
    while not stopping():
        try:
            result = step()
        except Exception as error:
            if not outage_is(error):
                raise
            outage.failed(error)
            connections_drop()
            sleep(delay)
            delay = min(delay * 2, 30.0)
            continue
        outage.recovered()
        return result
    return None


# Seconds before each retry of a job that met an outage (the worker's scheduler requeues it).
JOB_RETRY_DELAYS = [2, 5, 10, 30, 60, 120]


def batches_write_until_stopped(
    write_batch: Callable[[], int], *, process: str, interval: float, batch_size: int
) -> None:
    """Run `write_batch` (one batch of up to `batch_size`, returning how many rows it wrote) until SIGTERM or
    SIGINT, riding out outages: the loop of the click flusher and the intake writer.

    After a batch that was not full it sleeps `interval`, so that a trickle gathers into batches: a transaction
    costs about as much for one row as for a hundred (docs/performance.md, "Batches gather")."""
    stopping = threading.Event()  # set by SIGTERM or SIGINT: finish the batch in hand, then exit
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda signum, frame: stopping.set())
    while not stopping.is_set():
        # One batch per turn, so a stop request is seen between batches.
        written = outages_ride_out(write_batch, process=process, stopping=stopping.is_set)
        if (written or 0) < batch_size:
            stopping.wait(interval)


def job_retry_on_outage(job, exc_type, exc_value, traceback) -> bool:
    """RQ exception handler: a job that met an outage is retried with backoff (every job is safe to run twice);
    once the retries are spent it fails, and the sweeper picks up what it left pending."""
    if outage_is(exc_value) and job.retries_left is None:
        job.retries_left = len(JOB_RETRY_DELAYS)
        job.retry_intervals = JOB_RETRY_DELAYS
        log.warning("job %s met an outage (%s); retrying in %s s", job.id, exc_type.__name__, JOB_RETRY_DELAYS[0])
    return True  # on to RQ's own handling, which sees retries_left and requeues
