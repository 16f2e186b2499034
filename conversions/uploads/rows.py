"""A CSV's rows checked cell by cell against the rules of `POST /v1/convert` (conversions/intake/validation.py).

No database, so the importer checks the next chunk in a thread while the server commits the last one.
"""

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache, partial
from zoneinfo import ZoneInfo

from django.utils import timezone
from rest_framework.exceptions import ValidationError

from conversions.intake.recording import ConversionReport
from conversions.intake.validation import (
    FieldInvalid,
    amount_validate,
    currency_validate,
    meta_validate,
    quantity_validate,
    report_fields_check,
    text_validate,
    type_validate,
)
from conversions.models import ConversionUpload, UploadRowError
from conversions.uploads.columns import META_PREFIX, column_names, partner_columns, required_columns
from conversions.uploads.csv_files import CsvFileInvalid, CsvRow, CsvTable
from core.errors import DomainError
from core.input_limits import StrictDateTimeField
from referrals.models import Offer

_COLUMNS = {  # kind: (known columns, required columns)
    kind: (column_names(kind), required_columns(kind)) for kind in ConversionUpload.Kind.values
}
_TEXT_COLUMNS = ("click_id", "referral_code", "product_id", "category", "plan", "subscription_id", "source")


@dataclass
class RowError:
    row: int
    column: str
    reason: str
    value: str = ""
    external_id: str = ""

    def model(self, upload: ConversionUpload) -> UploadRowError:
        """The row to store, each text cut to its column's length (a cell can be longer than any column)."""
        texts = {name: getattr(self, name)[: _ERROR_LENGTHS[name]] for name in _ERROR_LENGTHS}
        return UploadRowError(upload=upload, row=self.row, **texts)


_ERROR_LENGTHS = {
    name: UploadRowError._meta.get_field(name).max_length for name in ("column", "value", "external_id", "reason")
}


def _meta_columns(header) -> tuple[str, ...]:
    return tuple(name for name in header if name.startswith(META_PREFIX) and name != META_PREFIX)


def upload_columns_check(table: CsvTable, kind: str) -> list[str]:
    """Refuse a header without the required columns; return the columns we will ignore."""
    known, required = _COLUMNS[kind]
    missing = [name for name in required if name not in table.header]
    if (partner := partner_columns(kind)) and not set(partner) & set(table.header):
        missing.append(" or ".join(partner))
    if missing:
        raise CsvFileInvalid(
            f"Missing columns: {', '.join(missing)}. The first row must name the columns; "
            f"download the template to see them. Found: {', '.join(name for name in table.header if name) or 'none'}."
        )
    meta = _meta_columns(table.header) if kind == ConversionUpload.Kind.CONVERSIONS else ()
    return [name for name in table.header if name and name not in known and name not in meta]


_API_OCCURRED_AT = StrictDateTimeField()


def occurred_at_parse(value: str, tz: ZoneInfo) -> datetime:
    """ISO 8601, without an offset in the advertiser's local time; then, as UTC, held to the API's own field
    (2000-01-01 or later). A time in the future is refused when it is recorded, as for the API."""
    try:
        parsed = datetime.fromisoformat(value)
        if timezone.is_naive(parsed):
            parsed = parsed.replace(tzinfo=tz)
        # In UTC first: an old local time's offset can have seconds, which the API's field does not read.
        return _API_OCCURRED_AT.to_internal_value(parsed.astimezone(UTC))
    except ValidationError as error:
        if error.get_codes() == ["range"]:
            raise FieldInvalid(str(error.detail[0])) from None
    except (ValueError, OverflowError):
        pass
    raise FieldInvalid("Not an ISO 8601 date and time, such as 2025-03-31T14:05:00+02:00.")


def _answer(validate, *args) -> tuple:
    """(the valid value, "") or (None, the message)."""
    try:
        return validate(*args), ""
    except FieldInvalid as error:
        return None, str(error)


def _remembered(validate):
    """`_answer` from memory for a value seen before: a file's types, currencies and times repeat."""
    return lru_cache(maxsize=4096)(partial(_answer, validate))


_type_answer = _remembered(type_validate)
_currency_answer = _remembered(currency_validate)
_occurred_at_answer = _remembered(occurred_at_parse)
_meta_answer = _remembered(lambda items: meta_validate(dict(items)))


def conversion_row_parse(
    row: CsvRow, *, offer: Offer, tz: ZoneInfo, meta_columns: tuple[str, ...] | None = None
) -> tuple[ConversionReport | None, list[RowError]]:
    """One row into a report, with every field error of the row (not just the first). `meta_columns`: the
    header's meta_ columns, when the caller has picked them out once for many rows."""
    errors: list[RowError] = []
    attrs: dict = {"offer": offer.public_id}
    number, values = row.number, row.values
    external_id = (values.get("external_id") or "").strip()

    def take(column: str, value: str, answer: tuple) -> None:
        if answer[1]:
            errors.append(RowError(number, column, answer[1], value, external_id))
        else:
            attrs[column] = answer[0]

    if external_id:
        take("external_id", external_id, _answer(text_validate, "external_id", external_id))
    else:
        errors.append(RowError(number, "external_id", "Required: your order or invoice id."))
    kind = (values.get("type") or "").strip().lower()
    take("type", kind, _type_answer(kind))
    if amount := (values.get("amount") or "").strip():
        take("amount", amount, _answer(amount_validate, amount))
    else:
        errors.append(RowError(number, "amount", "Required.", "", external_id))
    currency = (values.get("currency") or "").strip()
    take("currency", currency, _currency_answer(currency))
    for name in _TEXT_COLUMNS:
        value = (values.get(name) or "").strip()
        take(name, value, _answer(text_validate, name, value))
    if quantity := (values.get("quantity") or "").strip():
        take("quantity", quantity, _answer(quantity_validate, quantity))
    if occurred_at := (values.get("occurred_at") or "").strip():
        take("occurred_at", occurred_at, _occurred_at_answer(occurred_at, tz))
    meta_columns = _meta_columns(values) if meta_columns is None else meta_columns
    meta = {name[len(META_PREFIX) :]: value for name in meta_columns if (value := (values.get(name) or "").strip())}
    meta_answer = _meta_answer(tuple(meta.items()))
    take("meta", json.dumps(meta) if meta_answer[1] else "", meta_answer)
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


def row_errors_from(error: DomainError, row: CsvRow, report: ConversionReport) -> list[RowError]:
    fields = error.fields or {"": [error.message]}
    if "offer" in fields:
        # In a file the offer is the upload's, so the click is the column to fix.
        fields = {"click_id": fields["offer"]}
    return [
        RowError(row.number, column, message, row.get(column) if column else "", report.external_id)
        for column, messages in fields.items()
        for message in messages
    ]


@dataclass
class CheckedRows:
    valid: list[tuple[CsvRow, ConversionReport]]
    errors: list[RowError]


def conversion_rows_check(*, upload: ConversionUpload, rows: list[CsvRow], seen: dict[str, int]) -> CheckedRows:
    """Check each row's fields and its external id against the earlier rows; no database."""
    offer, tz = upload.offer, ZoneInfo(upload.advertiser.time_zone)
    meta_columns = _meta_columns(rows[0].values) if rows else ()
    checked = CheckedRows(valid=[], errors=[])
    for row in rows:
        report, errors = conversion_row_parse(row, offer=offer, tz=tz, meta_columns=meta_columns)
        if errors:
            checked.errors.extend(errors)
        elif (first := seen.get(report.external_id)) is not None:
            reason = f"Repeats the external_id of row {first}; only row {first} is imported."
            checked.errors.append(RowError(row.number, "external_id", reason, report.external_id, report.external_id))
        else:
            seen[report.external_id] = row.number
            checked.valid.append((row, report))
    return checked
