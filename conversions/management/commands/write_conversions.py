"""`manage.py write_conversions [--once]`: store the intake log's conversions in PostgreSQL, looping until SIGTERM.

Killing it loses no conversion (its batch is replayed); a Redis or PostgreSQL outage is waited out with backoff
(core/outages.py).
"""

from django.conf import settings
from django.core.management.base import BaseCommand

from conversions.intake.intake_log import intake_durability_check
from conversions.intake.log_writer import intake_log_write
from core.outages import batches_write_until_stopped
from core.redis_connection import redis_for_intake


class Command(BaseCommand):
    help = "Store acknowledged conversions from the intake log in PostgreSQL (loops unless --once)."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="Store what is logged now, then exit.")
        parser.add_argument("--interval", type=float, default=0.05, help="Pause after a short batch (0.05 s).")
        parser.add_argument("--batch-size", type=int, default=None, help="Conversions per batch (INTAKE_BATCH_SIZE).")

    def handle(self, *args, once=False, interval=0.05, batch_size=None, **options):
        if risk := intake_durability_check(redis_for_intake()):
            self.stderr.write(f"Warning: {risk}. Set appendonly yes and appendfsync always (docs/operations.md).")
        if once:
            self.stdout.write(f"{intake_log_write(batch_size=batch_size)} conversions stored")
            return
        batch_size = batch_size or settings.INTAKE_BATCH_SIZE
        batches_write_until_stopped(
            lambda: intake_log_write(batch_size=batch_size, max_batches=1),
            process="write_conversions",
            interval=interval,
            batch_size=batch_size,
        )
