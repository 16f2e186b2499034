"""The shape of `flush_clicks` and `write_conversions`: drain a Redis batch queue into PostgreSQL, once or in a
loop until SIGTERM that rides out outages (core/outages.py)."""

from django.conf import settings
from django.core.management.base import BaseCommand

from core.outages import batches_write_until_stopped


class BatchWriterCommand(BaseCommand):
    process = ""  # the name in outage logs
    interval = 0.5  # the default pause after a batch that was not full
    batch_setting = ""  # the setting that holds the batch size
    written = "rows written"  # what `--once` prints after the count

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="Write what waits now, then exit.")
        parser.add_argument(
            "--interval", type=float, default=self.interval, help=f"Pause after a short batch ({self.interval} s)."
        )
        parser.add_argument("--batch-size", type=int, default=None, help=f"Rows per batch ({self.batch_setting}).")

    def ready(self) -> bool:
        """Warn about what a crash could lose; False when there is nothing to do."""
        return True

    def write(self, *, batch_size: int, max_batches: int | None = None) -> int:
        raise NotImplementedError

    def handle(self, *args, once=False, interval=None, batch_size=None, **options):
        if not self.ready():
            return
        batch_size = batch_size or getattr(settings, self.batch_setting)
        if once:
            self.stdout.write(f"{self.write(batch_size=batch_size)} {self.written}")
            return
        batches_write_until_stopped(
            lambda: self.write(batch_size=batch_size, max_batches=1),
            process=self.process,
            interval=self.interval if interval is None else interval,
            batch_size=batch_size,
        )
