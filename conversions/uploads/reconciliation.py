"""Reconciliation: an advertiser's own list of a billing month's orders against what we tracked.

Their file has `external_id` and `amount`. Each order is `matched`,
`amount_differs`, `only_theirs` (we never tracked it: a missing conversion),
or `only_ours` (tracked by us in that month, absent from their list). Their
ids are matched against all our conversions, whatever the month; ours are the
conversions that occurred in the month in the advertiser's time zone.
"""

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils import timezone

from conversions.intake.validation import FieldInvalid, amount_validate
from conversions.models import Conversion, ConversionUpload, UploadRowError
from conversions.uploads.csv_files import CsvTable, csv_table_read
from core.money import MoneyError, money_quantize

RESULTS = ("matched", "amount_differs", "only_theirs", "only_ours")


@dataclass
class ReconciliationLine:
    external_id: str
    result: str
    their_amount: Decimal | None
    our_amount: Decimal | None
    currency: str = ""
    our_status: str = ""
    offer: str = ""
    occurred_at: datetime | None = None

    @property
    def difference(self) -> Decimal | None:
        if self.their_amount is None or self.our_amount is None:
            return None
        return self.their_amount - self.our_amount


def month_bounds(month: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    start = datetime(month.year, month.month, 1, tzinfo=tz)
    end = datetime(month.year + month.month // 12, month.month % 12 + 1, 1, tzinfo=tz)
    return start, end


def _their_rows(table: CsvTable) -> tuple[dict[str, tuple[int, Decimal]], list[UploadRowError]]:
    theirs: dict[str, tuple[int, Decimal]] = {}
    errors: list[UploadRowError] = []
    for row in table.rows():
        external_id, raw_amount = row.get("external_id"), row.get("amount")
        if not external_id:
            errors.append(UploadRowError(row=row.number, column="external_id", reason="Required."))
            continue
        try:
            amount = amount_validate(raw_amount)
        except FieldInvalid as error:
            errors.append(
                UploadRowError(
                    row=row.number, column="amount", value=raw_amount[:200], external_id=external_id, reason=str(error)
                )
            )
            continue
        if external_id in theirs:
            errors.append(
                UploadRowError(
                    row=row.number,
                    column="external_id",
                    value=external_id,
                    external_id=external_id,
                    reason=f"Repeats row {theirs[external_id][0]}; only that row is compared.",
                )
            )
            continue
        theirs[external_id] = (row.number, amount)
    return theirs, errors


def reconciliation_lines(upload: ConversionUpload, table: CsvTable | None = None) -> list[ReconciliationLine]:
    """Every order of both sides with its result, theirs first in file order, then only ours."""
    if table is None:
        with upload.file.open("rb") as stored:
            table = csv_table_read(stored.read())
    theirs, _ = _their_rows(table)
    tz = ZoneInfo(upload.advertiser.time_zone)
    start, end = month_bounds(upload.billing_month, tz)
    ours_qs = Conversion.objects.filter(advertiser=upload.advertiser).select_related("offer")
    if upload.offer_id:
        ours_qs = ours_qs.filter(offer_id=upload.offer_id)
    ours = {c.external_id: c for c in ours_qs.filter(occurred_at__gte=start, occurred_at__lt=end)}
    ids = list(theirs)
    for begin in range(0, len(ids), 5000):
        batch = [i for i in ids[begin : begin + 5000] if i not in ours]
        ours.update({c.external_id: c for c in ours_qs.filter(external_id__in=batch)})

    lines = []
    for external_id, (_, their_amount) in theirs.items():
        conversion = ours.get(external_id)
        if conversion is None:
            lines.append(ReconciliationLine(external_id, "only_theirs", their_amount, None))
            continue
        try:
            compared = money_quantize(their_amount, conversion.currency)
        except MoneyError:
            compared = their_amount
        result = "matched" if compared == conversion.amount else "amount_differs"
        lines.append(
            ReconciliationLine(
                external_id,
                result,
                their_amount,
                conversion.amount,
                conversion.currency,
                conversion.status,
                conversion.offer.public_id,
                conversion.occurred_at,
            )
        )
    for external_id, conversion in ours.items():
        if external_id not in theirs and start <= conversion.occurred_at < end:
            lines.append(
                ReconciliationLine(
                    external_id,
                    "only_ours",
                    None,
                    conversion.amount,
                    conversion.currency,
                    conversion.status,
                    conversion.offer.public_id,
                    conversion.occurred_at,
                )
            )
    return lines


def reconciliation_run(*, upload: ConversionUpload, table: CsvTable, now: datetime) -> None:
    """The job's part: count each result and keep the row errors; the lines are recomputed when shown."""
    _, errors = _their_rows(table)
    lines = reconciliation_lines(upload, table)
    summary = {result: 0 for result in RESULTS}
    for line in lines:
        summary[line.result] += 1
    with transaction.atomic():
        locked = ConversionUpload.objects.select_for_update().get(pk=upload.pk)
        if locked.is_finished:
            return
        UploadRowError.objects.filter(upload=locked).delete()
        for error in errors:
            error.upload = locked
        UploadRowError.objects.bulk_create(errors, batch_size=1000)
        locked.summary = summary
        locked.rows_done = locked.rows_total
        locked.error_count = len({error.row for error in errors})
        locked.status = ConversionUpload.Status.DONE
        locked.finished_at = timezone.now()
        locked.save(update_fields=["summary", "rows_done", "error_count", "status", "finished_at"])
