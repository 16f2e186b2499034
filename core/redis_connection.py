"""Where every Redis client is made, and the rule for a write that must outlive a failover.

Clients come from RQ_QUEUES' connection config through django_rq's builder, as RQ's worker and scheduler get
theirs: a URL, or with REDIS_SENTINELS `Sentinel(...).master_for(REDIS_SENTINEL_MASTER)`, whose pool asks the
sentinels for the master at each connect and drops its connections when the master turns replica (ReadOnlyError),
so after a failover the next command reaches the new master (config/settings.py, core/redis_config.py).

One client (and pool) per process and config: `django_rq.get_connection()` builds a new one per call, 57% of a
click's time (docs/performance.md). Keyed by pid (gunicorn forks after loading the app) and the config.
"""

import os

import django_rq
from django.conf import settings
from django_rq.connection_utils import get_redis_connection
from redis import ConnectionPool, Redis
from redis.exceptions import RedisError
from rq import Queue

_clients: dict[tuple, Redis] = {}


def redis_connect(name: str = "default", **options) -> Redis:
    """A new client on the queue's Redis; `options` are redis-py connection options (timeouts)."""
    config = settings.RQ_QUEUES[name]
    if "SENTINELS" not in config:
        return Redis.from_url(config["URL"], **options)
    return get_redis_connection({**config, "CONNECTION_KWARGS": {**config.get("CONNECTION_KWARGS", {}), **options}})


def redis_for_queue(name: str = "default") -> Redis:
    """The process's shared client on the queue's Redis."""
    key = (os.getpid(), name, repr(settings.RQ_QUEUES[name]))
    client = _clients.get(key)
    if client is None:
        client = _clients[key] = redis_connect(name)
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


class QueueConnectionPool(ConnectionPool):
    """Django's RedisCache `pool_class` (config/settings.py): the cache uses the queue client's pool, so it
    follows the sentinels as the queue does; the cache's LOCATION and options are not read."""

    @classmethod
    def from_url(cls, url, **options):
        return redis_for_queue("default").connection_pool


class RedisWriteNotReplicated(RedisError):
    """Redis took the writes but fewer than REDIS_WAIT_REPLICAS replicas confirmed them in time: a failover
    now could lose them. `results` are the commands' answers."""

    def __init__(self, results: list, replicas: int):
        super().__init__(f"{replicas} of {settings.REDIS_WAIT_REPLICAS} replicas confirmed the write")
        self.results = results


def redis_write_replicated(client: Redis, *commands: tuple) -> list:
    """Send `commands` (each the arguments of one Redis command) in one round trip, followed by
    `WAIT REDIS_WAIT_REPLICAS REDIS_WAIT_TIMEOUT_MS` when replicas are to confirm; their answers.

    Replication is asynchronous: a write the master answered but no replica has yet is lost when a replica is
    promoted. After WAIT, a replica holds it, and Sentinel promotes the replica that has the most. Raises
    RedisWriteNotReplicated when too few replicas confirmed: the caller stores the data elsewhere too.
    """
    pipeline = client.pipeline(transaction=False)
    for command in commands:
        pipeline.execute_command(*command)
    wanted = settings.REDIS_WAIT_REPLICAS
    if wanted:
        pipeline.execute_command("WAIT", wanted, settings.REDIS_WAIT_TIMEOUT_MS)
    results = pipeline.execute()
    if wanted:
        confirmed = results.pop()
        if confirmed < wanted:
            raise RedisWriteNotReplicated(results, confirmed)
    return results
