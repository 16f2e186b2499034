"""The click rollups: counts per quarter hour, partner and offer (and per sub1), added to as clicks happen; the same
by UTC day, added to by the same statements' caller, so that a long period sums days, not quarter hours."""

# ruff: noqa: S608 - table and column names are our own; no value is formatted into SQL.

from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import connection

from referrals.models import (
    Click,
    ClickDayStat,
    ClickStat,
    ClickSub1DayStat,
    ClickSub1Stat,
    PartnerClickSub1DayStat,
)
from referrals.partitions import clicks_held_since

BUCKET_MINUTES = 15


def rollup_bucket(moment: datetime) -> datetime:
    """The start of the UTC quarter hour holding `moment`."""
    return moment.replace(minute=moment.minute - moment.minute % BUCKET_MINUTES, second=0, microsecond=0)


def rollup_day(bucket: datetime) -> datetime:
    """The start of the UTC day holding `bucket`: the key of the day-grain rollups."""
    return bucket.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _counters_add(table: str, keys: list[str], counters: list[str]) -> str:
    """The ON CONFLICT clause that adds the new counters to the row with the same key."""
    return f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET " + ", ".join(
        f"{name} = {table}.{name} + excluded.{name}" for name in counters
    )


def rollup_upsert_sql(table: str, keys: list[str], counters: list[str], *, source: str = "") -> str:
    """INSERT counters, or add them to the row with the same key (writers add up, never race); `source` replaces
    the VALUES row, e.g. with `SELECT %s, ... FROM new` inside a data-modifying CTE."""
    columns = [*keys, *counters]
    source = source or f"VALUES ({', '.join(['%s'] * len(columns))})"
    return f"INSERT INTO {table} ({', '.join(columns)}) {source} {_counters_add(table, keys, counters)}"


ROLLUP_KEY = ["partner_id", "bucket", "offer_id"]
# rollup_bucket and rollup_day in PostgreSQL, for rollups counted in SQL from rows with a created_at.
BUCKET_SQL = "date_bin('15 minutes', created_at, TIMESTAMPTZ '2000-01-01 00:00:00+00')"
DAY_SQL = "date_bin('1 day', created_at, TIMESTAMPTZ '2000-01-01 00:00:00+00')"


@dataclass(frozen=True)
class RollupStatements:
    """The upserts of one family of rollups, all added to together: per quarter hour and per UTC day, each per offer
    and per offer and sub1; and per UTC day and sub1 over all offers (`partner_day_sub1`)."""

    quarter: str
    quarter_sub1: str
    day: str
    day_sub1: str
    partner_day_sub1: str


def rollup_statements(models: tuple, *, keys_after: list[str], counters: list[str], source=None) -> RollupStatements:
    """The family's upserts for `models` (quarter, quarter sub1, day, day sub1, partner day sub1) keyed by ROLLUP_KEY
    (sub1; the last without the offer) and `keys_after`; `source(day=, sub1=, offer=)`, if given, replaces each one's
    VALUES row (rollup_upsert_sql)."""
    statements = []
    shapes = [(False, False, True), (False, True, True), (True, False, True), (True, True, True), (True, True, False)]
    for model, (day, sub1, offer) in zip(models, shapes, strict=True):
        keys = [key for key in ROLLUP_KEY if offer or key != "offer_id"]
        keys += [*(["sub1"] if sub1 else []), *keys_after]
        chosen = source(day=day, sub1=sub1, offer=offer) if source else ""
        statements.append(rollup_upsert_sql(model._meta.db_table, keys, counters, source=chosen))
    return RollupStatements(*statements)


CLICK_ROLLUPS = (ClickStat, ClickSub1Stat, ClickDayStat, ClickSub1DayStat, PartnerClickSub1DayStat)
CLICK_STATEMENTS = rollup_statements(CLICK_ROLLUPS, keys_after=[], counters=["clicks", "unique_clicks"])


def _summed(by_key: dict[tuple, list], key) -> dict[tuple, list]:
    found: dict[tuple, list] = {}
    for old, counters in by_key.items():
        total = found.setdefault(key(old), [0] * len(counters))
        for index, value in enumerate(counters):
            total[index] += value
    return found


def rollups_add(by_sub1: dict[tuple, list], *, statements: RollupStatements) -> None:
    """Add the counters per (partner, bucket, offer, sub1, ...) to a family's rollups: as they are to its sub1
    rollups, summed over sub1 to its main ones, per quarter hour and per UTC day, and per UTC day and sub1 summed
    over offers; one statement each."""
    if not by_sub1:
        return
    day_sub1 = _summed(by_sub1, lambda key: (key[0], rollup_day(key[1]), *key[2:]))
    rows = {
        statements.quarter: _summed(by_sub1, lambda key: (*key[:3], *key[4:])),
        statements.quarter_sub1: by_sub1,
        statements.day: _summed(day_sub1, lambda key: (*key[:3], *key[4:])),
        statements.day_sub1: day_sub1,
        statements.partner_day_sub1: _summed(day_sub1, lambda key: (*key[:2], *key[3:])),
    }
    with connection.cursor() as cursor:
        for sql, by_key in rows.items():
            cursor.executemany(sql, [[*key, *counters] for key, counters in by_key.items()])


def rollup_click_counts_add(by_sub1: dict[tuple, list[int]]) -> None:
    """Add (clicks, unique clicks) per (partner, bucket, offer, sub1) to the click rollups: the one way they grow."""
    rollups_add(by_sub1, statements=CLICK_STATEMENTS)


def rollup_clicks_rebuild() -> int:
    """Recount the click rollups from the clicks (in a transaction, writes paused); returns the sub1 rows made.

    Only from the oldest month the click table still holds: the counts of months retired past
    CLICK_RETENTION_DAYS (referrals/partitions.py) stay as they were counted (a month starts a UTC day)."""
    since = clicks_held_since()
    start = rollup_day(since) if since else None
    kept = {"bucket__lt": start} if start else {}
    for model in CLICK_ROLLUPS:
        model.objects.exclude(**kept).delete()
    by_sub1: dict[tuple, list[int]] = {}
    rows = Click.objects.filter(**({"created_at__gte": start} if start else {}))
    rows = rows.values_list("partner_id", "created_at", "offer_id", "sub1", "is_unique")
    for partner_id, created_at, offer_id, sub1, is_unique in rows.iterator(chunk_size=10_000):
        total = by_sub1.setdefault((partner_id, rollup_bucket(created_at), offer_id, sub1), [0, 0])
        total[0] += 1
        total[1] += int(is_unique)
    rollup_click_counts_add(by_sub1)
    return len(by_sub1)


def partner_rollup_trigger(*, source: str, target: str) -> str:
    """The name of the trigger (and its function) that keeps `target` in step with `source` (their migrations)."""
    return f"{source}_to_{target}"


def partner_rollup_fill_sql(
    *, source: str, target: str, keys: list[str], counters: list[str], where="true", add=False
) -> str:
    """Insert what the `source` rows matching `where` hold into `target`, summed over the keys `target` lacks;
    `add`: to the rows already there (an upsert)."""
    sql = (
        f"INSERT INTO {target} ({', '.join([*keys, *counters])}) SELECT {', '.join(keys)}, "
        + ", ".join(f"sum({counter})" for counter in counters)
        + f" FROM {source} WHERE {where} GROUP BY {', '.join(keys)}"
    )
    return f"{sql} {_counters_add(target, keys, counters)}" if add else sql


def day_rollup_fill_sql(*, source: str, target: str, keys: list[str], counters: list[str], where="true") -> str:
    """Insert the `source` quarter-hour rows matching `where` into the day-grain `target`, summed per UTC day (the
    other `keys` kept): a day rollup equal to its quarter hours, for a migration and the bench's data set."""
    day = "date_bin('1 day', bucket, TIMESTAMPTZ '2000-01-01 00:00:00+00')"
    chosen = [day if key == "bucket" else key for key in keys]
    return (
        f"INSERT INTO {target} ({', '.join([*keys, *counters])}) SELECT {', '.join(chosen)}, "
        + ", ".join(f"sum({counter})" for counter in counters)
        + f" FROM {source} WHERE {where} GROUP BY {', '.join(chosen)}"
    )


def partner_rollup_sync_sql(*, source: str, target: str, keys: list[str], counters: list[str]) -> tuple[list, list]:
    """(up, down) statements, for a migration's RunSQL, of the trigger that keeps `target` equal to `source`
    summed over its offers: each change of a source row adds its difference to the target row with the same
    `keys`, in the writer's transaction, so the two agree whoever writes."""
    name = partner_rollup_trigger(source=source, target=target)
    columns = ", ".join([*keys, *counters])

    def add(row: str, sign: str) -> str:
        values = ", ".join([f"{row}.{key}" for key in keys] + [f"{sign}{row}.{counter}" for counter in counters])
        return f"INSERT INTO {target} ({columns}) VALUES ({values}) {_counters_add(target, keys, counters)};"

    up = [
        f"""CREATE OR REPLACE FUNCTION {name}() RETURNS trigger AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN {add("OLD", "-")} END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN {add("NEW", "")} END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql""",
        f"CREATE TRIGGER {name} AFTER INSERT OR UPDATE OR DELETE ON {source} FOR EACH ROW EXECUTE FUNCTION {name}()",
    ]
    return up, [f"DROP TRIGGER IF EXISTS {name} ON {source}", f"DROP FUNCTION IF EXISTS {name}()"]
