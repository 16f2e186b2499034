"""The click rollups: counts per quarter hour, partner and offer (and per sub1), added to as clicks happen."""

from datetime import datetime

from django.db import connection

from referrals.models import Click, ClickStat, ClickSub1Stat

BUCKET_MINUTES = 15


def rollup_bucket(moment: datetime) -> datetime:
    """The start of the UTC quarter hour holding `moment`."""
    return moment.replace(minute=moment.minute - moment.minute % BUCKET_MINUTES, second=0, microsecond=0)


def rollup_upsert_sql(table: str, keys: list[str], counters: list[str], *, source: str = "") -> str:
    """INSERT a row of counters, or add them to the row with the same key: concurrent writers add up, never race.

    `source` replaces the VALUES row, e.g. with `SELECT %s, ... FROM new` inside a data-modifying CTE.
    """
    columns = [*keys, *counters]
    source = source or f"VALUES ({', '.join(['%s'] * len(columns))})"
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) {source} "
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET "
        + ", ".join(f"{name} = {table}.{name} + excluded.{name}" for name in counters)
    )


def rollup_upsert_pair(first_sql: str, first_params: list, second_sql: str, second_params: list) -> None:
    """Both upserts; on PostgreSQL in one round trip (a data-modifying CTE), since the click path pays per trip."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"WITH first AS ({first_sql} RETURNING 1) {second_sql}", [*first_params, *second_params])
        else:
            cursor.execute(first_sql, first_params)
            cursor.execute(second_sql, second_params)


ROLLUP_KEY = ["partner_id", "bucket", "offer_id"]
# rollup_bucket in PostgreSQL, for rollups counted in SQL from rows with a created_at.
BUCKET_SQL = "date_bin('15 minutes', created_at, TIMESTAMPTZ '2000-01-01 00:00:00+00')"
_CLICKS = ["clicks", "unique_clicks"]


def click_rollup_sql(*, source: str = "", sub1_source: str = "") -> tuple[str, str]:
    """The ClickStat and ClickSub1Stat upserts; a source replaces their VALUES row (rollup_upsert_sql)."""
    return (
        rollup_upsert_sql(ClickStat._meta.db_table, ROLLUP_KEY, _CLICKS, source=source),
        rollup_upsert_sql(ClickSub1Stat._meta.db_table, [*ROLLUP_KEY, "sub1"], _CLICKS, source=sub1_source),
    )


CLICK_SQL, CLICK_SUB1_SQL = click_rollup_sql()


def rollup_click_add(*, click: Click) -> None:
    """Count one click in its bucket, in both rollups."""
    key = [click.partner_id, rollup_bucket(click.created_at), click.offer_id]
    counts = [1, int(click.is_unique)]
    rollup_upsert_pair(CLICK_SQL, [*key, *counts], CLICK_SUB1_SQL, [*key, click.sub1, *counts])


def rollup_clicks_add(clicks) -> None:
    """Count many clicks at once (a buffered or bulk insert of clicks calls this with the batch)."""
    by_sub1: dict[tuple, list[int]] = {}
    for click in clicks:
        total = by_sub1.setdefault(
            (click.partner_id, rollup_bucket(click.created_at), click.offer_id, click.sub1), [0, 0]
        )
        total[0] += 1
        total[1] += int(click.is_unique)
    _write_click_counts(by_sub1)


def _write_click_counts(by_sub1: dict[tuple, list[int]]) -> None:
    totals: dict[tuple, list[int]] = {}
    for (partner_id, bucket, offer_id, _), (clicks, unique) in by_sub1.items():
        total = totals.setdefault((partner_id, bucket, offer_id), [0, 0])
        total[0] += clicks
        total[1] += unique
    with connection.cursor() as cursor:
        if totals:
            cursor.executemany(CLICK_SQL, [[*key, *counts] for key, counts in totals.items()])
        if by_sub1:
            cursor.executemany(CLICK_SUB1_SQL, [[*key, *counts] for key, counts in by_sub1.items()])


def rollup_clicks_rebuild() -> int:
    """Recount the click rollups from the click table (after a restore or an import); returns the sub1 rows made.

    Run it inside a transaction, with click writes paused, so no click is counted twice or missed.
    """
    ClickStat.objects.all().delete()
    ClickSub1Stat.objects.all().delete()
    by_sub1: dict[tuple, list[int]] = {}
    rows = Click.objects.values_list("partner_id", "created_at", "offer_id", "sub1", "is_unique")
    for partner_id, created_at, offer_id, sub1, is_unique in rows.iterator(chunk_size=10_000):
        total = by_sub1.setdefault((partner_id, rollup_bucket(created_at), offer_id, sub1), [0, 0])
        total[0] += 1
        total[1] += int(is_unique)
    _write_click_counts(by_sub1)
    return len(by_sub1)


def partner_rollup_trigger(*, source: str, target: str) -> str:
    """The name of the trigger (and, on PostgreSQL, its function) that keeps `target` in step with `source`."""
    return f"{source}_to_{target}"


def partner_rollup_fill_sql(
    *, source: str, target: str, keys: list[str], counters: list[str], where="true", add=False
) -> str:
    """Insert what the `source` rows matching `where` hold into `target`, summed over the keys `target` lacks;
    `add`: to the rows already there (an upsert)."""
    sql = (
        f"INSERT INTO {target} ({', '.join([*keys, *counters])}) SELECT {', '.join(keys)}, "  # noqa: S608
        + ", ".join(f"sum({counter})" for counter in counters)
        + f" FROM {source} WHERE {where} GROUP BY {', '.join(keys)}"
    )
    if not add:
        return sql
    return f"{sql} ON CONFLICT ({', '.join(keys)}) DO UPDATE SET " + ", ".join(
        f"{counter} = {target}.{counter} + excluded.{counter}" for counter in counters
    )


def partner_rollup_sync_sql(
    *, source: str, target: str, keys: list[str], counters: list[str], vendor: str
) -> tuple[list[str], list[str]]:
    """(up, down) statements of the triggers that keep `target` equal to `source` summed over its offers.

    `keys` are the target's key columns (partner_id, bucket, ...), all present in `source`. Each change of a
    source row adds its difference to the target row with the same keys, in the writer's transaction, so
    the two agree whoever writes (the click and conversion services, a rebuild, a bulk load). Then the
    target is filled from what the source holds already.
    """
    name = partner_rollup_trigger(source=source, target=target)
    columns = ", ".join([*keys, *counters])
    fill = partner_rollup_fill_sql(source=source, target=target, keys=keys, counters=counters)
    if vendor == "postgresql":

        def add(row: str, sign: str) -> str:
            values = ", ".join([f"{row}.{key}" for key in keys] + [f"{sign}{row}.{counter}" for counter in counters])
            return (
                f"INSERT INTO {target} ({columns}) VALUES ({values}) "  # noqa: S608 (our own tables)
                f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET "
                + ", ".join(f"{counter} = {target}.{counter} + excluded.{counter}" for counter in counters)
                + ";"
            )

        up = [
            f"""CREATE OR REPLACE FUNCTION {name}() RETURNS trigger AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN {add("OLD", "-")} END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN {add("NEW", "")} END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql""",
            f"CREATE TRIGGER {name} AFTER INSERT OR UPDATE OR DELETE ON {source} "
            f"FOR EACH ROW EXECUTE FUNCTION {name}()",
            fill,
        ]
        return up, [f"DROP TRIGGER IF EXISTS {name} ON {source}", f"DROP FUNCTION IF EXISTS {name}()"]

    def change(row: str, sign: str) -> str:
        match = " AND ".join(f"{key} = {row}.{key}" for key in keys)
        # Not INSERT OR IGNORE: inside a trigger SQLite applies the outer statement's conflict
        # clause instead (the rollup's ON CONFLICT DO UPDATE), and the duplicate key fails.
        return (
            f"INSERT INTO {target} ({columns}) SELECT "  # noqa: S608 (our own tables)
            + ", ".join([f"{row}.{key}" for key in keys] + ["0"] * len(counters))
            + f" WHERE NOT EXISTS (SELECT 1 FROM {target} WHERE {match}); UPDATE {target} SET "  # noqa: S608
            + ", ".join(f"{counter} = {counter} {sign} {row}.{counter}" for counter in counters)
            + f" WHERE {match};"
        )

    up = [
        f"CREATE TRIGGER {name}_insert AFTER INSERT ON {source} BEGIN {change('NEW', '+')} END",
        f"CREATE TRIGGER {name}_update AFTER UPDATE ON {source} BEGIN {change('OLD', '-')} {change('NEW', '+')} END",
        f"CREATE TRIGGER {name}_delete AFTER DELETE ON {source} BEGIN {change('OLD', '-')} END",
        fill,
    ]
    return up, [f"DROP TRIGGER IF EXISTS {name}_{op}" for op in ("insert", "update", "delete")]


def partner_rollup_sync_operation(*, source: str, target: str, keys: list[str], counters: list[str]):
    """The migration operation that installs (or removes) `partner_rollup_sync_sql`'s triggers."""
    from django.db import migrations

    def run(schema_editor, index: int) -> None:
        vendor = schema_editor.connection.vendor
        statements = partner_rollup_sync_sql(source=source, target=target, keys=keys, counters=counters, vendor=vendor)
        for statement in statements[index]:
            schema_editor.execute(statement, params=None)

    return migrations.RunPython(
        lambda apps, schema_editor: run(schema_editor, 0), lambda apps, schema_editor: run(schema_editor, 1)
    )
