"""Writing new conversions: the rows, their first status changes and their rollup counts, in one statement.

One data-modifying CTE inserts with `ON CONFLICT DO NOTHING` (the unique constraints decide a repeat, races
included) and, from the rows inserted only, writes their status changes and
rollup counts. One conversion is a VALUES row of parameters: one round trip in autocommit, atomic without
BEGIN/COMMIT. Many (a CSV chunk) go by COPY into a temporary table the statement reads. Triggers copy the
click's sub ids onto the row and keep the per-partner sums (migrations conversions 0009-0011).
"""

# ruff: noqa: S608 - table and column names come from the models; every value is a bound parameter.

from uuid import UUID

from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, connection, transaction

from conversions.models import Conversion, StatusChange
from conversions.rollups import conversion_rollup_sql
from referrals.rollups import BUCKET_SQL, DAY_SQL

# What varies from one conversion to the next, in the order of a row tuple (recording.conversion_row).
ROW_COLUMNS = (
    "id created_at offer_id partner_id click_id external_id type status status_reason status_remark amount currency"
    " product_id category quantity plan subscription_id source user_agent meta attribution ip country device"
    " browser os is_bot headers ip_from_visitor user_agent_from_visitor occurred_at processed_at"
).split()
# The same for every conversion of one call, bound once. The id and created_at are the row's: the intake log
# (conversions/intake/intake_log.py) answers with them before the writer stores the row.
_SHARED = ("advertiser_id", "channel")
# A new conversion's values that no channel sets (screening and processing fill them later).
_FIXED = {
    "reward_explanation": "'{}'::jsonb",
    "fraud_score": "0",
    "fraud_signals": "'[]'::jsonb",
    "screened_at": "NULL",
    # Overwritten by the trigger with the click's sub ids.
    **{f"sub{n}": "''" for n in range(1, 6)},
}
_FIELDS = {field.column: field for field in Conversion._meta.concrete_fields}
if _missing := set(_FIELDS) - {*ROW_COLUMNS, *_SHARED, *_FIXED}:
    # A new Conversion field must say where a new conversion's value comes from.
    raise ImproperlyConfigured(f"conversions/intake/conversion_rows.py writes no value for: {sorted(_missing)}")

_TABLE = Conversion._meta.db_table
_STAGE = "pg_temp.conversion_intake_stage"
_TYPES = [_FIELDS[name].db_type(connection) for name in ROW_COLUMNS]
_VALUES_SOURCE = (
    f"SELECT * FROM (VALUES ({', '.join(f'%s::{kind}' for kind in _TYPES)})) AS input ({', '.join(ROW_COLUMNS)})"
)
_STAGE_SOURCE = f"SELECT {', '.join(ROW_COLUMNS)} FROM {_STAGE}"
# Emptied before it is filled: a commit empties it, but one transaction may record several batches.
_STAGE_CREATE = (
    f"CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGE.removeprefix('pg_temp.')} ON COMMIT DELETE ROWS AS "
    f"SELECT {', '.join(ROW_COLUMNS)} FROM {_TABLE} WITH NO DATA; DELETE FROM {_STAGE}"
)
_STAGE_COPY = f"COPY {_STAGE} ({', '.join(ROW_COLUMNS)}) FROM STDIN"

_COLUMNS = list(_FIELDS)
_SELECTED = ", ".join(
    f"input.{name}" if name in ROW_COLUMNS else "%s" if name in _SHARED else _FIXED[name] for name in _COLUMNS
)
_SHARED_ORDER = [name for name in _COLUMNS if name in _SHARED]  # as their parameters appear in _SELECTED
_STATUS_COLUMNS = "conversion_id, from_status, to_status, reason, remark, actor_id, channel, created_at"
# Grouped per rollup row: ON CONFLICT DO UPDATE may touch a row once per statement. Ordered, so that
# two writers take the rows' locks in the same order.
_COUNTED = "FROM new WHERE partner_id IS NOT NULL"


def _counted(*, day: bool, sub1: bool, offer: bool) -> str:
    keys = ["partner_id", "day" if day else "bucket", *(["offer_id"] if offer else []), *(["sub1"] if sub1 else [])]
    order = ", ".join(str(n) for n in range(1, len(keys) + 1))
    return f"SELECT {', '.join(keys)}, '', count(*), 0 {_COUNTED} GROUP BY {order} ORDER BY {order}"


_ROLLUPS = conversion_rollup_sql(source=_counted)
_INSERT_SQL = (
    "WITH input AS ({source}), "
    f"new AS (INSERT INTO {_TABLE} ({', '.join(_COLUMNS)}) SELECT {_SELECTED} FROM input {{conflict}}"
    f"RETURNING id, external_id, status, status_reason, channel, created_at, partner_id, offer_id, sub1, "
    f"{BUCKET_SQL} AS bucket, {DAY_SQL} AS day), "
    f"status AS (INSERT INTO {StatusChange._meta.db_table} ({_STATUS_COLUMNS}) "
    "SELECT id, '', status, status_reason, '', %s, channel, created_at FROM new), "
    f"stat AS ({_ROLLUPS.quarter}), sub1 AS ({_ROLLUPS.quarter_sub1}), "
    f"stat_day AS ({_ROLLUPS.day}), sub1_day AS ({_ROLLUPS.day_sub1}), "
    f"partner_sub1_day AS ({_ROLLUPS.partner_day_sub1}) "
    "SELECT external_id, id FROM new"
)
# Any unique key, not only (advertiser_id, external_id): a logged conversion comes with its id, and a read that
# stores it first (log_writer.logged_conversions_write) races the writer's batch holding the same row. The loser
# can pass the external-id check before the winner's row is there and then meet it in the primary key.
_SKIP_TAKEN = "ON CONFLICT DO NOTHING "
_ONE_SQL = _INSERT_SQL.replace("{source}", _VALUES_SOURCE).replace("{conflict}", _SKIP_TAKEN)
_MANY_SQL = _INSERT_SQL.replace("{source}", _STAGE_SOURCE).replace("{conflict}", _SKIP_TAKEN)
# Without the conflict clause: ON CONFLICT's speculative insertion made a chunk's insert half as slow again.
_MANY_NEW_SQL = _INSERT_SQL.replace("{source}", _STAGE_SOURCE).replace("{conflict}", "")


def conversion_rows_insert(
    rows: list[tuple], *, advertiser_id: int, channel: str, actor_id: int | None
) -> dict[str, UUID]:
    """Insert the conversions (tuples of ROW_COLUMNS) with their first status changes and rollup counts; the new
    ones' ids by external id. An external id already taken (or by an earlier row) is skipped, writing nothing."""
    if not rows:
        return {}
    values = {"advertiser_id": advertiser_id, "channel": channel}
    shared = [*(values[name] for name in _SHARED_ORDER), actor_id]
    with connection.cursor() as cursor:
        if len(rows) == 1:
            cursor.execute(_ONE_SQL, [*rows[0], *shared])
            return dict(cursor.fetchall())
        # COPY in autocommit would commit, and so empty, the table before the insert reads it.
        with transaction.atomic(savepoint=False):
            cursor.execute(_STAGE_CREATE)
            with cursor.cursor.copy(_STAGE_COPY) as copy:
                for row in rows:
                    copy.write_row(row)
            # New external ids are the common case (a file imported again, or a race with the API, is
            # not): insert them plainly, and only when one is taken go again skipping the taken ones.
            try:
                with transaction.atomic():
                    cursor.execute(_MANY_NEW_SQL, shared)
                    return dict(cursor.fetchall())
            except IntegrityError:
                cursor.execute(_MANY_SQL, shared)
                return dict(cursor.fetchall())
