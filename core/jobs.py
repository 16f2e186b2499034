"""Enqueueing jobs on RQ after commit."""

import logging

from django.db import transaction
from redis.exceptions import RedisError

from core.redis_connection import job_queue, redis_for_queue

log = logging.getLogger(__name__)
COALESCE_SECONDS = 60


def job_enqueue_on_commit(func, *args, queue_name: str = "default", coalesce_key: str = "", **kwargs) -> None:
    """Run `func(*args)` (ids, never objects) on a worker once the current transaction commits.

    With `coalesce_key`, only when no job with that key is waiting (SET NX); the job releases the key before it
    reads its work (`job_coalesce_release`), and it expires after COALESCE_SECONDS in case the job was lost.
    """

    def enqueue() -> None:
        try:
            if coalesce_key and not redis_for_queue(queue_name).set(coalesce_key, 1, nx=True, ex=COALESCE_SECONDS):
                return  # a job is waiting already and will see this work
            job_queue(queue_name).enqueue(func, *args, **kwargs)
        except RedisError:
            # The work is committed and findable: the sweepers pick it up once Redis is back; the request must not fail.
            log.warning("enqueue failed, left for the sweeper", extra={"job": func.__name__, "job_args": args})

    transaction.on_commit(enqueue)


def job_coalesce_release(coalesce_key: str, queue_name: str = "default") -> None:
    """Called by a coalesced job as it starts: callers from now on enqueue a new job."""
    try:
        redis_for_queue(queue_name).delete(coalesce_key)
    except RedisError:
        log.warning("could not release the coalesce key", extra={"key": coalesce_key})
