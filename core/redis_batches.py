"""A Redis list that web processes append to and one process drains into PostgreSQL in batches: the click buffer
and the intake log. A batch is moved to a processing list before it is written and deleted only after the COMMIT,
so a writer killed in between leaves it to be written again (its rows' unique keys make the replay harmless)."""

from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction
from redis import Redis
from redis.client import Pipeline
from redis.commands.core import Script

from core.redis_locks import redis_lock_held

# KEYS: queue, processing. ARGV: batch size. Moves up to that many items atomically and returns them joined by
# newlines (one bulk reply costs less to parse than one per item; no item holds a raw newline).
_TAKE_SCRIPT = Script(
    None,
    b"""
local items = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
for first = 1, #items, 1000 do
  redis.call('RPUSH', KEYS[2], unpack(items, first, math.min(first + 999, #items)))
end
if #items > 0 then
  redis.call('LTRIM', KEYS[1], #items, -1)
end
return table.concat(items, '\\n')
""",
)


@dataclass(frozen=True)
class BatchQueue:
    queue: str
    processing: str
    lock: str  # one writer at a time; it expires, so a killed writer blocks nobody for long
    lock_seconds: int = 30

    def take(self, redis: Redis, batch_size: int) -> list[bytes]:
        """The batch to write: a leftover processing list (a writer died), else up to batch_size from the queue."""
        if leftover := redis.lrange(self.processing, 0, -1):
            return leftover
        taken = _TAKE_SCRIPT(keys=[self.queue, self.processing], args=[batch_size], client=redis)
        return taken.split(b"\n") if taken else []

    def length(self, redis: Redis) -> int:
        """Items waiting: queued plus the batch being written."""
        return redis.llen(self.queue) + redis.llen(self.processing)

    def drain(
        self,
        redis: Redis,
        write: Callable[[list[bytes], Pipeline], int],
        *,
        batch_size: int,
        max_batches: int | None = None,
    ) -> int:
        """Write batches until the queue is empty (or max_batches); the sum of what `write` returned. `write` runs
        in the batch's transaction and adds what Redis should forget after the COMMIT to the pipeline it is given.
        Nothing is written while another process holds the lock."""
        written = batches = 0
        with redis_lock_held(redis, self.lock, self.lock_seconds) as held:
            while held and (max_batches is None or batches < max_batches):
                batch = self.take(redis, batch_size)
                if not batch:
                    break
                forget = redis.pipeline(transaction=True)
                with transaction.atomic():
                    written += write(batch, forget)
                forget.delete(self.processing).expire(self.lock, self.lock_seconds).execute()
                batches += 1
        return written
