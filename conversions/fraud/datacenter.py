"""Data-centre networks: the list shipped in data/, or the table `manage.py refresh_datacenter_ranges` loads.

Lookups bisect merged integer ranges in memory. Each process asks the table whether it changed once a minute,
so a refresh reaches running workers within a minute."""

import bisect
import ipaddress
import time
from dataclasses import dataclass
from pathlib import Path

from django.db import transaction
from django.db.models import Count, Max
from django.utils import timezone

from conversions.models.datacenter import DatacenterRange

SHIPPED_FILE = Path(__file__).parent / "data" / "datacenter_cidrs.txt"


class RangesInvalid(ValueError):
    pass


def ranges_parse(text: str) -> list[tuple[str, str]]:
    """`CIDR [provider words]` per line; `#` starts a comment. Errors name the line."""
    ranges, errors = [], []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        cidr, _, provider = line.partition(" ")
        try:
            ranges.append((str(ipaddress.ip_network(cidr, strict=False)), provider.strip()[:100]))
        except ValueError:
            errors.append(f"line {number}: {cidr!r} is not an IP network")
    if errors:
        raise RangesInvalid("; ".join(errors[:20]) + (f" (and {len(errors) - 20} more)" if len(errors) > 20 else ""))
    if not ranges:
        raise RangesInvalid("The list has no networks.")
    return ranges


@dataclass
class RangeSet:
    source: str  # "file" or "table"
    spans: dict  # version -> [[start, end, cidr, provider]], sorted, overlaps merged

    @classmethod
    def build(cls, ranges: list[tuple[str, str]], *, source: str) -> "RangeSet":
        networks = ((ipaddress.ip_network(cidr, strict=False), provider) for cidr, provider in ranges)
        items = [(n.version, int(n.network_address), int(n.broadcast_address), str(n), p) for n, p in networks]
        spans: dict[int, list] = {4: [], 6: []}
        # Merge overlaps so the range before a bisect point is the only one that can hold the address.
        for version, start, end, cidr, provider in sorted(items):
            merged = spans[version]
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end, cidr, provider])
        return cls(source, spans)

    def lookup(self, ip: str) -> tuple[str, str] | None:
        """The (cidr, provider) that holds the address, or None."""
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return None
        if address.version == 6 and address.ipv4_mapped:
            address = address.ipv4_mapped
        value, spans = int(address), self.spans[address.version]
        index = bisect.bisect_right(spans, value, key=lambda span: span[0]) - 1
        if index < 0:
            return None
        start, end, cidr, provider = spans[index]
        return (cidr, provider) if start <= value <= end else None

    def __len__(self) -> int:
        return sum(len(items) for items in self.spans.values())


_loaded: dict = {"version": None, "ranges": None, "checked": 0.0}


def datacenter_ranges_forget() -> None:
    """Drop this process's copy; the next lookup reads the table again."""
    _loaded.update(version=None, ranges=None, checked=0.0)


def datacenter_ranges() -> RangeSet:
    if _loaded["ranges"] is not None and time.monotonic() - _loaded["checked"] < 60:
        return _loaded["ranges"]
    _loaded["checked"] = time.monotonic()
    state = DatacenterRange.objects.aggregate(count=Count("id"), latest=Max("loaded_at"))
    version = (state["count"], state["latest"])
    if _loaded["version"] != version:
        if state["count"]:
            ranges = RangeSet.build(list(DatacenterRange.objects.values_list("cidr", "provider")), source="table")
        else:
            ranges = RangeSet.build(ranges_parse(SHIPPED_FILE.read_text()), source="file")
        _loaded.update(version=version, ranges=ranges)
    return _loaded["ranges"]


def datacenter_ranges_replace(*, text: str, now=None) -> int:
    """Replace the table with a new list, all or nothing; answer how many networks it holds."""
    ranges = dict(ranges_parse(text))  # one row per network; a repeated network keeps its last provider
    now = now or timezone.now()
    with transaction.atomic():
        DatacenterRange.objects.all().delete()
        DatacenterRange.objects.bulk_create(
            DatacenterRange(cidr=cidr, provider=provider, loaded_at=now) for cidr, provider in ranges.items()
        )
    datacenter_ranges_forget()
    return len(ranges)
