"""`manage.py refresh_datacenter_ranges FILE_OR_URL`: load a new list of data-centre networks."""

from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import urlopen

from django.core.management.base import BaseCommand, CommandError

from conversions.fraud.datacenter import RangesInvalid, datacenter_ranges_replace

MAX_BYTES = 20 * 1024 * 1024


def _read(source: str) -> str:
    scheme = urlsplit(source).scheme
    if scheme in ("http", "https", "file"):
        with urlopen(source, timeout=30) as response:  # noqa: S310 - the scheme is checked above
            return response.read(MAX_BYTES).decode("utf-8")
    if scheme and len(scheme) > 1:  # one letter would be a Windows drive
        raise CommandError(f"Unsupported URL scheme {scheme!r}: use a file path, http(s):// or file://.")
    path = Path(source)
    if not path.is_file():
        raise CommandError(f"No such file: {source}")
    return path.read_text(encoding="utf-8")


class Command(BaseCommand):
    help = (
        "Replace the data-centre networks used by the datacenter_ip fraud check with a list read from a file "
        "or URL: one 'CIDR [provider]' per line, '#' comments. All or nothing: a bad line changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("source", help="A file path, or an http(s):// or file:// URL.")

    def handle(self, *args, **options):
        try:
            count = datacenter_ranges_replace(text=_read(options["source"]))
        except RangesInvalid as error:
            raise CommandError(f"Nothing loaded: {error}") from None
        except OSError as error:
            raise CommandError(f"Could not read {options['source']}: {error}") from None
        self.stdout.write(f"Loaded {count} data-centre network(s); screening uses them from now on.")
