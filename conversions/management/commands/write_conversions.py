"""`manage.py write_conversions [--once]`: store the intake log's conversions in PostgreSQL, looping until SIGTERM.

Killing it loses no conversion (its batch is replayed); a Redis or PostgreSQL outage is waited out with backoff
(core/outages.py).
"""

from conversions.intake.intake_log import intake_durability_check
from conversions.intake.log_writer import intake_log_write
from core.batch_writer_command import BatchWriterCommand
from core.redis_connection import redis_for_intake


class Command(BatchWriterCommand):
    help = "Store acknowledged conversions from the intake log in PostgreSQL (loops unless --once)."
    process = "write_conversions"
    interval = 0.05
    batch_setting = "INTAKE_BATCH_SIZE"
    written = "conversions stored"

    def ready(self) -> bool:
        if risk := intake_durability_check(redis_for_intake()):
            self.stderr.write(f"Warning: {risk}. Set appendonly yes and appendfsync always (docs/operations.md).")
        return True

    def write(self, *, batch_size: int, max_batches: int | None = None) -> int:
        return intake_log_write(batch_size=batch_size, max_batches=max_batches)
