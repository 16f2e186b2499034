"""`manage.py load_exchange_rates FILE.csv`: load dated rates (`date,base,quote,rate`), all or nothing."""

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from rewards.rates import exchange_rates_load


class Command(BaseCommand):
    help = "Load exchange rates from a CSV with columns date,base,quote,rate (1 base = rate quote on date)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", help="A CSV file, or - for standard input.")

    def handle(self, *args, file: str, **options) -> None:
        if file == "-":
            text = sys.stdin.read()
        else:
            try:
                text = Path(file).read_text(encoding="utf-8-sig")
            except OSError as error:
                raise CommandError(f"Cannot read {file}: {error.strerror}") from None
        loaded = exchange_rates_load(text=text)
        if loaded.errors:
            raise CommandError("Nothing was loaded:\n" + "\n".join(loaded.errors))
        self.stdout.write(
            f"Loaded {loaded.created} new and {loaded.updated} corrected rates; "
            "conversions waiting for them are being processed."
        )
