"""The click buffer: `GET /c/<code>` writes its click to Redis, a flusher COPYs batches into PostgreSQL.

One Redis round trip per click instead of an INSERT and two rollup upserts (W1b in docs/performance.md).
"""

# ruff: noqa: S608 - table and column names come from the models; no value is formatted into SQL.

import json
import re
from collections.abc import Iterable
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction
from psycopg.errors import UniqueViolation
from redis.commands.core import Script
from redis.exceptions import NoScriptError, RedisError

from core.postgres_text import without_nul
from core.redis_batches import BatchQueue
from core.redis_connection import RedisWriteNotReplicated, redis_for_queue, redis_write_replicated
from core.rows import copy_text
from referrals.models import Click
from referrals.rollups import rollup_bucket, rollup_click_counts_add

QUEUE = "clickbuf:queue"  # clicks waiting, each one line of COPY's text format
PROCESSING = "clickbuf:processing"  # the batch being written, deleted after COMMIT: a killed flusher leaves it
PENDING = "clickbuf:pending"  # click_id -> its line until flushed, for attribution (buffered_clicks_insert)
LOCK = "clickbuf:lock"  # one flusher at a time; it expires, so a killed flusher blocks nobody for long
LOCK_SECONDS = 30
BUFFER = BatchQueue(QUEUE, PROCESSING, LOCK, LOCK_SECONDS)

# The columns of a buffered line, in COPY order: is_unique last, appended by the buffer script.
COLUMNS = (
    "click_id link_id offer_id partner_id created_at ip user_agent referer sub1 sub2 sub3 sub4 sub5 "
    "country device browser os accept_language is_bot is_unique"
).split()
_BATCH_COLUMNS = ", ".join(COLUMNS)
_SUB1 = COLUMNS.index("sub1")

# Scripts run by EVALSHA on whichever client calls them (loaded again after a Redis restart). KEYS: unique-visitor
# key, queue, pending hash. ARGV: unique window, the click's line without is_unique, click id. 1: a unique visitor.
_BUFFER_SCRIPT = Script(
    None,
    b"""
local unique = redis.call('SET', KEYS[1], 1, 'NX', 'EX', ARGV[1])
local payload = ARGV[2] .. (unique and '\\tt' or '\\tf')
redis.call('RPUSH', KEYS[2], payload)
redis.call('HSET', KEYS[3], ARGV[3], payload)
return unique and 1 or 0
""",
)
# A backslash and the character it escapes, left to right (an escaped backslash is one pair).
_COPY_ESCAPE = re.compile(rb"\\(.)", re.DOTALL)
_COPY_UNESCAPES = {b"t": b"\t", b"n": b"\n", b"r": b"\r", b"\\": b"\\"}
# The batch's clicks not yet in the table, from the temporary table the batch was copied into. The table is
# partitioned by created_at, so its unique key is (click_id, created_at): a line carries its click's created_at
# from the moment it was buffered, so a replay conflicts with the row it wrote before.
_INSERT_NEW_SQL = (
    f"INSERT INTO {Click._meta.db_table} ({_BATCH_COLUMNS}) SELECT {_BATCH_COLUMNS} FROM click_buffer_batch "
    "ON CONFLICT (click_id, created_at) DO NOTHING RETURNING click_id"
)


def click_copy_line(click: Click) -> str:
    """The click's COPY line without is_unique (click_record has already replaced any NUL)."""
    return "\t".join(copy_text(getattr(click, name)) for name in COLUMNS[:-1])


def click_buffer_enabled() -> bool:
    return settings.CLICK_BUFFER


def _redis():
    return redis_for_queue("default")


def _buffer_script_run(click: Click, unique_key: str) -> int:
    """The buffer script by EVALSHA, with the replicas' confirmation in the same round trip; 1: a unique visitor."""
    command = (
        "EVALSHA", _BUFFER_SCRIPT.sha, 3, unique_key, QUEUE, PENDING,
        settings.CLICK_UNIQUE_WINDOW_SECONDS, click_copy_line(click), click.click_id,
    )  # fmt: skip
    redis = _redis()
    try:
        return redis_write_replicated(redis, command)[0]
    except NoScriptError:  # a restarted or newly promoted Redis: nothing ran, load the script and send again
        redis.script_load(_BUFFER_SCRIPT.script)
        return redis_write_replicated(redis, command)[0]


def click_buffer_push(*, click: Click, unique_key: str) -> bool:
    """Buffer an unsaved click (its is_unique decided here); False when Redis failed and nothing was buffered.

    A click the replicas did not confirm (REDIS_WAIT_REPLICAS) is written to the table at once too: a failover
    could lose the buffered copy, and the flusher skips the click if the copy survives.
    """
    try:
        unique = _buffer_script_run(click, unique_key)
    except RedisWriteNotReplicated as unconfirmed:
        click_write(click=click, is_unique=bool(unconfirmed.results[0]))
        return True
    except RedisError:
        return False
    click.is_unique = bool(unique)
    return True


def _copy_lines(payloads: list[bytes]) -> list[bytes]:
    """The payloads as COPY lines; one buffered as JSON by an earlier version ('1' or '0', fields) is converted."""
    lines = []
    for payload in payloads:
        if payload[1:2] == b"{":
            fields = without_nul(json.loads(payload[1:]))  # the earlier version buffered what the visitor sent
            fields["created_at"] = datetime.fromisoformat(fields["created_at"])
            fields["is_unique"] = payload[:1] == b"1"
            payload = "\t".join(copy_text(fields[name]) for name in COLUMNS).encode()
        lines.append(payload)
    return lines


def _click_id(line: bytes) -> bytes:
    return line.split(b"\t", 1)[0]


def _copy(cursor, table: str, lines: list[bytes]) -> None:
    with cursor.connection.cursor().copy(f"COPY {table} ({_BATCH_COLUMNS}) FROM STDIN") as copy:
        copy.write(b"\n".join(lines) + b"\n")


def _copy_text(field: bytes) -> str:
    if b"\\" not in field:
        return field.decode()
    return _COPY_ESCAPE.sub(lambda escape: _COPY_UNESCAPES[escape[1]], field).decode()


def _rollups_add(lines: list[bytes]) -> None:
    """Count the clicks just written in the rollups, read from their lines."""
    by_sub1: dict[tuple, list[int]] = {}
    buckets: dict[tuple, datetime] = {}
    for line in lines:
        fields = line.split(b"\t")
        created_at = fields[4]
        # The minute and the UTC offset decide the quarter hour: parse each minute once, not each click.
        minute = (created_at[:16], created_at[-6:])
        bucket = buckets.get(minute)
        if bucket is None:
            bucket = buckets[minute] = rollup_bucket(datetime.fromisoformat(created_at.decode()))
        total = by_sub1.setdefault((int(fields[3]), bucket, int(fields[2]), _copy_text(fields[_SUB1])), [0, 0])
        total[0] += 1
        total[1] += fields[-1] == b"t"
    rollup_click_counts_add(by_sub1)


def clicks_write(payloads: list[bytes]) -> int:
    """The one writer of clicks (COPY lines, is_unique last), each counted once in the rollups; how many were new.

    Call it in a transaction. When a click is there already (a replay after a crash, one written early for
    attribution), the direct COPY is undone to its savepoint and the lines go through `ON CONFLICT DO NOTHING`.
    """
    if not payloads:
        return 0
    lines = _copy_lines(payloads)
    with connection.cursor() as cursor:
        try:
            with transaction.atomic():
                _copy(cursor, Click._meta.db_table, lines)
        except UniqueViolation:  # psycopg's own: the COPY runs on the raw cursor
            # A click buffered twice (a command retried on a new connection, or on a newly promoted master,
            # after its first answer was lost) counts once, as its first line says.
            first_lines: dict[bytes, bytes] = {}
            for line in lines:
                first_lines.setdefault(_click_id(line), line)
            lines = list(first_lines.values())
            # The click columns without the table's constraints; kept per connection, emptied at each commit.
            cursor.execute(
                "CREATE TEMP TABLE IF NOT EXISTS click_buffer_batch ON COMMIT DELETE ROWS "
                f"AS SELECT {_BATCH_COLUMNS} FROM {Click._meta.db_table} WITH NO DATA"
            )
            _copy(cursor, "click_buffer_batch", lines)
            cursor.execute(_INSERT_NEW_SQL)
            inserted = {click_id.encode() for (click_id,) in cursor.fetchall()}
            cursor.execute("TRUNCATE click_buffer_batch")
            lines = [line for line in lines if _click_id(line) in inserted]
    _rollups_add(lines)
    return len(lines)


def click_write(*, click: Click, is_unique: bool) -> None:
    """Write one unbuffered click (no buffer, or Redis failing) as a batch of one; it comes back with its pk."""
    click.is_unique = is_unique
    with transaction.atomic():
        clicks_write([(click_copy_line(click) + ("\tt" if is_unique else "\tf")).encode()])
    # With its time, the lookup reads one partition.
    click.pk = Click.objects.values_list("pk", flat=True).get(click_id=click.click_id, created_at=click.created_at)
    click._state.adding = False


def _batch_write(batch: list[bytes], forget) -> int:
    written = clicks_write(batch)
    forget.hdel(PENDING, *{_click_id(line) for line in _copy_lines(batch)})
    return written


def clicks_flush(*, batch_size: int | None = None, max_batches: int | None = None) -> int:
    """Write buffered clicks in batches until the queue is empty; how many were new. Safe to kill or run twice."""
    if not click_buffer_enabled():
        return 0
    batch_size = batch_size or settings.CLICK_BUFFER_BATCH_SIZE
    return BUFFER.drain(_redis(), _batch_write, batch_size=batch_size, max_batches=max_batches)


def buffered_clicks_insert(click_ids: Iterable[str]) -> int:
    """Write now those of click_ids still only in the buffer; the flusher's ON CONFLICT skips them later."""
    if not click_buffer_enabled():
        return 0
    ids = [click_id for click_id in dict.fromkeys(click_ids) if click_id]
    if not ids:
        return 0
    try:
        found = [payload for payload in _redis().hmget(PENDING, ids) if payload is not None]
    except RedisError:
        return 0
    if not found:
        return 0
    with transaction.atomic():
        return clicks_write(found)


def click_buffer_length() -> int:
    """Clicks not yet written: queued plus the batch being written."""
    return BUFFER.length(_redis())
