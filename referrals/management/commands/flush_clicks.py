"""`manage.py flush_clicks [--once]`: write the Redis click buffer into PostgreSQL, looping until SIGTERM.

Killing it loses no click; a Redis or PostgreSQL outage is waited out with backoff (core/outages.py).
"""

from django.conf import settings
from django.core.management.base import BaseCommand

from core.outages import batches_write_until_stopped, redis_persistence_check
from core.redis_connection import redis_for_queue
from referrals.click_buffer import click_buffer_enabled, clicks_flush


class Command(BaseCommand):
    help = "Write buffered clicks from Redis into the click table (loops unless --once)."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="Flush what is buffered now, then exit.")
        parser.add_argument("--interval", type=float, default=0.5, help="Pause after a short batch (0.5 s).")
        parser.add_argument("--batch-size", type=int, default=None, help="Clicks per COPY (CLICK_BUFFER_BATCH_SIZE).")

    def handle(self, *args, once=False, interval=0.5, batch_size=None, **options):
        if not click_buffer_enabled():
            self.stdout.write("The click buffer is off (CLICK_BUFFER=0): nothing to do.")
            return
        if risk := redis_persistence_check(redis_for_queue("default")):
            self.stderr.write(f"Warning: {risk}. Set appendonly yes (docs/operations.md).")
        if once:
            self.stdout.write(f"{clicks_flush(batch_size=batch_size)} clicks written")
            return
        batch_size = batch_size or settings.CLICK_BUFFER_BATCH_SIZE
        batches_write_until_stopped(
            lambda: clicks_flush(batch_size=batch_size, max_batches=1),
            process="flush_clicks",
            interval=interval,
            batch_size=batch_size,
        )
