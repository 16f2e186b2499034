"""`manage.py flush_clicks [--once]`: write the Redis click buffer into PostgreSQL, looping until SIGTERM.

Killing it loses no click; a Redis or PostgreSQL outage is waited out with backoff (core/outages.py).
"""

from core.batch_writer_command import BatchWriterCommand
from core.outages import redis_persistence_check
from core.redis_connection import redis_for_queue
from referrals.click_buffer import click_buffer_enabled, clicks_flush


class Command(BatchWriterCommand):
    help = "Write buffered clicks from Redis into the click table (loops unless --once)."
    process = "flush_clicks"
    interval = 0.5
    batch_setting = "CLICK_BUFFER_BATCH_SIZE"
    written = "clicks written"

    def ready(self) -> bool:
        if not click_buffer_enabled():
            self.stdout.write("The click buffer is off (CLICK_BUFFER=0): nothing to do.")
            return False
        if risk := redis_persistence_check(redis_for_queue("default")):
            self.stderr.write(f"Warning: {risk}. Set appendonly yes (docs/operations.md).")
        return True

    def write(self, *, batch_size: int, max_batches: int | None = None) -> int:
        return clicks_flush(batch_size=batch_size, max_batches=max_batches)
