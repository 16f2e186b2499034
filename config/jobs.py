"""Enqueueing jobs after commit, on RQ or inline when no Redis is configured."""

import logging

from django.conf import settings
from django.db import transaction
from redis.exceptions import RedisError

from config.redis_connection import job_queue

log = logging.getLogger(__name__)


def job_enqueue_on_commit(func, *args, queue_name: str = "default", **kwargs) -> None:
    """Run `func(*args)` on a worker once the current transaction commits.

    Jobs take ids, never objects, so they read the committed state. Without
    REDIS_URL (queue ASYNC=False) the job runs inline after commit instead.
    """

    def enqueue() -> None:
        if not settings.RQ_QUEUES[queue_name].get("ASYNC", True):
            func(*args, **kwargs)
            return
        try:
            job_queue(queue_name).enqueue(func, *args, **kwargs)
        except RedisError:
            # The work is committed and findable (a pending conversion, a queued upload); the
            # scheduled sweepers pick it up once Redis is back. The request must not fail for it.
            log.warning("enqueue failed, left for the sweeper", extra={"job": func.__name__, "job_args": args})

    transaction.on_commit(enqueue)
