"""Set-based writes for the batch processor: COPY in, one UPDATE from a COPY-filled temp table.

Django's bulk_create and bulk_update build model instances and (with psycopg's
client-side binding) quote every value into the SQL text in Python; for a
500-conversion batch that was most of its time. COPY streams plain tuples.
PostgreSQL only: callers keep the ORM path for other databases.
"""

import hashlib
import json
from types import SimpleNamespace

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models


def bulk_supported() -> bool:
    return connection.vendor == "postgresql"


def _column_value(field: models.Field, value, serialized: dict | None = None):
    """The value as COPY takes it; JSON as text, once per object when the caller keeps `serialized` for a batch
    (a reward's explanation is also its conversion's)."""
    if not isinstance(field, models.JSONField):
        return value
    if serialized is None or not value:
        return json.dumps(value, cls=field.encoder or DjangoJSONEncoder)
    key = id(value)
    if key not in serialized:
        serialized[key] = (value, json.dumps(value, cls=field.encoder or DjangoJSONEncoder))
    return serialized[key][1]


def instance_new(model, *, related: dict | None = None, **values):
    """`model(**values)` by the positional path of Model.__init__, several times faster (a batch makes one per row).

    Fields not given get their defaults; `related` sets cached related objects ({"offer": offer}) by field name.
    """
    instance = model(
        *(
            values.pop(field.attname) if field.attname in values else field.get_default()
            for field in model._meta.concrete_fields
        )
    )
    if values:
        raise TypeError(f"{model.__name__} has no fields {sorted(values)}")
    for name, value in (related or {}).items():
        model._meta.get_field(name).set_cached_value(instance, value)
    return instance


def ids_reserve(count: int, *model_classes) -> list[tuple[int, ...]]:
    """`count` new primary keys of each model, in one round trip: rows that reference each other can be COPYed."""
    if not count:
        return []
    sequences = ", ".join(f"nextval(pg_get_serial_sequence('{model._meta.db_table}', 'id'))" for model in model_classes)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {sequences} FROM generate_series(1, %s)", [count])  # noqa: S608 - our table names
        return cursor.fetchall()


def rows_copy(model, fields: list[str], rows, *, serialized: dict | None = None) -> None:
    """COPY rows (tuples of `fields`, by attname) into the model's table; omitted fields get their defaults."""
    by_name = {field.attname: field for field in model._meta.concrete_fields}
    given = [by_name[name] for name in fields]
    # As bulk_create fills them: the field's default, "" for text, else NULL.
    defaults = [field for field in model._meta.concrete_fields if field.attname not in fields and not field.primary_key]
    columns = [field.column for field in given + defaults]
    filler = tuple(_column_value(field, field.get_default()) for field in defaults)
    json_positions = [index for index, field in enumerate(given) if isinstance(field, models.JSONField)]
    sql = f"COPY {model._meta.db_table} ({', '.join(columns)}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for row in rows:
            if json_positions:
                row = list(row)
                for index in json_positions:
                    if not isinstance(row[index], str):
                        row[index] = _column_value(given[index], row[index], serialized)
            copy.write_row((*row, *filler))


def rows_update(model, fields: list[str], objects, *, serialized: dict | None = None) -> None:
    """Write `fields` of many saved instances: COPY into a temp table, then one UPDATE ... FROM it."""
    objects = list(objects)
    if not objects:
        return
    if not bulk_supported():
        model.objects.bulk_update(objects, fields)
        return
    table = model._meta.db_table
    by_name = {field.name: field for field in model._meta.concrete_fields}
    given = [by_name[name] for name in fields]
    columns = [field.column for field in given]
    scratch = f"_update_{table}_{hashlib.sha1(','.join(columns).encode()).hexdigest()[:8]}"  # noqa: S324 - a name
    with connection.cursor() as cursor:
        # Per session, emptied by the UPDATE that reads it (a test's one transaction may run several batches).
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {scratch} AS "  # noqa: S608
            f"SELECT id, {', '.join(columns)} FROM {table} WITH NO DATA"
        )
        with cursor.cursor.copy(f"COPY {scratch} (id, {', '.join(columns)}) FROM STDIN") as copy:
            for instance in objects:
                copy.write_row(
                    (
                        instance.pk,
                        *(_column_value(field, getattr(instance, field.attname), serialized) for field in given),
                    )
                )
        assignments = ", ".join(f"{column} = v.{column}" for column in columns)
        cursor.execute(
            f"WITH v AS (DELETE FROM {scratch} RETURNING *) "  # noqa: S608
            f"UPDATE {table} AS t SET {assignments} FROM v WHERE t.id = v.id"
        )


def rows_lock(model, key_fields: list[str], keys: set[tuple], *, fill: dict, read: list[str]) -> dict:
    """The rows with these keys, created (with `fill`) where missing, then locked in id order and read.

    Two statements for any number of keys. Locking in id order means two batches wanting some of the
    same rows never deadlock; the locks hold to the end of the transaction, so what was read stays
    true until our own writes (`rows_update`) commit. Returns {key: namespace of pk and `read`}.
    """
    if not keys:
        return {}
    table, keys = model._meta.db_table, list(keys)
    columns = [*key_fields, *fill]
    one_row = f"({', '.join(['%s'] * len(columns))})"
    match = " OR ".join([f"({' AND '.join(f'{name} = %s' for name in key_fields)})"] * len(keys))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join([one_row] * len(keys))} "  # noqa: S608
            f"ON CONFLICT ({', '.join(key_fields)}) DO NOTHING",
            [value for key in keys for value in (*key, *fill.values())],
        )
        cursor.execute(
            f"SELECT id, {', '.join([*key_fields, *read])} FROM {table} WHERE {match} ORDER BY id FOR UPDATE",  # noqa: S608
            [value for key in keys for value in key],
        )
        found = cursor.fetchall()
    width = len(key_fields)
    return {
        tuple(row[1 : 1 + width]): SimpleNamespace(pk=row[0], **dict(zip(read, row[1 + width :], strict=True)))
        for row in found
    }
