"""Storing the intake log: batches of acknowledged conversions go through the one recorder (conversions_record), as
the click flusher writes the click buffer. A batch is replayed after a crash; the recorder's unique constraint
makes a replay store nothing twice, and processing is requested only for the rows a batch inserted."""

from collections import defaultdict

from django.conf import settings
from django.db import transaction

from conversions.intake.intake_log import LOG, entries_forget, entry_decode, logged_entries, report_fields
from conversions.intake.recording import conversions_record
from conversions.intake.request_log import failure_message, failure_reason, request_log_record
from core.redis_connection import redis_for_intake
from referrals.models import Advertiser


def logged_conversions_store(entries: list[dict]) -> int:
    """Record decoded entries, grouped by advertiser, channel and click cookie (one recorder call each); how many
    were new. A report the recorder refuses now (its click was deleted since) is logged in the request log."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    # In one order, groups and rows alike, whoever stores: the writer's batch and a read's store-first may hold
    # the same entries, and rows inserted in two orders deadlock (make cluster showed it).
    for entry in sorted(entries, key=lambda entry: entry["conversion_id"]):
        groups[entry["advertiser_id"], entry["channel"], entry["cookie_click_id"]].append(entry)
    advertisers = Advertiser.objects.in_bulk({advertiser_id for advertiser_id, _, _ in groups})
    new = 0
    for (advertiser_id, channel, cookie_click_id), grouped in sorted(groups.items()):
        advertiser = advertisers.get(advertiser_id)
        if advertiser is None:
            continue  # deleted since: its conversions went with it
        reports = [entry["report"] for entry in grouped]
        recorded = conversions_record(
            advertiser=advertiser, reports=reports, channel=channel, cookie_click_id=cookie_click_id
        )
        for entry, outcome in zip(grouped, recorded, strict=True):
            new += outcome.created
            if outcome.error is not None:
                request_log_record(
                    advertiser=advertiser,
                    channel=channel,
                    method="WRITE",
                    path=entry["path"],
                    ip=entry["report"].request.ip,
                    payload=report_fields(entry["report"]),
                    reason=failure_reason(outcome.error),
                    message=f"Acknowledged, then refused when stored: {failure_message(outcome.error)}",
                    http_status=getattr(outcome.error, "status_code", 400),
                )
    return new


def logged_conversions_write(
    *, conversion_ids: list[str] = (), external_ids: list[str] = (), every_one: bool = False
) -> int:
    """Store now those of these conversions (by id, by external id, or every one) that still wait in the log, so a
    read right after the 202 finds them; the writer's replay of them later stores nothing. Raises RedisError when
    the log cannot be read."""
    found = logged_entries(conversion_ids=conversion_ids, external_ids=external_ids, every_one=every_one)
    if not found:
        return 0
    entries = [entry_decode(entry) for entry in found]
    with transaction.atomic():
        new = logged_conversions_store(entries)
    forget = redis_for_intake().pipeline(transaction=True)
    entries_forget(forget, entries)
    forget.execute()
    return new


def _batch_write(batch: list[bytes], forget) -> int:
    entries = [entry_decode(entry) for entry in batch]
    written = logged_conversions_store(entries)
    entries_forget(forget, entries)
    return written


def intake_log_write(*, batch_size: int | None = None, max_batches: int | None = None) -> int:
    """Store logged conversions in batches until the log is empty; how many were new. Safe to kill or run twice."""
    batch_size = batch_size or settings.INTAKE_BATCH_SIZE
    return LOG.drain(redis_for_intake(), _batch_write, batch_size=batch_size, max_batches=max_batches)
