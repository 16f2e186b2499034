"""The click rollups: counts per quarter hour, partner and offer (and per sub1), added to as clicks happen."""

# ruff: noqa: S608 - table and column names are our own; no value is formatted into SQL.

from datetime import datetime

from django.db import connection

from referrals.models import Click, ClickStat, ClickSub1Stat
from referrals.partitions import clicks_held_since

BUCKET_MINUTES = 15


def rollup_bucket(moment: datetime) -> datetime:
    """The start of the UTC quarter hour holding `moment`."""
    return moment.replace(minute=moment.minute - moment.minute % BUCKET_MINUTES, second=0, microsecond=0)


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
# rollup_bucket in PostgreSQL, for rollups counted in SQL from rows with a created_at.
BUCKET_SQL = "date_bin('15 minutes', created_at, TIMESTAMPTZ '2000-01-01 00:00:00+00')"
_CLICKS = ["clicks", "unique_clicks"]
CLICK_SQL = rollup_upsert_sql(ClickStat._meta.db_table, ROLLUP_KEY, _CLICKS)
CLICK_SUB1_SQL = rollup_upsert_sql(ClickSub1Stat._meta.db_table, [*ROLLUP_KEY, "sub1"], _CLICKS)


def rollups_add(by_sub1: dict[tuple, list], *, sql: str, sub1_sql: str) -> None:
    """Add the counters per (partner, bucket, offer, sub1, ...) to a sub1 rollup (`sub1_sql`) and, summed over sub1,
    to its main rollup (`sql`): one statement each."""
    if not by_sub1:
        return
    totals: dict[tuple, list] = {}
    for (partner_id, bucket, offer_id, _, *rest), counters in by_sub1.items():
        total = totals.setdefault((partner_id, bucket, offer_id, *rest), [0] * len(counters))
        for index, value in enumerate(counters):
            total[index] += value
    with connection.cursor() as cursor:
        cursor.executemany(sql, [[*key, *counters] for key, counters in totals.items()])
        cursor.executemany(sub1_sql, [[*key, *counters] for key, counters in by_sub1.items()])


def rollup_click_counts_add(by_sub1: dict[tuple, list[int]]) -> None:
    """Add (clicks, unique clicks) per (partner, bucket, offer, sub1) to both click rollups: the one way they grow."""
    rollups_add(by_sub1, sql=CLICK_SQL, sub1_sql=CLICK_SUB1_SQL)


def rollup_clicks_rebuild() -> int:
    """Recount the click rollups from the clicks (in a transaction, writes paused); returns the sub1 rows made.

    Only from the oldest month the click table still holds: the counts of months retired past
    CLICK_RETENTION_DAYS (referrals/partitions.py) stay as they were counted."""
    since = clicks_held_since()
    start = rollup_bucket(since) if since else None
    kept = {"bucket__lt": start} if start else {}
    ClickStat.objects.exclude(**kept).delete()
    ClickSub1Stat.objects.exclude(**kept).delete()
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
