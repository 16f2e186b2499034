"""Storing a new conversion: its row, its first status change and its rollup counts, in one statement.

`POST /v1/convert` and the postback pay for every round trip (docs/performance.md, W2), so on
PostgreSQL the three writes are one data-modifying CTE in autocommit: atomic without BEGIN and
COMMIT. The unique (advertiser, external_id) constraint decides a repeat: `ON CONFLICT DO NOTHING`
inserts nothing, and the caller answers with the first conversion. Other databases (the SQLite
demo) run the same statements one by one in a transaction.
"""

# ruff: noqa: S608 - table and column names come from the models; every value is a bound parameter.

from django.db import connection, transaction

from conversions.models import Conversion, ConversionStat, ConversionSub1Stat, StatusChange
from referrals.rollups import rollup_bucket, rollup_upsert_sql

_FIELDS = Conversion._meta.concrete_fields
_INSERT_SQL = (
    f"INSERT INTO {Conversion._meta.db_table} ({', '.join(field.column for field in _FIELDS)}) "
    f"VALUES ({', '.join(['%s'] * len(_FIELDS))}) "
    "ON CONFLICT (advertiser_id, external_id) DO NOTHING RETURNING id"
)
_STATUS_COLUMNS = ["conversion_id", "from_status", "to_status", "reason", "remark", "actor_id", "channel", "created_at"]
_STATUS_VALUES = "%s, '', %s, %s, '', NULL, %s, %s"
_STATUS_TABLE = StatusChange._meta.db_table
_COUNTERS = ["conversions", "earnings"]
_KEY = ["partner_id", "bucket", "offer_id"]


def _rollup_sql(source: str) -> tuple[str, str]:
    """The conversion rollup and its per-sub1 twin, counting one conversion (no earnings yet)."""
    return (
        rollup_upsert_sql(ConversionStat._meta.db_table, [*_KEY, "currency"], _COUNTERS, source=source % "%s, ''"),
        rollup_upsert_sql(
            ConversionSub1Stat._meta.db_table, [*_KEY, "sub1", "currency"], _COUNTERS, source=source % "%s, %s, ''"
        ),
    )


# In the CTE every later write selects FROM the inserted row: a repeat (no row) writes nothing at all.
_CTE_STAT_SQL, _CTE_SUB1_SQL = _rollup_sql("SELECT %%s, %%s, %s, 1, 0 FROM new")
_CTE_HEAD = (
    f"WITH new AS ({_INSERT_SQL}), "
    f"status AS (INSERT INTO {_STATUS_TABLE} ({', '.join(_STATUS_COLUMNS)}) "
    f"SELECT {_STATUS_VALUES.replace('%s', 'new.id', 1)} FROM new)"
)
_CTE_SQL = f"{_CTE_HEAD} SELECT id FROM new"
_CTE_WITH_ROLLUPS_SQL = f"{_CTE_HEAD}, stat AS ({_CTE_STAT_SQL}), sub1 AS ({_CTE_SUB1_SQL}) SELECT id FROM new"
# One statement at a time, for databases without data-modifying CTEs.
_STATUS_SQL = f"INSERT INTO {_STATUS_TABLE} ({', '.join(_STATUS_COLUMNS)}) VALUES ({_STATUS_VALUES})"
_STAT_SQL, _SUB1_SQL = _rollup_sql("VALUES (%%s, %%s, %s, 1, 0)")


def _row_values(conversion: Conversion) -> list:
    return [field.get_db_prep_save(field.pre_save(conversion, True), connection) for field in _FIELDS]


def conversion_insert(conversion: Conversion, *, sub1: str = "") -> bool:
    """Insert the unsaved conversion with its first status change and rollup counts; False if the
    advertiser's external id exists (nothing is written then). `sub1` is the click's, for the rollup."""
    status = [conversion.status, conversion.status_reason, conversion.channel, conversion.created_at]
    counted = conversion.partner_id is not None
    rollup_key = [conversion.partner_id, rollup_bucket(conversion.created_at), conversion.offer_id]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            params = [*_row_values(conversion), *status]
            if counted:
                params += [*rollup_key, *rollup_key, sub1]
            cursor.execute(_CTE_WITH_ROLLUPS_SQL if counted else _CTE_SQL, params)
            inserted = cursor.fetchone() is not None
        else:
            with transaction.atomic():
                cursor.execute(_INSERT_SQL, _row_values(conversion))
                inserted = cursor.fetchone() is not None
                if inserted:
                    cursor.execute(_STATUS_SQL, [conversion.pk, *status])
                    if counted:
                        cursor.execute(_STAT_SQL, rollup_key)
                        cursor.execute(_SUB1_SQL, [*rollup_key, sub1])
    if inserted:
        conversion._state.adding = False
        conversion._state.db = connection.alias
    return inserted
