"""The row writer: COPY in, one UPDATE from a COPY-filled temp table, rows created-or-locked in two statements.

Every set-based service writes through here: bulk_create and bulk_update quote every value into the SQL in
Python, most of a 1,000-conversion batch's time, where COPY streams the rows. PostgreSQL only.
"""

import hashlib
from collections.abc import Iterable
from datetime import date, datetime, time
from decimal import Decimal
from itertools import islice
from types import SimpleNamespace
from uuid import UUID

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models

COPY_NULL = "\\N"
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
# A value as JSON text (not yet escaped for COPY), as JSONField stores it; one encoder, json.dumps makes one a call.
copy_json = DjangoJSONEncoder().encode
# Lines sent to the server per write: it stores them while the next ones are made.
_LINES_PER_WRITE = 1000


class CopyValueInvalid(ValueError):
    pass


def _text(value: str) -> str:
    if "\x00" in value:
        raise CopyValueInvalid("COPY text cannot hold a NUL character")
    return value.translate(_COPY_ESCAPES)


def _json(value) -> str:
    return copy_json(value).translate(_COPY_ESCAPES)


# By exact type first (one dict look-up, the common case); subclasses (TextChoices members, IntEnums) by
# isinstance in this order: bool before int, datetime before date (each is a subclass of the next).
_ENCODERS = {
    str: _text,
    bool: lambda value: "t" if value else "f",
    int: int.__str__,
    float: float.__repr__,
    Decimal: lambda value: format(value, "f"),  # never an exponent
    UUID: UUID.__str__,
    datetime: datetime.isoformat,
    date: date.isoformat,
    time: time.isoformat,
    dict: _json,
    list: _json,
}


def copy_text(value) -> str:
    """One value in COPY's text format (a dict or list as JSON); a string holding NUL is refused, not cut short."""
    if value is None:
        return COPY_NULL
    encode = _ENCODERS.get(type(value))
    if encode is None:
        encode = next((encode for kind, encode in _ENCODERS.items() if isinstance(value, kind)), None)
        if encode is None:
            raise CopyValueInvalid(f"no COPY text for a {type(value).__name__}")
        _ENCODERS[type(value)] = encode  # the next value of this type finds it at once
    return encode(value)


def copy_line(values: Iterable) -> str:
    """One row of COPY text, its newline included."""
    return "\t".join(map(copy_text, values)) + "\n"


def copy_lines(statement: str, lines: Iterable[str]) -> None:
    """Run a `COPY ... FROM STDIN` fed with ready lines (copy_line), a thousand per write."""
    lines = iter(lines)
    with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        while batch := list(islice(lines, _LINES_PER_WRITE)):
            copy.write("".join(batch))


def instance_new(model, *, related: dict | None = None, **values):
    """`model(**values)` by Model.__init__'s faster positional path; `related` sets cached related objects."""
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


class JsonOnce:
    """Each JSON object as text once per batch, by identity: a reward's explanation is also its conversion's."""

    def __init__(self) -> None:
        self._texts: dict[int, tuple[object, str]] = {}

    def text(self, value) -> str:
        key = id(value)
        if key not in self._texts:
            # The object is kept with its text, so its id cannot be reused by another while we remember it.
            self._texts[key] = (value, copy_json(value))
        return self._texts[key][1]


def _json_positions(fields: list[models.Field]) -> list[int]:
    return [index for index, field in enumerate(fields) if isinstance(field, models.JSONField)]


def _json_texts(values, positions: list[int], json_once: JsonOnce | None) -> list:
    """The values with each JSON field's object as its JSON text (COPY takes text for json columns)."""
    values = list(values)
    for index in positions:
        value = values[index]
        if value is not None and not isinstance(value, str):
            values[index] = json_once.text(value) if json_once else copy_json(value)
    return values


def _rows_write(statement: str, rows: Iterable) -> None:
    # Tuples go to psycopg's own C dumpers (write_row): several times faster than text made in Python.
    with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


def rows_copy(model, fields: list[str], rows: Iterable[tuple], *, json_once: JsonOnce | None = None) -> None:
    """COPY rows (tuples of `fields`, by attname) into the model's table; omitted fields get their defaults.
    A JSON field's value is an object (encoded here, once per object with `json_once`) or its JSON text."""
    by_name = {field.attname: field for field in model._meta.concrete_fields}
    given = [by_name[name] for name in fields]
    # As bulk_create fills them: the field's default, "" for text, else NULL.
    defaults = [field for field in model._meta.concrete_fields if field.attname not in fields and not field.primary_key]
    filler = tuple(_json_texts((field.get_default() for field in defaults), _json_positions(defaults), None))
    positions = _json_positions(given)
    columns = ", ".join(field.column for field in given + defaults)
    _rows_write(
        f"COPY {model._meta.db_table} ({columns}) FROM STDIN",
        ((*(_json_texts(row, positions, json_once) if positions else row), *filler) for row in rows),
    )


def rows_update(model, fields: list[str], objects, *, json_once: JsonOnce | None = None) -> None:
    """Write `fields` (by name) of many saved instances: COPY into a temp table, then one UPDATE ... FROM it."""
    objects = list(objects)
    if not objects:
        return
    table = model._meta.db_table
    by_name = {field.name: field for field in model._meta.concrete_fields}
    given = [by_name[name] for name in fields]
    columns = [field.column for field in given]
    positions = [index + 1 for index in _json_positions(given)]  # after the id
    scratch = f"_update_{table}_{hashlib.sha1(','.join(columns).encode()).hexdigest()[:8]}"  # noqa: S324 - a name
    with connection.cursor() as cursor:
        # Per session, emptied by the UPDATE that reads it (a test's one transaction may run several batches).
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {scratch} AS "  # noqa: S608
            f"SELECT id, {', '.join(columns)} FROM {table} WITH NO DATA"
        )
    _rows_write(
        f"COPY {scratch} (id, {', '.join(columns)}) FROM STDIN",
        (
            _json_texts((instance.pk, *(getattr(instance, field.attname) for field in given)), positions, json_once)
            for instance in objects
        ),
    )
    assignments = ", ".join(f"{column} = v.{column}" for column in columns)
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH v AS (DELETE FROM {scratch} RETURNING *) "  # noqa: S608
            f"UPDATE {table} AS t SET {assignments} FROM v WHERE t.id = v.id"
        )


def rows_lock(model, key_fields: list[str], keys: set[tuple], *, fill: dict, read: list[str]) -> dict:
    """{key: namespace of pk and `read`} of the rows with these keys, created (with `fill`) where missing.

    Locked in id order, so two batches wanting some of the same rows never deadlock; the locks hold to the end
    of the transaction, so what was read stays true until our own writes (`rows_update`) commit.
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
