"""The intake log: a reported conversion is answered once it is appended here, and `manage.py write_conversions`
stores it through the one recorder a moment later (conversions/intake/log_writer.py).

The log lives in the intake Redis (INTAKE_REDIS_URL), which keeps an append-only file with `appendfsync always`:
Redis answers an append only after its fsync, and one fsync covers every client served in that turn of its event
loop, so concurrent requests share it (docs/performance.md, "The intake log").
"""

import json
from dataclasses import fields
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from redis.commands.core import Script
from redis.exceptions import RedisError

from conversions.intake.recording import ConversionReport
from core.redis_batches import BatchQueue
from core.redis_connection import intake_on_queue_redis, redis_for_intake, redis_write_replicated
from referrals.request_metadata import RequestMetadata, user_agent_describe

QUEUE = "intake:queue"  # entries waiting, each one JSON object
PROCESSING = "intake:processing"  # the batch being written, deleted after COMMIT: a killed writer leaves it
PENDING = "intake:pending"  # conversion id -> its entry until stored, for reads (log_writer.logged_conversions_write)
SEEN = "intake:seen:"  # + external id: advertiser id -> the first conversion's id, so a repeat answers with it
LOCK = "intake:lock"  # one writer at a time; it expires, so a killed writer blocks nobody for long
LOCK_SECONDS = 30
LOG = BatchQueue(QUEUE, PROCESSING, LOCK, LOCK_SECONDS)
# How long a stored conversion's SEEN field outlives its commit: a repeat that read PostgreSQL just before the
# commit still finds it here (from then on PostgreSQL's unique constraint answers).
SEEN_SECONDS = 3600

# KEYS: seen hash, queue, pending hash. ARGV: advertiser id, conversion id, entry. The first conversion's id when
# the external id is taken in the log already, else the entry is appended (nil).
_APPEND_SCRIPT = Script(
    None,
    b"""
local first = redis.call('HGET', KEYS[1], ARGV[1])
if first then return first end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PERSIST', KEYS[1])
redis.call('RPUSH', KEYS[2], ARGV[3])
redis.call('HSET', KEYS[3], ARGV[2], ARGV[3])
return false
""",
)
# After a batch is stored. KEYS: pending hash, then the batch's seen hashes. ARGV: seconds, then the conversion ids.
# A seen hash expires once none of its conversions waits in the log any more.
_STORED_SCRIPT = Script(
    None,
    b"""
for index = 2, #ARGV do
  redis.call('HDEL', KEYS[1], ARGV[index])
end
for index = 2, #KEYS do
  local waiting = false
  for _, id in ipairs(redis.call('HVALS', KEYS[index])) do
    if redis.call('HEXISTS', KEYS[1], id) == 1 then waiting = true end
  end
  if not waiting then redis.call('EXPIRE', KEYS[index], ARGV[1]) end
end
return 0
""",
)
_REPORT_FIELDS = [
    field.name for field in fields(ConversionReport) if field.name not in ("conversion_id", "received_at", "request")
]


def entry_encode(*, advertiser_id: int, channel: str, path: str, cookie_click_id: str, report: ConversionReport) -> str:
    """One log entry: the report as validated, its id and time, and its request's metadata."""
    values = {name: getattr(report, name) for name in _REPORT_FIELDS}
    values["amount"] = str(report.amount)
    values["occurred_at"] = report.occurred_at.isoformat() if report.occurred_at else None
    request = report.request or RequestMetadata()
    return json.dumps(
        {
            "advertiser_id": advertiser_id,
            "channel": channel,
            "path": path,
            "cookie_click_id": cookie_click_id,
            "conversion_id": str(report.conversion_id),
            "received_at": report.received_at.isoformat(),
            "request": {"ip": request.ip, "user_agent": request.user_agent, "country": request.country},
            "headers": request.headers,
            "report": values,
        },
        separators=(",", ":"),
    )


def entry_decode(entry: bytes | str) -> dict:
    """An entry as the recorder takes it: `report` is a ConversionReport again."""
    values = json.loads(entry)
    reported = values["report"]
    reported["amount"] = Decimal(reported["amount"])
    if reported["occurred_at"]:
        reported["occurred_at"] = datetime.fromisoformat(reported["occurred_at"])
    request = values["request"]
    metadata = RequestMetadata(**request, agent=user_agent_describe(request["user_agent"]), headers=values["headers"])
    values["report"] = ConversionReport(
        **reported,
        conversion_id=UUID(values["conversion_id"]),
        received_at=datetime.fromisoformat(values["received_at"]),
        request=metadata,
    )
    return values


def entry_append(*, advertiser_id: int, external_id: str, conversion_id: UUID, entry: str) -> UUID | None:
    """Append the entry, unless the external id waits in the log already: then that first conversion's id.
    Raises RedisError when the log cannot take it (nothing was acknowledged)."""
    command = ("EVAL", _APPEND_SCRIPT.script, 3, SEEN + external_id, QUEUE, PENDING, advertiser_id, str(conversion_id))
    command = (*command, entry)
    if intake_on_queue_redis():
        # Under Sentinel the append must be on a replica before it is acknowledged (RedisWriteNotReplicated is a
        # RedisError: the caller records the conversion at once, and the writer's copy then changes nothing).
        [first] = redis_write_replicated(redis_for_intake(), command)
    else:
        first = redis_for_intake().execute_command(*command)
    return UUID(first.decode()) if first else None


def logged_conversion_id(*, advertiser_id: int, external_id: str) -> UUID | None:
    """The conversion the log holds (or held in the last SEEN_SECONDS) for this external id."""
    first = redis_for_intake().hget(SEEN + external_id, advertiser_id)
    return UUID(first.decode()) if first else None


def logged_entries(
    *, conversion_ids: list[str] = (), external_ids: list[str] = (), every_one: bool = False
) -> list[bytes]:
    """The entries still waiting for these conversions, or for any advertiser's conversion of these external ids;
    `every_one`: all that wait (a list read, which must find whatever was acknowledged before it)."""
    if every_one:
        return redis_for_intake().hvals(PENDING)
    redis = redis_for_intake()
    ids = list(conversion_ids)
    for external_id in external_ids:
        ids.extend(value.decode() for value in redis.hvals(SEEN + external_id))
    return [entry for entry in redis.hmget(PENDING, ids) if entry is not None] if ids else []


def entries_forget(pipe, entries: list[dict]) -> None:
    """Add to the pipeline what forgets entries stored in PostgreSQL: their pending copies, and their SEEN hashes
    once none of theirs waits any more."""
    seen = sorted({SEEN + entry["report"].external_id for entry in entries})
    ids = [entry["conversion_id"] for entry in entries]
    if ids:
        _STORED_SCRIPT(keys=[PENDING, *seen], args=[SEEN_SECONDS, *ids], client=pipe)


def intake_log_length() -> int:
    """Conversions acknowledged and not yet stored: queued plus the batch being written."""
    return LOG.length(redis_for_intake())


def report_fields(report: ConversionReport) -> dict:
    """The report as the request log keeps a payload."""
    return json.loads(json.dumps({name: getattr(report, name) for name in _REPORT_FIELDS}, default=str))


def intake_durability_check(redis) -> str | None:
    """What a crash of the intake Redis could lose, or None when every append is fsynced before it is answered (or
    CONFIG is refused, as managed services may: then we cannot tell)."""
    try:
        config = redis.config_get("append*")
    except RedisError:
        return None
    if config.get("appendonly") != "yes":
        return "the intake Redis keeps no append-only file: its crash loses acknowledged conversions"
    if config.get("appendfsync") != "always":
        return (
            f"the intake Redis fsyncs its append-only file {config.get('appendfsync')}, not always: "
            "its crash may lose the last second's acknowledged conversions"
        )
    return None
