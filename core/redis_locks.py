"""One process at a time on a Redis batch queue (the click flusher, the intake writer): a lock that expires, so a
killed holder blocks nobody for long, and that a holder releases only while it is still its own."""

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from redis import Redis
from redis.commands.core import Script

# Only our own lock: after a long pause it may have expired and been taken by another process.
_UNLOCK_SCRIPT = Script(
    None, b"if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
)


@contextmanager
def redis_lock_held(redis: Redis, key: str, seconds: int) -> Iterator[bool]:
    """Whether this process took the lock (False: another holds it); released on leaving."""
    token = secrets.token_hex(8)
    if not redis.set(key, token, nx=True, ex=seconds):
        yield False
        return
    try:
        yield True
    finally:
        _UNLOCK_SCRIPT(keys=[key], args=[token], client=redis)
