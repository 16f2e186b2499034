"""Report periods: presets and custom ranges of local days in the partner's time zone, as UTC bounds."""

import zoneinfo
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

PRESETS = {
    "today": "Today",
    "yesterday": "Yesterday",
    "last_7": "Last 7 days",
    "last_30": "Last 30 days",
    "this_month": "This month",
    "last_month": "Last month",
    "custom": "Custom",
}
MAX_PERIOD_DAYS = 366


@dataclass(frozen=True)
class Period:
    """Whole local days, `start` to `end` inclusive, in a time zone."""

    start: date
    end: date
    tz: zoneinfo.ZoneInfo

    @property
    def utc_start(self) -> datetime:
        # combine() with a ZoneInfo gives local midnight with the offset of that date: DST is handled.
        return datetime.combine(self.start, time.min, tzinfo=self.tz)

    @property
    def utc_end(self) -> datetime:
        """Exclusive: the local midnight after the last day."""
        return datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=self.tz)

    def days(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days + 1)]


def period_for_preset(preset: str, *, today: date, tz: zoneinfo.ZoneInfo) -> Period:
    yesterday, last_month_end = today - timedelta(days=1), today.replace(day=1) - timedelta(days=1)
    start, end = {
        "today": (today, today),
        "yesterday": (yesterday, yesterday),
        "last_30": (today - timedelta(days=29), today),
        "this_month": (today.replace(day=1), today),
        "last_month": (last_month_end.replace(day=1), last_month_end),
    }.get(preset, (today - timedelta(days=6), today))  # last_7, the default
    return Period(start, end, tz)
