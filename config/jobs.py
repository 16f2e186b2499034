"""Enqueueing jobs after commit, on RQ or inline when no Redis is configured."""

import django_rq
from django.conf import settings
from django.db import transaction


def job_enqueue_on_commit(func, *args, queue_name: str = "default", **kwargs) -> None:
    """Run `func(*args)` on a worker once the current transaction commits.

    Jobs take ids, never objects, so they read the committed state. Without
    REDIS_URL (queue ASYNC=False) the job runs inline after commit instead.
    """

    def enqueue() -> None:
        if not settings.RQ_QUEUES[queue_name].get("ASYNC", True):
            func(*args, **kwargs)
            return
        django_rq.get_queue(queue_name).enqueue(func, *args, **kwargs)

    transaction.on_commit(enqueue)
