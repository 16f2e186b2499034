"""One Redis client (and pool) per process and queue config: `django_rq.get_connection()` builds a new one per
call, 57% of a click's time (docs/performance.md). Keyed by pid (gunicorn forks after loading the app) and URL.
"""

import os

import django_rq
from django.conf import settings
from redis import Redis
from rq import Queue

_clients: dict[tuple, Redis] = {}


def redis_for_queue(name: str = "default") -> Redis:
    key = (os.getpid(), name, settings.RQ_QUEUES[name]["URL"])
    client = _clients.get(key)
    if client is None:
        client = _clients[key] = django_rq.get_connection(name)
    return client


def redis_for_intake() -> Redis:
    """The intake log's client (INTAKE_REDIS_URL, by default the queue's Redis), one per process."""
    key = (os.getpid(), "intake", settings.INTAKE_REDIS_URL)
    client = _clients.get(key)
    if client is None:
        client = _clients[key] = Redis.from_url(settings.INTAKE_REDIS_URL, socket_connect_timeout=5, socket_timeout=30)
    return client


def job_queue(name: str = "default") -> Queue:
    """django_rq.get_queue on the process's shared client."""
    return django_rq.get_queue(name, connection=redis_for_queue(name))
