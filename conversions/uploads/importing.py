"""Importing an upload: new conversions through the one recorder (conversions_record), adjustments of existing ones.

Each chunk commits with its row errors and the upload's counters, `rows_done` being the cursor: a second run of
the job resumes after the last committed chunk. The next chunk is read and checked in a thread while this one commits.
"""

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice

from django.db import transaction
from django.utils import timezone
from redis.exceptions import RedisError

from conversions.intake.log_writer import logged_conversions_write
from conversions.intake.recording import conversions_record
from conversions.intake.validation import FieldInvalid, amount_validate
from conversions.lifecycle import conversion_amount_change, conversion_decide
from conversions.models import Conversion, ConversionUpload, UploadRowError
from conversions.uploads.csv_files import CsvFileInvalid, CsvRow, CsvTable, csv_table_read
from conversions.uploads.reconciliation import reconciliation_run
from conversions.uploads.rows import CheckedRows, RowError, conversion_rows_check, row_errors_from, upload_columns_check
from core.errors import DomainError
from core.garbage_collection import cyclic_gc_paused
from core.money import money_quantize

CHUNK_ROWS = 10_000

_DECISIONS = dict.fromkeys(("approved", "approve", "accepted", "accept"), "approve")
_DECISIONS |= dict.fromkeys(("rejected", "reject", "declined", "decline"), "reject")
_COUNTERS = ["created_count", "duplicate_count", "updated_count", "unchanged_count"]


class UploadSuperseded(Exception):
    """Another run of the same upload's job moved the cursor first; this run stops."""


@dataclass
class ChunkOutcome:
    created_count: int = 0
    duplicate_count: int = 0
    updated_count: int = 0
    unchanged_count: int = 0
    errors: list[RowError] = field(default_factory=list)


def _conversion_chunk_import(
    *,
    upload: ConversionUpload,
    rows: list[CsvRow],
    seen: dict[str, int],
    now: datetime,
    checked: CheckedRows | None = None,
) -> ChunkOutcome:
    """Check (unless `checked` already) and record a chunk of rows. Runs inside the caller's transaction."""
    checked = checked or conversion_rows_check(upload=upload, rows=rows, seen=seen)
    outcome = ChunkOutcome(errors=checked.errors)
    recorded = conversions_record(
        advertiser=upload.advertiser,
        reports=[report for _, report in checked.valid],
        channel=Conversion.Channel.CSV,
        actor_id=upload.uploaded_by_id,
        now=now,
    )
    for (row, report), result in zip(checked.valid, recorded, strict=True):
        if result.created:
            outcome.created_count += 1
        elif result.error is None:
            outcome.duplicate_count += 1  # the external id was taken, by an earlier file or a racing request
        else:
            outcome.errors.extend(row_errors_from(result.error, row, report))
    return outcome


def _adjustment_chunk_apply(
    *, upload: ConversionUpload, rows: list[CsvRow], seen: dict[str, int], now: datetime
) -> ChunkOutcome:
    outcome = ChunkOutcome()
    ids = [row.get("external_id") for row in rows]
    found = Conversion.objects.select_related("offer").filter(advertiser=upload.advertiser, external_id__in=ids)
    conversions = {conversion.external_id: conversion for conversion in found}
    by = {"actor": upload.uploaded_by, "channel": Conversion.Channel.CSV, "now": now}
    for row in rows:
        external_id, status, reason = row.get("external_id"), row.get("status").lower(), row.get("reason")

        def error(column: str, message: str, value: str = "", *, number=row.number, ext=external_id) -> None:
            outcome.errors.append(RowError(number, column, message, value, ext))

        if not external_id:
            error("external_id", "Required.")
            continue
        if external_id in seen:
            error("external_id", f"Repeats row {seen[external_id]}; only that row is applied.", external_id)
            continue
        if (conversion := conversions.get(external_id)) is None:
            error("external_id", "No conversion of yours has this external_id.", external_id)
            continue
        if (decision := _DECISIONS.get(status)) is None:
            error("status", "Must be approved or rejected.", row.get("status"))
            continue
        if decision == "reject" and not reason:
            error("reason", "Required when rejecting: the publisher is told why.")
            continue
        amount = None
        if row.get("amount"):
            try:
                amount = amount_validate(row.get("amount"))
            except FieldInvalid as invalid:
                error("amount", str(invalid), row.get("amount"))
                continue
        # A row claims its external id once it is valid; a later row for it is a repeat.
        seen[external_id] = row.number
        amount_changed, column = False, "amount"
        try:
            if amount is not None and money_quantize(amount, conversion.currency) != conversion.amount:
                # The new amount first (its reward recomputed), then the decision, which then applies to it.
                amount_changed = conversion_amount_change(conversion_id=conversion.pk, amount=amount, **by)
                conversion.refresh_from_db()
            column = "status"
            changed = conversion_decide(conversion=conversion, decision=decision, remark=reason, **by)
        except DomainError as refused:
            error(column, refused.message, row.get(column))
            continue
        if changed or amount_changed:
            outcome.updated_count += 1
        else:
            outcome.unchanged_count += 1
    return outcome


def upload_run(*, upload_id: int, now: datetime | None = None) -> ConversionUpload:
    """Import an upload, resuming after its last committed chunk; a finished upload is left as it is."""
    now = now or timezone.now()
    upload = ConversionUpload.objects.select_related("advertiser", "offer", "uploaded_by").get(pk=upload_id)
    if upload.is_finished:
        return upload
    # Every conversion of an upload is stamped with its first start as `created_at`, a resumed run's too, which is
    # how its progress finds them (progress.py).
    upload.started_at = upload.started_at or now
    ConversionUpload.objects.filter(pk=upload.pk, status=ConversionUpload.Status.QUEUED).update(
        status=ConversionUpload.Status.RUNNING, started_at=upload.started_at
    )
    try:
        with upload.file.open("rb") as stored:
            table = csv_table_read(stored.read())
        upload_columns_check(table, upload.kind)
        if upload.kind == ConversionUpload.Kind.RECONCILIATION:
            reconciliation_run(upload=upload, table=table, now=now)
        else:
            _rows_import(upload=upload, table=table, now=now)
    except CsvFileInvalid as error:
        ConversionUpload.objects.filter(pk=upload.pk).exclude(status=ConversionUpload.Status.DONE).update(
            status=ConversionUpload.Status.FAILED, failure=error.message, finished_at=timezone.now()
        )
    except UploadSuperseded:
        pass
    upload.refresh_from_db()
    return upload


def _logged_conversions_store_first() -> None:
    """Store what the intake log acknowledged before this chunk, so its external ids count as taken (outside the
    chunk's transaction: the log forgets an entry once PostgreSQL has committed it)."""
    try:
        logged_conversions_write(every_one=True)
    except RedisError:
        pass  # the log's Redis is away: conversions are then recorded at once, in PostgreSQL


def _rows_import(*, upload: ConversionUpload, table: CsvTable, now: datetime) -> None:
    conversions = upload.kind == ConversionUpload.Kind.CONVERSIONS
    apply = _conversion_chunk_import if conversions else _adjustment_chunk_apply
    seen: dict[str, int] = {}
    cursor = upload.rows_done
    pending = table.rows(start=cursor)

    def read_next() -> tuple[list[CsvRow], dict]:
        """The next chunk, its new conversions' fields checked: no database, so it can run while the server commits."""
        rows = list(islice(pending, CHUNK_ROWS))
        if not rows or not conversions:
            return rows, {}
        return rows, {"checked": conversion_rows_check(upload=upload, rows=rows, seen=seen)}

    with cyclic_gc_paused(), ThreadPoolExecutor(max_workers=1, thread_name_prefix="csv-read") as reader:
        upcoming = reader.submit(read_next)
        while (chunk := upcoming.result())[0]:
            rows, checked = chunk
            if conversions:
                _logged_conversions_store_first()
            with transaction.atomic():
                # The lock and the cursor check make two runs of the job take turns, and the loser stop.
                locked = ConversionUpload.objects.select_for_update().get(pk=upload.pk)
                if locked.rows_done != cursor or locked.is_finished:
                    raise UploadSuperseded
                outcome = apply(
                    upload=upload, rows=rows, seen=seen, now=upload.started_at if conversions else now, **checked
                )
                UploadRowError.objects.bulk_create([error.model(upload) for error in outcome.errors], batch_size=1000)
                cursor += len(rows)
                locked.rows_done = cursor
                for name in _COUNTERS:
                    setattr(locked, name, getattr(locked, name) + getattr(outcome, name))
                locked.error_count += len({error.row for error in outcome.errors})
                locked.save(update_fields=["rows_done", *_COUNTERS, "error_count"])
                # The next chunk is read and checked while the server commits this one.
                upcoming = reader.submit(read_next)
    ConversionUpload.objects.filter(pk=upload.pk, status=ConversionUpload.Status.RUNNING).update(
        status=ConversionUpload.Status.DONE, finished_at=timezone.now()
    )
