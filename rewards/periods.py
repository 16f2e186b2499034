"""Calendar arithmetic in local calendar days (validation terms, spend periods, months): on the local date,
turned back into an instant with zoneinfo, so right across DST changes."""

import calendar
import zoneinfo
from datetime import UTC, date, datetime, time, timedelta

EPOCH = date(1970, 1, 1)  # the one "period" of an all-time limit


def local_midnight(day: date, time_zone: str) -> datetime:
    """The instant (UTC) `day` begins in `time_zone`; where DST skips midnight, `fold=0` gives its first instant."""
    return datetime.combine(day, time.min, tzinfo=zoneinfo.ZoneInfo(time_zone)).astimezone(UTC)


def local_date(moment: datetime, time_zone: str) -> date:
    return moment.astimezone(zoneinfo.ZoneInfo(time_zone)).date()


def validation_term_end(occurred_at: datetime, *, term_days: int, time_zone: str) -> datetime:
    """The end of the `term_days`-th local day after the conversion: 2025-03-01 15:00 in New York, 10 days ->
    2025-03-12 00:00 there (04:00 UTC, after DST began)."""
    return local_midnight(local_date(occurred_at, time_zone) + timedelta(days=term_days + 1), time_zone)


def spend_period_start(occurred_at: datetime, *, period: str, time_zone: str) -> date:
    """The first local day of the period a conversion counts in: its day, ISO week (Monday), month, or all time."""
    day = local_date(occurred_at, time_zone)
    if period == "day":
        return day
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    return EPOCH


def months_after(moment: datetime, months: int) -> datetime:
    """The same day and time `months` calendar months later, clamped to the month's last day."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))
