"""The click table's monthly partitions: made ahead of time, and retired once all their clicks are past retention.

The table is `PARTITION BY RANGE (created_at)` (migration 0002): one partition per UTC month, named
`referrals_click_pYYYY_MM`, and a DEFAULT partition that catches a click outside them (a clock far off, a row
with an old date) instead of failing its write. Plain SQL on the catalog, run by the scheduler (config/cron.py);
pg_partman would bring its own scheduler and an extension the embedded server lacks, for what fits here.

`click_partitions_maintain` is safe to run twice and to overlap with itself: a session advisory lock lets one
run at a time (another returns at once), and each step looks at the catalog first, so a second run finds nothing
left to do. DDL waits at most LOCK_TIMEOUT for its lock (a long report query never queues every click write
behind a DETACH); what could not run is done by the next run.
"""

# ruff: noqa: S608 - table names are ours and bounds are our own datetimes; no input is formatted into SQL.

import logging
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from referrals.models import Click, Offer

log = logging.getLogger(__name__)

TABLE = Click._meta.db_table
DEFAULT_PARTITION = f"{TABLE}_default"
_NAME = re.compile(rf"^{TABLE}_p(\d{{4}})_(\d{{2}})$")
_BOUNDS = re.compile(r"FROM \('([^']+)'\) TO \('([^']+)'\)")
LOCK_TIMEOUT = "5s"
_ADVISORY_LOCK = 0x636C69636B  # "click": one maintenance run at a time, in any process


@dataclass(frozen=True)
class ClickPartition:
    name: str
    start: datetime
    end: datetime


def month_start(moment: datetime) -> datetime:
    """The first instant of the UTC month holding `moment`."""
    return moment.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def month_after(start: datetime, months: int = 1) -> datetime:
    index = start.year * 12 + start.month - 1 + months
    return start.replace(year=index // 12, month=index % 12 + 1)


def partition_name(start: datetime) -> str:
    return f"{TABLE}_p{start:%Y_%m}"


def _rows(sql: str, params=()) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def click_partitions() -> list[ClickPartition]:
    """The monthly partitions attached to the click table, oldest first (not the DEFAULT one)."""
    rows = _rows(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = %s::regclass",
        [TABLE],
    )
    partitions = []
    for name, bound in rows:
        if found := _BOUNDS.search(bound):
            partitions.append(ClickPartition(name, *(datetime.fromisoformat(value) for value in found.groups())))
    return sorted(partitions, key=lambda partition: partition.start)


def _detached_partitions() -> list[str]:
    """Monthly click tables left out of the click table by an earlier retirement (a detach)."""
    rows = _rows(
        "SELECT c.relname FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r' "
        "AND NOT c.relispartition AND c.relname LIKE %s",
        [f"{TABLE}\\_p%"],
    )
    return sorted(name for (name,) in rows if _NAME.match(name))


def _default_partition_months() -> list[datetime]:
    rows = _rows(f"SELECT DISTINCT date_trunc('month', created_at AT TIME ZONE 'UTC') FROM {DEFAULT_PARTITION}")
    return [month.replace(tzinfo=UTC) for (month,) in rows]


def clicks_held_since() -> datetime | None:
    """From when the click table holds every click: the start of its oldest month, or an older click the DEFAULT
    partition holds; months retired before it are gone (None: no click and no month)."""
    oldest = [partition.start for partition in click_partitions()[:1]]
    [(in_default,)] = _rows(f"SELECT min(created_at) FROM {DEFAULT_PARTITION}")
    return min([*oldest, in_default] if in_default else oldest, default=None)


def _lock_timeout_set(cursor) -> None:
    cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")


def _partition_create(start: datetime) -> str:
    """Make the month's partition, moving into it any of its clicks the DEFAULT partition holds (ATTACH refuses
    a range the DEFAULT partition has rows of). CREATE ... PARTITION OF would lock the whole table; LIKE and
    ATTACH lock it only against other DDL."""
    name, end = partition_name(start), month_after(start)
    bounds = f"FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
    with transaction.atomic(), connection.cursor() as cursor:
        _lock_timeout_set(cursor)
        cursor.execute(f"CREATE TABLE {name} (LIKE {TABLE} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
        cursor.execute(
            f"WITH moved AS (DELETE FROM {DEFAULT_PARTITION} WHERE created_at >= %s AND created_at < %s RETURNING *) "
            f"INSERT INTO {name} SELECT * FROM moved",
            [start, end],
        )
        cursor.execute(f"ALTER TABLE {TABLE} ATTACH PARTITION {name} FOR VALUES {bounds}")
    return name


def click_partitions_ensure(*, now: datetime, ahead_months: int, retention_days: int = 0) -> list[str]:
    """Every month from the oldest partition (or the oldest click the DEFAULT partition holds) to `ahead_months`
    after this one, without gaps: a query bounded in time then never reads the DEFAULT partition. Nothing before
    the first month retention keeps. Returns the partitions made."""
    have = {partition.start for partition in click_partitions()}
    adopted = set(_default_partition_months())
    this_month = month_start(now)
    first_kept = month_start(now - timedelta(days=retention_days)) if retention_days > 0 else None
    if first_kept and (stale := sorted(month for month in adopted if month < first_kept)):
        # Its month was retired (and may still be a detached table of that name): left where it is.
        log.warning("click partitions: the DEFAULT partition holds clicks past retention, from %s", stale[0].date())
        adopted -= set(stale)
    month = min(have | adopted | {this_month})
    if first_kept:
        month = max(month, first_kept)
    wanted = set(adopted)
    while month <= month_after(this_month, ahead_months):
        wanted.add(month)
        month = month_after(month)
    return [_partition_create(start) for start in sorted(wanted - have)]


def click_retention_refusal(*, retention_days: int) -> str:
    """Why clicks may not be retired after `retention_days` (empty: they may). Attribution reads a click up to
    its offer's cookie window after it, and a claim may come CLAIM_MAX_AGE_DAYS after a purchase."""
    longest = Offer.objects.aggregate(longest=Max("cookie_window_days"))["longest"] or 0
    needed = longest + settings.CLAIM_MAX_AGE_DAYS
    if retention_days > needed:
        return ""
    return (
        f"CLICK_RETENTION_DAYS={retention_days} is not longer than the longest cookie window ({longest} days) "
        f"plus the claim window (CLAIM_MAX_AGE_DAYS={settings.CLAIM_MAX_AGE_DAYS}): no partition is retired"
    )


def _archive(name: str, directory: Path) -> Path:
    """COPY the detached month to `<directory>/<name>.csv` (a header, then a row per click), written whole."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.csv"
    partial = path.with_name(f"{path.name}.partial")
    with connection.cursor() as cursor, partial.open("wb") as file:
        with cursor.connection.cursor().copy(f"COPY {name} TO STDOUT WITH (FORMAT csv, HEADER)") as copy:
            for data in copy:
                file.write(data)
        file.flush()
        os.fsync(file.fileno())
    partial.replace(path)
    return path


def _retired_finish(name: str, mode: str) -> None:
    """Archive (in that mode) and drop a detached month; in "detach" mode it stays as it is."""
    if mode == "detach":
        return
    if mode == "archive":
        log.info("click partition %s archived to %s", name, _archive(name, Path(settings.CLICK_PARTITION_ARCHIVE_DIR)))
    with transaction.atomic(), connection.cursor() as cursor:
        _lock_timeout_set(cursor)
        cursor.execute(f"DROP TABLE {name}")


def click_partitions_retire(*, now: datetime, retention_days: int, mode: str) -> list[str]:
    """Detach the months whose every click is older than `retention_days` (0: none), then archive and drop them
    as `mode` says; refused, and logged, while the retention is not longer than the windows that read clicks."""
    if retention_days <= 0:
        return []
    if refusal := click_retention_refusal(retention_days=retention_days):
        log.error("click partitions: %s", refusal)
        return []
    cutoff = now - timedelta(days=retention_days)
    retired = []
    for partition in click_partitions():
        if partition.end > cutoff:
            break
        # Plain DETACH: CONCURRENTLY is not allowed beside a DEFAULT partition; the lock is brief (no scan).
        with transaction.atomic(), connection.cursor() as cursor:
            _lock_timeout_set(cursor)
            cursor.execute(f"ALTER TABLE {TABLE} DETACH PARTITION {partition.name}")
        log.info("click partition %s detached (clicks before %s)", partition.name, partition.end.isoformat())
        retired.append(partition.name)
    # A run stopped between the detach and the drop left its month detached: finished here.
    for name in _detached_partitions():
        _retired_finish(name, mode)
    return retired


def click_partitions_maintain(*, now: datetime | None = None) -> dict:
    """Make the partitions ahead and retire those past retention (the settings say how far); what it did."""
    now = now or timezone.now()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [_ADVISORY_LOCK])
        if not cursor.fetchone()[0]:
            return {"skipped": True, "created": [], "retired": []}
    retention = settings.CLICK_RETENTION_DAYS
    try:
        created = click_partitions_ensure(
            now=now,
            ahead_months=settings.CLICK_PARTITIONS_AHEAD_MONTHS,
            # A refused retention keeps every month, the old clicks in the DEFAULT partition too.
            retention_days=0 if retention <= 0 or click_retention_refusal(retention_days=retention) else retention,
        )
        retired = click_partitions_retire(now=now, retention_days=retention, mode=settings.CLICK_PARTITION_RETIRE)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [_ADVISORY_LOCK])
    for name in created:
        log.info("click partition %s created", name)
    return {"skipped": False, "created": created, "retired": retired}
