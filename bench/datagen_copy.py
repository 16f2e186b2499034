"""How bench/datagen.py writes: ids taken from a table's sequence, rows by COPY, secondary indexes off for a load."""

from datetime import datetime

NULL = r"\N"


def ids_reserve(cursor, table: str, count: int) -> int:
    """Take `count` consecutive ids from the table's identity sequence; returns the first."""
    cursor.execute(
        "SELECT setval(pg_get_serial_sequence(%s, 'id'), nextval(pg_get_serial_sequence(%s, 'id')) + %s)",
        [table, table, max(count, 1) - 1],
    )
    return cursor.fetchone()[0] - max(count, 1) + 1


def rows_copy(cursor, table: str, columns: str, lines) -> None:
    """COPY pre-formatted text lines (tab-separated, \\N for null) into the table's space-separated columns."""
    block, size = [], 0
    with cursor.copy(f"COPY {table} ({', '.join(columns.split())}) FROM STDIN") as copy:
        for line in lines:
            block.append(line)
            size += len(line)
            if size > 1_000_000:  # blocks of ~1 MB
                copy.write("".join(block))
                block, size = [], 0
        if block:
            copy.write("".join(block))


def rows_copy_numbered(cursor, table: str, columns: str, lines: list[str]) -> int:
    """COPY the lines under new ids, in order, into `id` and the columns; returns the first id."""
    first = ids_reserve(cursor, table, len(lines))
    rows_copy(cursor, table, f"id {columns}", (f"{first + n}\t{line}" for n, line in enumerate(lines)))
    return first


def ts(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f+00")


def secondary_indexes_drop(cursor, table: str) -> list[str]:
    """Drop the table's indexes that back no constraint; returns the CREATE INDEX statements that make them again."""
    cursor.execute(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = %s AND i.schemaname = current_schema() "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname) ORDER BY i.indexname",
        [table],
    )
    indexes = cursor.fetchall()
    for name, _ in indexes:
        cursor.execute(f'DROP INDEX "{name}"')
    return [statement for _, statement in indexes]
