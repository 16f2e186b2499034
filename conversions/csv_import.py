"""Importing advertisers' CSVs: new conversions, and adjustments (approve, reject, new amount) of existing ones.

A row of a conversions file is held to the rules of `POST /v1/convert`: the
same field checks (conversions/validation.py), the same attribution
(conversions/attribution.py) and the same conversion
(conversions/ingestion.py:conversion_build). Only the lookups and inserts are
done in bulk, a chunk at a time, so that 100k rows import in seconds:
clicks by `click_id IN (...)`, partners by referral code, existing external ids,
then one `INSERT ... ON CONFLICT DO NOTHING` for the chunk, where the unique
`(advertiser, external_id)` decides races with the API.

Each chunk commits with its row errors and the upload's counters, `rows_done`
being the cursor: a second run of the job resumes after the last committed
chunk, and a finished upload is never imported twice.
"""

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import islice
from zoneinfo import ZoneInfo

from django.core.files.base import ContentFile
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import JSONField
from django.utils import timezone

from config.errors import DomainError
from config.jobs import job_enqueue_on_commit
from conversions.advertiser.services import conversion_amount_change, conversion_validate
from conversions.attribution import click_attribution, referral_attribution
from conversions.csv_files import CsvFileInvalid, CsvRow, CsvTable, csv_table_read
from conversions.errors import ConversionNotFound
from conversions.ingestion import ConversionReport, conversion_build, occurred_at_resolve
from conversions.models import Conversion, ConversionUpload, StatusChange, UploadRowError
from conversions.upload_jobs import process_conversions_batch, upload_import
from conversions.validation import (
    FieldInvalid,
    amount_validate,
    currency_validate,
    meta_validate,
    quantity_validate,
    report_fields_check,
    text_validate,
    type_validate,
)
from referrals.click_buffer import buffered_clicks_insert
from referrals.models import Advertiser, Click, Offer, Partner
from referrals.money import money_quantize

CHUNK_ROWS = 2000
PROCESS_BATCH = 500

CONVERSION_COLUMNS = [
    "click_id",
    "referral_code",
    "external_id",
    "type",
    "amount",
    "currency",
    "occurred_at",
    "product_id",
    "category",
    "quantity",
    "plan",
    "subscription_id",
    "source",
]
ADJUSTMENT_COLUMNS = ["external_id", "status", "reason", "amount"]
RECONCILIATION_COLUMNS = ["external_id", "amount"]
META_PREFIX = "meta_"

_COLUMNS = {
    ConversionUpload.Kind.CONVERSIONS: (CONVERSION_COLUMNS, ["external_id", "type", "amount"]),
    ConversionUpload.Kind.ADJUSTMENTS: (ADJUSTMENT_COLUMNS, ["external_id", "status"]),
    ConversionUpload.Kind.RECONCILIATION: (RECONCILIATION_COLUMNS, ["external_id", "amount"]),
}

_APPROVE_WORDS = {"approved", "approve", "accepted", "accept"}
_REJECT_WORDS = {"rejected", "reject", "declined", "decline"}


class UploadSuperseded(Exception):
    """Another run of the same upload's job moved the cursor first; this run stops."""


@dataclass
class RowError:
    row: int
    column: str
    reason: str
    value: str = ""
    external_id: str = ""

    def model(self, upload: ConversionUpload) -> UploadRowError:
        return UploadRowError(
            upload=upload,
            row=self.row,
            column=self.column[:100],
            value=self.value[:200],
            external_id=self.external_id[:128],
            reason=self.reason[:500],
        )


@dataclass
class ChunkOutcome:
    created: int = 0
    duplicates: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    to_process: list[str] = field(default_factory=list)


# Reading the file -----------------------------------------------------------------------------


def upload_columns_check(table: CsvTable, kind: str) -> list[str]:
    """Refuse a header without the required columns; return the columns we will ignore."""
    known, required = _COLUMNS[kind]
    missing = [name for name in required if name not in table.header]
    if kind == ConversionUpload.Kind.CONVERSIONS and not {"click_id", "referral_code"} & set(table.header):
        missing.append("click_id or referral_code")
    if missing:
        raise CsvFileInvalid(
            f"Missing columns: {', '.join(missing)}. The first row must name the columns; "
            f"download the template to see them. Found: {', '.join(name for name in table.header if name) or 'none'}."
        )
    allow_meta = kind == ConversionUpload.Kind.CONVERSIONS
    return [
        name
        for name in table.header
        if name and name not in known and not (allow_meta and name.startswith(META_PREFIX) and len(name) > 5)
    ]


def occurred_at_parse(value: str, tz: ZoneInfo) -> datetime:
    """ISO 8601; without an offset the time is the advertiser's local time."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise FieldInvalid("Not an ISO 8601 date and time, such as 2025-03-31T14:05:00+02:00.") from None
    if timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=tz)
    return parsed


def conversion_row_parse(row: CsvRow, *, offer: Offer, tz: ZoneInfo) -> tuple[ConversionReport | None, list[RowError]]:
    """One row into a report, with every field error of the row (not just the first)."""
    errors: list[RowError] = []
    attrs: dict = {"offer": offer.public_id}
    external_id = row.get("external_id")

    def check(column: str, validate, value: str) -> None:
        try:
            attrs[column] = validate(value)
        except FieldInvalid as error:
            errors.append(RowError(row.number, column, str(error), value, external_id))

    if not external_id:
        errors.append(RowError(row.number, "external_id", "Required: your order or invoice id."))
    else:
        check("external_id", lambda v: text_validate("external_id", v), external_id)
    check("type", type_validate, row.get("type").lower())
    if not row.get("amount"):
        errors.append(RowError(row.number, "amount", "Required.", "", external_id))
    else:
        check("amount", amount_validate, row.get("amount"))
    check("currency", currency_validate, row.get("currency"))
    for name in ("click_id", "referral_code", "product_id", "category", "plan", "subscription_id", "source"):
        check(name, lambda v, name=name: text_validate(name, v), row.get(name))
    if row.get("quantity"):
        check("quantity", quantity_validate, row.get("quantity"))
    if row.get("occurred_at"):
        check("occurred_at", lambda v: occurred_at_parse(v, tz), row.get("occurred_at"))
    meta = {name[len(META_PREFIX) :]: value for name, value in row.values.items() if name.startswith(META_PREFIX)}
    meta = {key: value.strip() for key, value in meta.items() if key and value.strip()}
    check("meta", meta_validate, meta)
    if row.extra_cells:
        errors.append(RowError(row.number, "", "The row has more cells than the header has columns.", "", external_id))
    if not errors and not attrs.get("click_id") and not attrs.get("referral_code"):
        # A file row names its partner itself: the offer is the upload's, and there is no cookie.
        errors.append(RowError(row.number, "click_id", "Send click_id or referral_code.", "", external_id))
    if not errors:
        for column, messages in report_fields_check(attrs).items():
            errors.extend(RowError(row.number, column, message, "", external_id) for message in messages)
    if errors:
        return None, errors
    return ConversionReport(**attrs), []


def _errors_from(error: DomainError, row: CsvRow, report: ConversionReport) -> list[RowError]:
    fields = error.fields or {"": [error.message]}
    if "offer" in fields:
        # In a file the offer is the upload's, so the click is the column to fix.
        fields = {"click_id": fields["offer"]}
    return [
        RowError(row.number, column, message, row.get(column) if column else "", report.external_id)
        for column, messages in fields.items()
        for message in messages
    ]


# Importing new conversions ----------------------------------------------------------------------


def _conversion_chunk_import(
    *, upload: ConversionUpload, rows: list[CsvRow], seen: dict[str, int], now: datetime
) -> ChunkOutcome:
    """Validate and attribute a chunk of rows, and insert what is valid (inside the caller's transaction)."""
    advertiser, offer = upload.advertiser, upload.offer
    tz = ZoneInfo(advertiser.time_zone)
    outcome = ChunkOutcome()

    parsed: list[tuple[CsvRow, ConversionReport]] = []
    for row in rows:
        report, errors = conversion_row_parse(row, offer=offer, tz=tz)
        if errors:
            outcome.errors.extend(errors)
            continue
        first = seen.get(report.external_id)
        if first is not None:
            outcome.errors.append(
                RowError(
                    row.number,
                    "external_id",
                    f"Repeats the external_id of row {first}; only row {first} is imported.",
                    report.external_id,
                    report.external_id,
                )
            )
            continue
        seen[report.external_id] = row.number
        parsed.append((row, report))

    # As the API: a known external id is answered with the first conversion, before any attribution.
    existing = set(
        Conversion.objects.filter(
            advertiser=advertiser, external_id__in=[report.external_id for _, report in parsed]
        ).values_list("external_id", flat=True)
    )
    fresh = [(row, report) for row, report in parsed if report.external_id not in existing]
    outcome.duplicates += len(parsed) - len(fresh)

    click_ids = {report.click_id for _, report in fresh if report.click_id}
    clicks = {
        click.click_id: click
        for click in Click.objects.select_related("offer", "partner").filter(click_id__in=click_ids)
    }
    # Clicks still in the Redis click buffer: written now, so they attribute like the others.
    if missing := click_ids - clicks.keys():
        if buffered_clicks_insert(missing):
            clicks.update(
                (click.click_id, click)
                for click in Click.objects.select_related("offer", "partner").filter(click_id__in=missing)
            )
    codes = {report.referral_code.strip().upper() for _, report in fresh if not report.click_id}
    partners = {partner.referral_code: partner for partner in Partner.objects.filter(referral_code__in=codes)}

    built: list[Conversion] = []
    for row, report in fresh:
        try:
            occurred_at = occurred_at_resolve(report.occurred_at, now=now)
            if report.click_id:
                attribution = click_attribution(
                    advertiser=advertiser,
                    click=clicks.get(report.click_id),
                    occurred_at=occurred_at,
                    offer_public_id=offer.public_id,
                )
            else:
                attribution = referral_attribution(
                    offer=offer, partner=partners.get(report.referral_code.strip().upper())
                )
            built.append(
                conversion_build(
                    advertiser=advertiser,
                    report=report,
                    attribution=attribution,
                    occurred_at=occurred_at,
                    channel=Conversion.Channel.CSV,
                    request=None,
                    now=now,
                )
            )
        except DomainError as error:
            outcome.errors.extend(_errors_from(error, row, report))

    if built:
        inserted = _conversions_insert(built)
        created = [conversion for conversion in built if conversion.pk in inserted]
        _status_changes_insert(created, actor_id=upload.uploaded_by_id, now=now)
        outcome.created += len(created)
        outcome.duplicates += len(built) - len(created)
        outcome.to_process = [str(c.pk) for c in created if c.status == Conversion.Status.PENDING]
    return outcome


def _copy_values(obj, fields) -> list:
    values = []
    for model_field in fields:
        value = getattr(obj, model_field.attname)
        if isinstance(model_field, JSONField):
            value = json.dumps(value, cls=DjangoJSONEncoder)
        values.append(value)
    return values


def _conversions_insert(conversions: list[Conversion]) -> set:
    """Insert, skipping external ids that exist already; return the ids of the rows inserted.

    On PostgreSQL the rows go by COPY into a temporary table and on with one
    `INSERT ... SELECT ... ON CONFLICT DO NOTHING RETURNING id`: five times
    faster than a multi-row INSERT built by the ORM, and it says which rows
    won. Elsewhere (the SQLite demo) the ORM's bulk insert does the same.
    """
    if connection.vendor != "postgresql":
        Conversion.objects.bulk_create(conversions, batch_size=500, ignore_conflicts=True)
        # Ids are made here, so the rows that exist now are exactly the ones this insert made.
        return set(Conversion.objects.filter(pk__in=[c.pk for c in conversions]).values_list("pk", flat=True))
    fields = Conversion._meta.concrete_fields
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    table = connection.ops.quote_name(Conversion._meta.db_table)
    with connection.cursor() as cursor:
        # Dropped first: the caller's transaction may be a savepoint inside a longer one (tests).
        cursor.execute("DROP TABLE IF EXISTS pg_temp.conversion_csv_stage")
        cursor.execute(f"CREATE TEMPORARY TABLE conversion_csv_stage (LIKE {table}) ON COMMIT DROP")
        with cursor.cursor.copy(f"COPY conversion_csv_stage ({columns}) FROM STDIN") as copy:
            for conversion in conversions:
                copy.write_row(_copy_values(conversion, fields))
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM conversion_csv_stage "  # noqa: S608
            "ON CONFLICT DO NOTHING RETURNING id"
        )
        inserted = {row[0] for row in cursor.fetchall()}
        cursor.execute("DROP TABLE pg_temp.conversion_csv_stage")
    return inserted


def _status_changes_insert(conversions: list[Conversion], *, actor_id: int | None, now: datetime) -> None:
    """The first status change of each new conversion, as conversion_record writes it."""
    if connection.vendor != "postgresql":
        StatusChange.objects.bulk_create(
            [
                StatusChange(
                    conversion=c,
                    to_status=c.status,
                    reason=c.status_reason,
                    channel=Conversion.Channel.CSV,
                    actor_id=actor_id,
                    created_at=now,
                )
                for c in conversions
            ],
            batch_size=500,
        )
        return
    table = connection.ops.quote_name(StatusChange._meta.db_table)
    columns = "conversion_id, from_status, to_status, reason, remark, actor_id, channel, created_at"
    with connection.cursor() as cursor, cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for c in conversions:
            copy.write_row((c.pk, "", c.status, c.status_reason, "", actor_id, Conversion.Channel.CSV, now))


# Importing adjustments --------------------------------------------------------------------------


def _adjustment_chunk_apply(
    *, upload: ConversionUpload, rows: list[CsvRow], seen: dict[str, int], now: datetime
) -> ChunkOutcome:
    outcome = ChunkOutcome()
    ids = [row.get("external_id") for row in rows]
    conversions = {
        conversion.external_id: conversion
        for conversion in Conversion.objects.select_related("offer").filter(
            advertiser=upload.advertiser, external_id__in=ids
        )
    }
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
        conversion = conversions.get(external_id)
        if conversion is None:
            error("external_id", "No conversion of yours has this external_id.", external_id)
            continue
        if status in _APPROVE_WORDS:
            decision = "approve"
        elif status in _REJECT_WORDS:
            decision = "reject"
        else:
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
        amount_changed = False
        if amount is not None and money_quantize(amount, conversion.currency) != conversion.amount:
            # The new amount first (its reward recomputed), then the decision, which then applies to it.
            try:
                amount_changed = conversion_amount_change(
                    conversion_id=conversion.pk,
                    amount=amount,
                    actor=upload.uploaded_by,
                    channel=Conversion.Channel.CSV,
                    now=now,
                )
            except DomainError as refused:
                error("amount", refused.message, row.get("amount"))
                continue
            conversion.refresh_from_db()
        try:
            changed = conversion_validate(
                conversion=conversion,
                decision=decision,
                remark=reason,
                actor=upload.uploaded_by,
                channel=Conversion.Channel.CSV,
                now=now,
            )
        except DomainError as refused:
            error("status", refused.message, row.get("status"))
            continue
        if changed or amount_changed:
            outcome.updated += 1
        else:
            outcome.unchanged += 1
    return outcome


# The upload and its job -----------------------------------------------------------------------


def upload_file_check(raw: bytes, kind: str) -> tuple[list[str], int]:
    """Is it a table with the columns of its kind and at least one row? Return the ignored columns and the rows."""
    table = csv_table_read(raw)
    ignored = upload_columns_check(table, kind)
    total = table.count()
    if total == 0:
        raise CsvFileInvalid("The file has a header but no rows.")
    return ignored, total


def upload_create(
    *,
    advertiser: Advertiser,
    kind: str,
    name: str,
    raw: bytes,
    offer: Offer | None = None,
    billing_month: date | None = None,
    user=None,
    now: datetime | None = None,
) -> ConversionUpload:
    """Check the file is a readable table with the right columns, store it and enqueue its import.

    Raises CsvFileInvalid (the message is for the user) or ConversionNotFound for another's offer.
    The size limit is checked by the caller before it reads the file into memory.
    """
    now = now or timezone.now()
    if kind == ConversionUpload.Kind.CONVERSIONS:
        if offer is None or offer.advertiser_id != advertiser.pk:
            raise ConversionNotFound("No such offer.")
    elif offer is not None and offer.advertiser_id != advertiser.pk:
        raise ConversionNotFound("No such offer.")
    if kind == ConversionUpload.Kind.RECONCILIATION and billing_month is None:
        raise CsvFileInvalid("Choose the billing month to compare.")
    ignored, total = upload_file_check(raw, kind)
    digest = hashlib.sha256(raw).hexdigest()
    identical = (
        ConversionUpload.objects.filter(advertiser=advertiser, kind=kind, offer=offer, sha256=digest)
        .order_by("created_at", "pk")
        .first()
    )
    upload = ConversionUpload(
        advertiser=advertiser,
        offer=offer,
        kind=kind,
        original_name=name[:255],
        size=len(raw),
        sha256=digest,
        identical_to=identical,
        billing_month=billing_month.replace(day=1) if billing_month else None,
        uploaded_by=user,
        ignored_columns=ignored,
        rows_total=total,
        created_at=now,
    )
    # The stored name is ours: the user's file name is only shown, never used as a path.
    upload.file.save(f"{uuid.uuid4().hex}.csv", ContentFile(raw), save=False)
    with transaction.atomic():
        upload.save()
        job_enqueue_on_commit(upload_import, upload.pk)
    return upload


def upload_requeue(*, upload: ConversionUpload) -> bool:
    """Run an unfinished or failed upload's import again (it resumes after its last committed chunk)."""
    with transaction.atomic():
        changed = (
            ConversionUpload.objects.filter(pk=upload.pk)
            .exclude(status=ConversionUpload.Status.DONE)
            .update(status=ConversionUpload.Status.QUEUED, failure="", finished_at=None)
        )
        if changed:
            job_enqueue_on_commit(upload_import, upload.pk)
    return bool(changed)


def _chunks(rows, size):
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk


def upload_run(*, upload_id: int, now: datetime | None = None) -> ConversionUpload:
    """Import an upload, resuming after its last committed chunk; a finished upload is left as it is."""
    from conversions.reconciliation import reconciliation_run  # imported here: it imports this module

    now = now or timezone.now()
    upload = ConversionUpload.objects.select_related("advertiser", "offer", "uploaded_by").get(pk=upload_id)
    if upload.is_finished:
        return upload
    ConversionUpload.objects.filter(pk=upload.pk, status=ConversionUpload.Status.QUEUED).update(
        status=ConversionUpload.Status.RUNNING, started_at=now
    )
    try:
        with upload.file.open("rb") as stored:
            raw = stored.read()
        table = csv_table_read(raw)
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


def _rows_import(*, upload: ConversionUpload, table: CsvTable, now: datetime) -> None:
    apply = _conversion_chunk_import if upload.kind == ConversionUpload.Kind.CONVERSIONS else _adjustment_chunk_apply
    seen: dict[str, int] = {}
    cursor = upload.rows_done
    for rows in _chunks(table.rows(start=cursor), CHUNK_ROWS):
        with transaction.atomic():
            # The lock and the cursor check make two runs of the job take turns, and the loser stop.
            locked = ConversionUpload.objects.select_for_update().get(pk=upload.pk)
            if locked.rows_done != cursor or locked.is_finished:
                raise UploadSuperseded
            outcome = apply(upload=upload, rows=rows, seen=seen, now=now)
            UploadRowError.objects.bulk_create([error.model(upload) for error in outcome.errors], batch_size=1000)
            cursor += len(rows)
            locked.rows_done = cursor
            locked.created_count += outcome.created
            locked.duplicate_count += outcome.duplicates
            locked.updated_count += outcome.updated
            locked.unchanged_count += outcome.unchanged
            locked.error_count += len({error.row for error in outcome.errors})
            fields = ["rows_done", "created_count", "duplicate_count", "updated_count", "unchanged_count"]
            locked.save(update_fields=[*fields, "error_count"])
            for start in range(0, len(outcome.to_process), PROCESS_BATCH):
                job_enqueue_on_commit(process_conversions_batch, outcome.to_process[start : start + PROCESS_BATCH])
    ConversionUpload.objects.filter(pk=upload.pk, status=ConversionUpload.Status.RUNNING).update(
        status=ConversionUpload.Status.DONE, finished_at=timezone.now()
    )
