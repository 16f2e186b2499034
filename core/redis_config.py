"""The Redis connection settings as django_rq reads them (RQ_QUEUES), built from REDIS_URL and, when set, the
sentinels. Plain values only: config/settings.py calls it before Django (or django_rq) is ready."""

from django.core.exceptions import ImproperlyConfigured
from redis.connection import parse_url

# A silent sentinel is given up after this (the next is asked), and so is a connect to the master that hangs.
SOCKET_TIMEOUT_SECONDS = 5


def redis_queue_config(url: str, *, sentinels: list[str], master: str, sentinel_password: str = "") -> dict:
    """A connection config for RQ_QUEUES. Without sentinels it is the URL. With them ("host:port" each), the URL
    names only the database number, user and password of the master; its host and port are Sentinel's answer."""
    if not sentinels:
        return {"URL": url}
    parts = parse_url(url)
    sentinel_kwargs = {"socket_timeout": SOCKET_TIMEOUT_SECONDS, "socket_connect_timeout": SOCKET_TIMEOUT_SECONDS}
    if sentinel_password:
        sentinel_kwargs["password"] = sentinel_password
    return {
        "SENTINELS": [_host_port(address) for address in sentinels],
        "MASTER_NAME": master,
        "DB": parts.get("db", 0),
        "USERNAME": parts.get("username"),
        "PASSWORD": parts.get("password"),
        "SENTINEL_KWARGS": sentinel_kwargs,
        "CONNECTION_KWARGS": {"socket_connect_timeout": SOCKET_TIMEOUT_SECONDS},
    }


def _host_port(address: str) -> tuple[str, int]:
    host, _, port = address.strip().rpartition(":")
    if not host or not port.isdigit():
        raise ImproperlyConfigured(f"REDIS_SENTINELS: {address!r} is not host:port")
    return host, int(port)
