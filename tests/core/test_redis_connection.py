"""Every Redis client from one place (core/redis_connection.py): a URL, or the master the sentinels name."""

import pytest
from django.conf import settings as django_settings
from django.core.cache import caches
from django.core.exceptions import ImproperlyConfigured
from django_rq.queues import get_queue

from core.redis_config import redis_queue_config
from core.redis_connection import redis_for_queue
from tests.reliability.sentinel_group import MASTER_NAME, SentinelGroup


def test_with_sentinels_the_url_names_only_the_database_and_the_password():
    config = redis_queue_config(
        "redis://:s3cret@ignored.example:6380/4",
        sentinels=["10.0.0.1:26379", " sentinel-b:26380"],
        master="affitrack",
        sentinel_password="watch",
    )

    assert config["SENTINELS"] == [("10.0.0.1", 26379), ("sentinel-b", 26380)]
    assert (config["MASTER_NAME"], config["DB"], config["PASSWORD"]) == ("affitrack", 4, "s3cret")
    assert config["SENTINEL_KWARGS"]["password"] == "watch"
    assert "URL" not in config


def test_without_sentinels_the_config_is_the_url():
    assert redis_queue_config("redis://127.0.0.1:6379/7", sentinels=[], master="affitrack") == {
        "URL": "redis://127.0.0.1:6379/7"
    }


def test_a_sentinel_address_without_a_port_is_refused():
    with pytest.raises(ImproperlyConfigured, match="host:port"):
        redis_queue_config("redis://127.0.0.1/0", sentinels=["sentinel-a"], master="affitrack")


@pytest.fixture
def sentinel_redis(monkeypatch):
    """A private master watched by one sentinel, reached only through it: the URL's host is a closed port."""
    group = SentinelGroup(replicas=0, sentinels=1)
    group.start()
    config = redis_queue_config("redis://127.0.0.1:1/3", sentinels=group.sentinels.split(","), master=MASTER_NAME)
    monkeypatch.setitem(django_settings.RQ_QUEUES, "default", {**config, "DEFAULT_TIMEOUT": 300})
    yield group.client(group.server_ports[0], db=3)
    group.stop()


@pytest.mark.django_db
def test_with_sentinels_the_queue_the_cache_and_healthz_reach_the_master_they_name(client, sentinel_redis, settings):
    master = sentinel_redis
    settings.CACHES = {**settings.CACHES}  # new cache objects: one made by an earlier test keeps its pool

    redis_for_queue().set("seen", "queue")
    caches["default"].set("seen", "cache")
    job = get_queue("default").enqueue("builtins.print")

    assert master.get("seen") == b"queue"
    assert master.exists(":1:seen")
    assert master.exists(f"rq:job:{job.id}")
    assert client.get("/healthz").json()["checks"]["redis"] == "ok"
