"""The click buffer: `GET /c/<code>` writes its click to Redis, a flusher COPYs batches into PostgreSQL.

Why: the click redirect is the hottest path; an INSERT plus two rollup upserts
per click cost a database round trip each. With the buffer a click costs one
Redis round trip (a Lua script: the unique-visitor SET NX, the RPUSH of the
click, and an HSET so attribution can find it before it is flushed), and the
flusher writes thousands of clicks and their rollups per transaction.

Keys (in the RQ Redis connection's database):

- `clickbuf:queue`      list of clicks waiting to be written (JSON, first char is the unique flag);
- `clickbuf:processing` the batch a flusher is writing: moved there with LMOVE first, deleted
  only after COMMIT, so a flusher killed mid-batch leaves it to be written on the next run;
- `clickbuf:pending`    hash click_id -> the same JSON, until flushed: attribution looks there
  when a click id is not in the table yet, and writes that click at once (buffered_clicks_insert);
- `clickbuf:lock`       one flusher at a time (expires, so a killed flusher blocks nobody for long).

Written with COPY into a temporary table and `INSERT ... ON CONFLICT (click_id) DO NOTHING
RETURNING`: a batch written twice (a replay after a crash between COMMIT and the deletes, or a
click written early for attribution) inserts, and counts in the rollups, each click once.

Without Redis (REDIS_URL unset, the SQLite demo) or with CLICK_BUFFER off, clicks are written
directly as before; when Redis fails mid-request the click is written directly too.
"""

import json
import secrets
from collections.abc import Iterable
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction
from redis.exceptions import RedisError

from config.redis_connection import redis_for_queue
from referrals.models import Click
from referrals.rollups import _write_click_counts, rollup_bucket

QUEUE = "clickbuf:queue"
PROCESSING = "clickbuf:processing"
PENDING = "clickbuf:pending"
LOCK = "clickbuf:lock"
LOCK_SECONDS = 30

# Columns written by the flusher, in COPY order.
COLUMNS = [
    "click_id",
    "link_id",
    "offer_id",
    "partner_id",
    "created_at",
    "ip",
    "user_agent",
    "referer",
    "sub1",
    "sub2",
    "sub3",
    "sub4",
    "sub5",
    "country",
    "device",
    "browser",
    "os",
    "accept_language",
    "is_unique",
    "is_bot",
]

# KEYS: unique-visitor key, queue, pending hash. ARGV: unique window seconds, click JSON, click id.
# Returns 1 when the visitor is unique. One round trip for the three writes.
_BUFFER_SCRIPT = """
local unique = redis.call('SET', KEYS[1], 1, 'NX', 'EX', ARGV[1])
local flag = unique and '1' or '0'
local payload = flag .. ARGV[2]
redis.call('RPUSH', KEYS[2], payload)
redis.call('HSET', KEYS[3], ARGV[3], payload)
return unique and 1 or 0
"""


def click_buffer_enabled() -> bool:
    # COPY and ON CONFLICT ... RETURNING as written here are PostgreSQL's.
    return bool(settings.REDIS_URL) and settings.CLICK_BUFFER and connection.vendor == "postgresql"


def _redis():
    return redis_for_queue("default")


def click_buffer_push(*, click: Click, unique_key: str) -> bool:
    """Buffer an unsaved click (its is_unique decided here); False when Redis failed and nothing was buffered."""
    fields = {name: getattr(click, name) for name in COLUMNS if name != "is_unique"}
    fields["created_at"] = click.created_at.isoformat()
    try:
        connection_ = _redis()
        script = connection_.register_script(_BUFFER_SCRIPT)
        unique = script(
            keys=[unique_key, QUEUE, PENDING],
            args=[settings.CLICK_UNIQUE_WINDOW_SECONDS, json.dumps(fields, separators=(",", ":")), click.click_id],
        )
    except RedisError:
        return False
    click.is_unique = bool(unique)
    return True


def _decode(payload: bytes | str) -> dict:
    text = payload.decode() if isinstance(payload, bytes) else payload
    fields = json.loads(text[1:])
    fields["is_unique"] = text[0] == "1"
    fields["created_at"] = datetime.fromisoformat(fields["created_at"])
    return fields


def _insert(rows: list[dict]) -> int:
    """COPY the clicks in, skip those already there, count the new ones in the rollups; call in a transaction."""
    if not rows:
        return 0
    columns = ", ".join(COLUMNS)
    with connection.cursor() as cursor:
        # The click columns without the table's constraints; kept per connection, emptied at each commit.
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS click_buffer_batch ON COMMIT DELETE ROWS "  # noqa: S608
            f"AS SELECT {columns} FROM referrals_click WITH NO DATA"
        )
        with cursor.connection.cursor().copy(f"COPY click_buffer_batch ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([row[name] for name in COLUMNS])
        cursor.execute(
            f"INSERT INTO referrals_click ({columns}) SELECT {columns} FROM click_buffer_batch "  # noqa: S608
            "ON CONFLICT (click_id) DO NOTHING RETURNING partner_id, created_at, offer_id, sub1, is_unique"
        )
        inserted = cursor.fetchall()
        cursor.execute("TRUNCATE click_buffer_batch")
    by_sub1: dict[tuple, list[int]] = {}
    for partner_id, created_at, offer_id, sub1, is_unique in inserted:
        total = by_sub1.setdefault((partner_id, rollup_bucket(created_at), offer_id, sub1), [0, 0])
        total[0] += 1
        total[1] += int(is_unique)
    _write_click_counts(by_sub1)
    return len(inserted)


def _lock_take(redis, token: str) -> bool:
    return bool(redis.set(LOCK, token, nx=True, ex=LOCK_SECONDS))


def _lock_release(redis, token: str) -> None:
    # Only our own lock: after a long pause it may have expired and been taken by another flusher.
    redis.eval(
        "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0", 1, LOCK, token
    )


def clicks_batch_take(redis, batch_size: int) -> list[bytes]:
    """The batch to write: a leftover processing list (a flusher died), else up to batch_size moved from the queue."""
    leftover = redis.lrange(PROCESSING, 0, -1)
    if leftover:
        return leftover
    pipe = redis.pipeline(transaction=True)
    for _ in range(batch_size):
        pipe.lmove(QUEUE, PROCESSING, "LEFT", "RIGHT")
    return [payload for payload in pipe.execute() if payload is not None]


def clicks_flush(*, batch_size: int | None = None, max_batches: int | None = None) -> int:
    """Write buffered clicks to the table in batches until the queue is empty; returns how many were new.

    Safe to run twice and to kill at any moment: a batch stays in `clickbuf:processing` until its
    transaction committed, and writing it again inserts nothing twice.
    """
    if not click_buffer_enabled():
        return 0
    batch_size = batch_size or settings.CLICK_BUFFER_BATCH_SIZE
    redis = _redis()
    token = secrets.token_hex(8)
    if not _lock_take(redis, token):
        return 0
    written = batches = 0
    try:
        while max_batches is None or batches < max_batches:
            batch = clicks_batch_take(redis, batch_size)
            if not batch:
                break
            rows = [_decode(payload) for payload in batch]
            with transaction.atomic():
                written += _insert(rows)
            pipe = redis.pipeline(transaction=True)
            pipe.delete(PROCESSING)
            pipe.hdel(PENDING, *{row["click_id"] for row in rows})
            pipe.expire(LOCK, LOCK_SECONDS)
            pipe.execute()
            batches += 1
    finally:
        _lock_release(redis, token)
    return written


def buffered_clicks_insert(click_ids: Iterable[str]) -> int:
    """Write now the clicks among click_ids that are still only in the buffer (attribution needs their rows).

    They stay in the queue; the flusher's ON CONFLICT skips them later, so they are counted once.
    """
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
        return _insert([_decode(payload) for payload in found])


def click_buffer_length() -> int:
    """Clicks not yet written: queued plus the batch being written."""
    redis = _redis()
    return redis.llen(QUEUE) + redis.llen(PROCESSING)
