"""Storing a new conversion: its row, its first status change and its rollup counts, in one statement.

`POST /v1/convert` and the postback pay for every round trip (docs/performance.md, W2), so on
PostgreSQL the three writes are one data-modifying CTE in autocommit: atomic without BEGIN and
COMMIT. The unique (advertiser, external_id) constraint decides a repeat: `ON CONFLICT DO NOTHING`
inserts nothing, and the caller answers with the first conversion. Other databases (the SQLite
demo) insert the row the same way and write the rest through the models, in a transaction.
"""

# ruff: noqa: S608 - table and column names come from the models; every value is a bound parameter.

from django.db import connection, transaction

from conversions.models import Conversion, StatusChange
from conversions.rollups import conversion_rollup_sql, rollup_conversion_add
from referrals.rollups import BUCKET_SQL

_FIELDS = Conversion._meta.concrete_fields
_INSERT_SQL = (
    f"INSERT INTO {Conversion._meta.db_table} ({', '.join(field.column for field in _FIELDS)}) "
    f"VALUES ({', '.join(['%s'] * len(_FIELDS))}) "
    "ON CONFLICT (advertiser_id, external_id) DO NOTHING"
)
_STATUS_COLUMNS = ["conversion_id", "from_status", "to_status", "reason", "remark", "actor_id", "channel", "created_at"]
_STATUS_TABLE = StatusChange._meta.db_table
# Every later write selects FROM the inserted row, so a repeat (no row) writes nothing at all, and
# takes its values from that row: the only parameters are the row's (psycopg caches the parsed
# statement only up to 50 parameters, and parsing this one cost a third of a millisecond). The row's
# sub1 is its click's: the database copies the sub ids on insert (migration conversions 0009).
_COUNTED = "FROM new WHERE partner_id IS NOT NULL"
_CTE_STAT_SQL, _CTE_SUB1_SQL = conversion_rollup_sql(
    source=f"SELECT partner_id, bucket, offer_id, '', 1, 0 {_COUNTED}",
    sub1_source=f"SELECT partner_id, bucket, offer_id, sub1, '', 1, 0 {_COUNTED}",
)
_CTE_SQL = (
    f"WITH new AS ({_INSERT_SQL} RETURNING id, status, status_reason, channel, created_at, "
    f"partner_id, offer_id, sub1, {BUCKET_SQL} AS bucket), "
    f"status AS (INSERT INTO {_STATUS_TABLE} ({', '.join(_STATUS_COLUMNS)}) "
    "SELECT id, '', status, status_reason, '', NULL, channel, created_at FROM new), "
    f"stat AS ({_CTE_STAT_SQL}), sub1 AS ({_CTE_SUB1_SQL}) "
    "SELECT id FROM new"
)


def _row_values(conversion: Conversion) -> list:
    return [field.get_db_prep_save(field.pre_save(conversion, True), connection) for field in _FIELDS]


def conversion_insert(conversion: Conversion) -> bool:
    """Insert the unsaved conversion with its first status change and rollup counts; False if the
    advertiser's external id exists (nothing is written then)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(_CTE_SQL, _row_values(conversion))
            inserted = cursor.fetchone() is not None
        else:
            with transaction.atomic():
                cursor.execute(f"{_INSERT_SQL} RETURNING id", _row_values(conversion))
                inserted = cursor.fetchone() is not None
                if inserted:
                    StatusChange.objects.create(
                        conversion_id=conversion.pk,
                        to_status=conversion.status,
                        reason=conversion.status_reason,
                        channel=conversion.channel,
                        created_at=conversion.created_at,
                    )
                    rollup_conversion_add(conversion=conversion)
    if inserted:
        conversion._state.adding = False
        conversion._state.db = connection.alias
    return inserted
