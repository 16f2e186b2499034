"""Importing advertisers' CSVs: new conversions, and adjustments (approve, reject, new amount) of existing ones.

A row of a conversions file is held to the rules of `POST /v1/convert`: the
same field checks (conversions/validation.py), the same attribution
(conversions/attribution.py) and the same conversion
(conversions/ingestion.py:conversion_build, whose result ConversionRowBuilder
reproduces as COPY rows without a model instance per row). Only the lookups
and inserts are done in bulk, a chunk at a time, so that 100k rows import in
seconds: the chunk's clicks in one query (attribution.click_facts_for_ids),
partners once per referral code, then the rows by COPY straight into the
table, where the unique `(advertiser, external_id)` finds known external ids
and decides races with the API (the chunk then goes again with
`INSERT ... ON CONFLICT DO NOTHING`). The next chunk is read and its fields
checked in a thread (no database) while the server commits the last one.

Each chunk commits with its row errors and the upload's counters, `rows_done`
being the cursor: a second run of the job resumes after the last committed
chunk, and a finished upload is never imported twice.
"""

import hashlib
import json
import os
import re
import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from itertools import islice
from json.encoder import c_make_encoder, encode_basestring_ascii
from zoneinfo import ZoneInfo

from django.core.files.base import ContentFile
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import JSONField
from django.utils import timezone
from psycopg.errors import UniqueViolation

from config.errors import DomainError
from config.jobs import job_enqueue_on_commit
from conversions.attribution import (
    Attribution,
    AttributionIds,
    any_text_sql,
    click_facts_attribution,
    click_facts_for_ids,
    referral_attribution,
)
from conversions.csv_files import CsvFileInvalid, CsvRow, CsvTable, csv_table_read
from conversions.errors import ConversionInvalid, ConversionNotFound
from conversions.ingestion import REJECTION_REMARKS, ConversionReport, conversion_build, occurred_at_resolve
from conversions.lifecycle import conversion_amount_change, conversion_decide
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
from referrals.models import Advertiser, Offer, Partner
from referrals.money import MoneyError, money_quantize

CHUNK_ROWS = 10_000
PROCESS_BATCH = 2000

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


def _remembered(validate):
    """A pure validator answering from memory for a value seen before: a file's types, currencies and times repeat.

    Returns (value, "") or (None, the FieldInvalid message).
    """

    @lru_cache(maxsize=4096)
    def answer(*args) -> tuple:
        try:
            return validate(*args), ""
        except FieldInvalid as error:
            return None, str(error)

    return answer


_type_answer = _remembered(type_validate)
_currency_answer = _remembered(currency_validate)
_occurred_at_answer = _remembered(occurred_at_parse)
_meta_answer = _remembered(lambda items: meta_validate(dict(items)))
_TEXT_COLUMNS = ("click_id", "referral_code", "product_id", "category", "plan", "subscription_id", "source")


def conversion_row_parse(
    row: CsvRow, *, offer: Offer, tz: ZoneInfo, meta_columns: tuple[str, ...] | None = None
) -> tuple[ConversionReport | None, list[RowError]]:
    """One row into a report, with every field error of the row (not just the first).

    `meta_columns`: the header's meta_ columns, when the caller has picked them out once for many rows.
    """
    errors: list[RowError] = []
    attrs: dict = {"offer": offer.public_id}
    number, values = row.number, row.values
    external_id = (values.get("external_id") or "").strip()

    def check(column: str, value: str, answer: tuple) -> None:
        if answer[1]:
            errors.append(RowError(number, column, answer[1], value, external_id))
        else:
            attrs[column] = answer[0]

    def validated(column: str, value, validate, *args) -> None:
        try:
            attrs[column] = validate(*args, value)
        except FieldInvalid as error:
            errors.append(RowError(number, column, str(error), value, external_id))

    if not external_id:
        errors.append(RowError(number, "external_id", "Required: your order or invoice id."))
    else:
        validated("external_id", external_id, text_validate, "external_id")
    kind = (values.get("type") or "").strip().lower()
    check("type", kind, _type_answer(kind))
    if not (amount := (values.get("amount") or "").strip()):
        errors.append(RowError(number, "amount", "Required.", "", external_id))
    else:
        validated("amount", amount, amount_validate)
    currency = (values.get("currency") or "").strip()
    check("currency", currency, _currency_answer(currency))
    for name in _TEXT_COLUMNS:
        validated(name, (values.get(name) or "").strip(), text_validate, name)
    if quantity := (values.get("quantity") or "").strip():
        validated("quantity", quantity, quantity_validate)
    if occurred_at := (values.get("occurred_at") or "").strip():
        check("occurred_at", occurred_at, _occurred_at_answer(occurred_at, tz))
    if meta_columns is None:
        meta_columns = tuple(name for name in values if name.startswith(META_PREFIX))
    meta = {}
    for name in meta_columns:
        if (key := name[len(META_PREFIX) :]) and (value := (values.get(name) or "").strip()):
            meta[key] = value
    meta_answer = _meta_answer(tuple(meta.items()))
    check("meta", json_text(meta) if meta_answer[1] else "", meta_answer)
    if row.extra_cells:
        errors.append(RowError(number, "", "The row has more cells than the header has columns.", "", external_id))
    if not errors and not attrs.get("click_id") and not attrs.get("referral_code"):
        # A file row names its partner itself: the offer is the upload's, and there is no cookie.
        errors.append(RowError(number, "click_id", "Send click_id or referral_code.", "", external_id))
    if not errors:
        for column, messages in report_fields_check(attrs).items():
            errors.extend(RowError(number, column, message, "", external_id) for message in messages)
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


@dataclass
class CheckedRows:
    """A chunk's rows checked field by field: the valid ones with their reports, and the row errors."""

    valid: list[tuple[CsvRow, ConversionReport]]
    errors: list[RowError]


def _conversion_rows_check(*, upload: ConversionUpload, rows: list[CsvRow], seen: dict[str, int]) -> CheckedRows:
    """Check each row's fields and its external id against the earlier rows; no database."""
    offer, tz = upload.offer, ZoneInfo(upload.advertiser.time_zone)
    meta_columns = tuple(name for name in rows[0].values if name.startswith(META_PREFIX)) if rows else ()
    checked = CheckedRows(valid=[], errors=[])
    for row in rows:
        report, errors = conversion_row_parse(row, offer=offer, tz=tz, meta_columns=meta_columns)
        if errors:
            checked.errors.extend(errors)
            continue
        first = seen.get(report.external_id)
        if first is not None:
            checked.errors.append(
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
        checked.valid.append((row, report))
    return checked


def _conversion_chunk_import(
    *,
    upload: ConversionUpload,
    rows: list[CsvRow],
    seen: dict[str, int],
    now: datetime,
    checked: CheckedRows | None = None,
) -> ChunkOutcome:
    """Validate (unless `checked` already) and attribute a chunk of rows, and insert what is valid.

    Runs inside the caller's transaction.
    """
    advertiser, offer = upload.advertiser, upload.offer
    checked = checked or _conversion_rows_check(upload=upload, rows=rows, seen=seen)
    outcome = ChunkOutcome(errors=checked.errors)
    parsed = checked.valid

    click_ids = {report.click_id for _, report in parsed if report.click_id}
    clicks = click_facts_for_ids(click_ids)
    # Clicks still in the Redis click buffer: written now, so they attribute like the others.
    if (missing := click_ids - clicks.keys()) and buffered_clicks_insert(missing):
        clicks.update(click_facts_for_ids(missing))
    by_code = _referral_attributions(offer, {report.referral_code for _, report in parsed if not report.click_id})

    builder = ConversionRowBuilder(upload=upload, now=now)
    refused: list[tuple[CsvRow, ConversionReport, DomainError]] = []

    def attributed_rows() -> Iterator[tuple]:
        for row, report in parsed:
            try:
                occurred_at = occurred_at_resolve(report.occurred_at, now=now)
                if report.click_id:
                    attribution = click_facts_attribution(
                        advertiser_id=advertiser.pk,
                        facts=clicks.get(report.click_id),
                        occurred_at=occurred_at,
                        offer_public_id=offer.public_id,
                    )
                    explanation = json_text(attribution.explanation)
                else:
                    attribution, explanation = by_code[report.referral_code]
                    if isinstance(attribution, DomainError):
                        refused.append((row, report, attribution))
                        continue
                yield builder.row(report, attribution, occurred_at, explanation)
            except DomainError as error:
                refused.append((row, report, error))

    # Built while they are copied: the server inserts a row while the next is being built. A known
    # external id is a duplicate (the insert skips it), not an error, also when its row no longer
    # attributes, as the API answers a repeat with the first conversion before attributing it.
    built, created = _conversions_insert(builder, attributed_rows())
    existing = _existing_external_ids(advertiser, [report.external_id for _, report, _ in refused])
    for row, report, error in refused:
        if report.external_id in existing:
            outcome.duplicates += 1
        else:
            outcome.errors.extend(_errors_from(error, row, report))
    if created:
        _status_changes_insert(created, actor_id=upload.uploaded_by_id, now=now)
    outcome.created += len(created)
    outcome.duplicates += len(built) - len(created)
    outcome.to_process = [values[0] for values in created if values[_STATUS] == _PENDING]
    return outcome


def _existing_external_ids(advertiser: Advertiser, external_ids: list[str]) -> set[str]:
    if not external_ids:
        return set()
    if connection.vendor != "postgresql":
        conversions = Conversion.objects.filter(advertiser=advertiser, external_id__in=external_ids)
        return set(conversions.values_list("external_id", flat=True))
    any_ids, param = any_text_sql(external_ids)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT external_id FROM {Conversion._meta.db_table}"  # noqa: S608
            f" WHERE advertiser_id = %s AND external_id = {any_ids}",
            [advertiser.pk, param],
        )
        return {external_id for (external_id,) in cursor.fetchall()}


def _referral_attributions(offer: Offer, codes: set[str]) -> dict[str, tuple[AttributionIds | DomainError, str]]:
    """For each referral code as written in the file: its attribution and explanation JSON, or the refusal."""
    normalised = {code: code.strip().upper() for code in codes}
    partners = {p.referral_code: p for p in Partner.objects.filter(referral_code__in=set(normalised.values()))}
    attributions: dict[str, tuple[AttributionIds | DomainError, str]] = {}
    for code, key in normalised.items():
        try:
            attribution = AttributionIds.of(referral_attribution(offer=offer, partner=partners.get(key)))
            attributions[code] = attribution, json.dumps(attribution.explanation)
        except DomainError as error:
            attributions[code] = error, ""
    return attributions


# The row's own fields, first in each COPY row; the other columns are the same for every row of a CSV.
_ROW_FIELDS = tuple(
    "id offer_id partner_id click_id external_id type status status_reason status_remark amount currency"
    " product_id category quantity plan subscription_id source meta attribution occurred_at processed_at".split()
)
_STATUS = _ROW_FIELDS.index("status")
_PENDING, _REJECTED = Conversion.Status.PENDING.value, Conversion.Status.REJECTED.value
_ROW_WIDTH = len(_ROW_FIELDS)
_JSON_FIELDS = {f.attname for f in Conversion._meta.concrete_fields if isinstance(f, JSONField)}


def _uuid4_texts(count: int) -> list[str]:
    """`count` ids as uuid.uuid4 makes them (random, version 4), as text, from one read of the OS's randomness."""
    raw = bytearray(os.urandom(16 * count))
    raw[6::16] = bytes(byte & 0x0F | 0x40 for byte in raw[6::16])
    raw[8::16] = bytes(byte & 0x3F | 0x80 for byte in raw[8::16])
    digits = raw.hex()
    each = (digits[start : start + 32] for start in range(0, 32 * count, 32))
    return [f"{d[:8]}-{d[8:12]}-{d[12:16]}-{d[16:20]}-{d[20:]}" for d in each]


class ConversionRowBuilder:
    """The values of the conversions of a CSV, as tuples of COPY columns (no model instance per row).

    The same fields as conversion_build: the columns that are the same for every CSV row come from
    a conversion built by conversion_build itself; `row` sets each row's fields as conversion_build does
    (tests/conversions/test_csv_import_equivalence.py holds the two to the same result).
    """

    def __init__(self, *, upload: ConversionUpload, now: datetime):
        self.offer, self.now = upload.offer, now
        template = conversion_build(
            advertiser=upload.advertiser,
            report=ConversionReport(type=Conversion.Type.PURCHASE, external_id="", amount=Decimal(0)),
            attribution=Attribution(
                offer=upload.offer, partner_id=None, click=None, step="", rejection="", explanation={}
            ),
            occurred_at=now,
            channel=Conversion.Channel.CSV,
            request=None,
            now=now,
        )
        shared = [f for f in Conversion._meta.concrete_fields if f.attname not in _ROW_FIELDS]
        self.columns = [*_ROW_FIELDS, *(f.attname for f in shared)]
        self.shared_values = tuple(_copy_values(template, shared))
        self.shared_text = "\t".join(map(_copy_text, self.shared_values))
        self.ids: list[str] = []

    def copy_line(self, values: tuple) -> str:
        """A row in COPY's text format; the shared columns are rendered once, the row's free text escaped."""
        (id_, offer, partner, click, external_id, kind, status, reason, remark, amount, currency, product,
         category, quantity, plan, subscription, source, meta, explanation, occurred_at, processed_at,
         ) = values[:_ROW_WIDTH]  # fmt: skip
        free = (external_id, product, category, plan, subscription, source, meta, explanation)
        if _COPY_SPECIAL.search("".join(free)):
            external_id, product, category, plan, subscription, source, meta, explanation = map(_copy_text, free)
        partner = _COPY_NULL if partner is None else partner
        click = _COPY_NULL if click is None else click
        processed_at = _COPY_NULL if processed_at is None else processed_at
        return (
            f"{id_}\t{offer}\t{partner}\t{click}\t{external_id}\t{kind}\t{status}\t{reason}\t{remark}\t{amount}"
            f"\t{currency}\t{product}\t{category}\t{quantity}\t{plan}\t{subscription}\t{source}\t{meta}"
            f"\t{explanation}\t{occurred_at}\t{processed_at}\t{self.shared_text}\n"
        )

    def row(
        self, report: ConversionReport, attribution: AttributionIds, occurred_at: datetime, explanation: str
    ) -> tuple:
        """The COPY row; `explanation` is attribution.explanation as JSON (made once per referral code)."""
        if not self.ids:
            # Popped in ascending order: the primary key index takes runs of neighbouring keys.
            self.ids = sorted(_uuid4_texts(2048), reverse=True)
        currency = report.currency or self.offer.currency  # the click's offer is the upload's (else refused)
        try:
            amount = money_quantize(report.amount, currency)
        except MoneyError as error:
            raise ConversionInvalid(str(error), fields={"currency": [str(error)]}) from None
        reason = attribution.rejection
        return (
            self.ids.pop(),
            attribution.offer_id,
            attribution.partner_id,
            attribution.click_pk,
            report.external_id,
            report.type,
            _REJECTED if reason else _PENDING,
            reason,
            REJECTION_REMARKS.get(reason, ""),
            amount,
            currency,
            report.product_id,
            report.category,
            report.quantity,
            report.plan,
            report.subscription_id,
            report.source,
            json_text(report.meta),
            explanation,
            occurred_at,
            self.now if reason else None,
            *self.shared_values,
        )


_COPY_NULL = "\\N"
_COPY_SPECIAL = re.compile(r"[\\\t\n\r]")
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(value) -> str:
    """A value in COPY's text format."""
    if value is None:
        return _COPY_NULL
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, str):
        return value.translate(_COPY_ESCAPES)
    return str(value)


def _json_text_encoder():
    """json.dumps for many small objects: json.dumps makes a new C encoder each call, this one is made once."""
    if c_make_encoder is None:
        return json.dumps
    encode = c_make_encoder(None, None, encode_basestring_ascii, None, ": ", ", ", False, False, True)
    return lambda value: "".join(encode(value, 0))


json_text = _json_text_encoder()


def _copy_values(obj, fields) -> list:
    values = []
    for model_field in fields:
        value = getattr(obj, model_field.attname)
        if isinstance(model_field, JSONField):
            value = json.dumps(value, cls=DjangoJSONEncoder)
        values.append(value)
    return values


def _conversions_insert(builder: "ConversionRowBuilder", rows: Iterable[tuple]) -> tuple[list[tuple], list[tuple]]:
    """Insert the rows, skipping external ids that exist already; return the rows and those inserted.

    On PostgreSQL the rows go by COPY straight into the table, in a savepoint: new external ids are
    the common case. A known one (a file imported again, a race with the API) breaks the unique
    constraint; then the COPY is undone and the rows go by COPY into a temporary table and on with
    one `INSERT ... SELECT ... ON CONFLICT DO NOTHING RETURNING id`, which says which rows won.
    Elsewhere (the SQLite demo) the ORM's bulk insert does the same.
    """
    rows = iter(rows)
    built: list[tuple] = []
    if connection.vendor != "postgresql":
        built.extend(rows)
        columns = builder.columns
        decoded = ({name: json.loads(v) if name in _JSON_FIELDS else v for name, v in zip(columns, row, strict=True)}
                   for row in built)  # fmt: skip
        conversions = [Conversion(**values) for values in decoded]
        Conversion.objects.bulk_create(conversions, batch_size=500, ignore_conflicts=True)
        # Ids are made here, so the rows that exist now are exactly the ones this insert made.
        ids = Conversion.objects.filter(pk__in=[row[0] for row in built]).values_list("pk", flat=True)
        inserted = {str(pk) for pk in ids}
        return built, [row for row in built if row[0] in inserted]
    names = ", ".join(connection.ops.quote_name(name) for name in builder.columns)
    table = connection.ops.quote_name(Conversion._meta.db_table)

    def kept(source):
        for row in source:
            built.append(row)
            yield row

    try:
        with transaction.atomic(), connection.cursor() as cursor:
            _copy_lines(cursor, f"COPY {table} ({names}) FROM STDIN", map(builder.copy_line, kept(rows)))
        return built, built
    except UniqueViolation:
        built.extend(rows)  # the rows not yet built when the COPY failed
    with connection.cursor() as cursor:
        # Dropped first: the caller's transaction may be a savepoint inside a longer one (tests).
        cursor.execute("DROP TABLE IF EXISTS pg_temp.conversion_csv_stage")
        cursor.execute(f"CREATE TEMPORARY TABLE conversion_csv_stage (LIKE {table}) ON COMMIT DROP")
        _copy_lines(cursor, f"COPY conversion_csv_stage ({names}) FROM STDIN", map(builder.copy_line, built))
        cursor.execute(
            f"INSERT INTO {table} ({names}) SELECT {names} FROM conversion_csv_stage "  # noqa: S608
            "ON CONFLICT DO NOTHING RETURNING id"
        )
        inserted = {str(pk) for (pk,) in cursor.fetchall()}
        cursor.execute("DROP TABLE pg_temp.conversion_csv_stage")
    return built, [row for row in built if row[0] in inserted]


def _copy_lines(cursor, statement: str, lines: Iterable[str]) -> None:
    """COPY lines of text, sent a thousand at a time: the server stores them while the next are made."""
    with cursor.cursor.copy(statement) as copy:
        for batch in _chunks(lines, 1000):
            copy.write("".join(batch))


def _status_changes_insert(conversions: list[tuple], *, actor_id: int | None, now: datetime) -> None:
    """The first status change of each new conversion (rows of ConversionRowBuilder), as conversion_record writes it."""
    reason = _ROW_FIELDS.index("status_reason")
    channel = Conversion.Channel.CSV.value
    if connection.vendor != "postgresql":
        StatusChange.objects.bulk_create(
            [
                StatusChange(
                    conversion_id=c[0],
                    to_status=c[_STATUS],
                    reason=c[reason],
                    channel=channel,
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
    actor, created_at = _copy_text(actor_id), _copy_text(now)
    with connection.cursor() as cursor:
        _copy_lines(
            cursor,
            f"COPY {table} ({columns}) FROM STDIN",
            (f"{c[0]}\t\t{c[_STATUS]}\t{c[reason]}\t\t{actor}\t{channel}\t{created_at}\n" for c in conversions),
        )


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
            changed = conversion_decide(
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
    conversions = upload.kind == ConversionUpload.Kind.CONVERSIONS
    apply = _conversion_chunk_import if conversions else _adjustment_chunk_apply
    seen: dict[str, int] = {}
    cursor = upload.rows_done
    chunks = _chunks(table.rows(start=cursor), CHUNK_ROWS)

    def read_next() -> tuple[list[CsvRow] | None, dict]:
        """The next chunk, its new conversions' fields checked: no database, so it can run while the server commits."""
        rows = next(chunks, None)
        if rows is None or not conversions:
            return rows, {}
        return rows, {"checked": _conversion_rows_check(upload=upload, rows=rows, seen=seen)}

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="csv-read") as reader:
        upcoming = reader.submit(read_next)
        while (chunk := upcoming.result())[0] is not None:
            rows, checked = chunk
            with transaction.atomic():
                # The lock and the cursor check make two runs of the job take turns, and the loser stop.
                locked = ConversionUpload.objects.select_for_update().get(pk=upload.pk)
                if locked.rows_done != cursor or locked.is_finished:
                    raise UploadSuperseded
                outcome = apply(upload=upload, rows=rows, seen=seen, now=now, **checked)
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
                    batch = outcome.to_process[start : start + PROCESS_BATCH]
                    job_enqueue_on_commit(process_conversions_batch, batch)
                # The next chunk is read and checked while the server commits this one (its deferred
                # foreign key checks take as long as the Python of a chunk).
                upcoming = reader.submit(read_next)
    ConversionUpload.objects.filter(pk=upload.pk, status=ConversionUpload.Status.RUNNING).update(
        status=ConversionUpload.Status.DONE, finished_at=timezone.now()
    )
