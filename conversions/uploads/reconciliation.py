"""Reconciliation: an advertiser's own list of a billing month's orders (`external_id`, `amount`) against ours.

Each order is `matched`, `amount_differs`, `only_theirs` (a missing conversion) or `only_ours`.
Their ids are matched against all our conversions, whatever the month; ours are the conversions
that occurred in the month in the advertiser's time zone.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils import timezone

from conversions.intake.validation import FieldInvalid, amount_validate
from conversions.models import Conversion, ConversionUpload, UploadRowError
from conversions.uploads.csv_files import CsvTable, csv_table_read
from conversions.uploads.rows import RowError
from core.money import MoneyError, money_quantize
from rewards.periods import months_after


@dataclass
class ReconciliationLine:
    external_id: str
    result: str
    their_amount: Decimal | None
    our_amount: Decimal | None = None
    currency: str = ""
    our_status: str = ""
    offer: str = ""
    occurred_at: datetime | None = None

    @classmethod
    def of(cls, external_id: str, result: str, their_amount: Decimal | None, ours: Conversion | None):
        if ours is None:
            return cls(external_id, result, their_amount)
        offer = ours.offer.public_id
        return cls(external_id, result, their_amount, ours.amount, ours.currency, ours.status, offer, ours.occurred_at)

    @property
    def difference(self) -> Decimal | None:
        if self.their_amount is None or self.our_amount is None:
            return None
        return self.their_amount - self.our_amount


def _their_rows(table: CsvTable) -> tuple[dict[str, tuple[int, Decimal]], list[RowError]]:
    theirs: dict[str, tuple[int, Decimal]] = {}
    errors: list[RowError] = []
    for row in table.rows():
        external_id, raw_amount = row.get("external_id"), row.get("amount")
        if not external_id:
            errors.append(RowError(row.number, "external_id", "Required."))
            continue
        try:
            amount = amount_validate(raw_amount)
        except FieldInvalid as error:
            errors.append(RowError(row.number, "amount", str(error), raw_amount, external_id))
            continue
        if external_id in theirs:
            reason = f"Repeats row {theirs[external_id][0]}; only that row is compared."
            errors.append(RowError(row.number, "external_id", reason, external_id, external_id))
        else:
            theirs[external_id] = (row.number, amount)
    return theirs, errors


def reconciliation_lines(upload: ConversionUpload, table: CsvTable | None = None) -> list[ReconciliationLine]:
    """Every order of both sides with its result, theirs first in file order, then only ours."""
    if table is None:
        with upload.file.open("rb") as stored:
            table = csv_table_read(stored.read())
    theirs, _ = _their_rows(table)
    month, tz = upload.billing_month, ZoneInfo(upload.advertiser.time_zone)
    start = datetime(month.year, month.month, 1, tzinfo=tz)
    end = months_after(start, 1)
    ours_qs = Conversion.objects.filter(advertiser=upload.advertiser).select_related("offer")
    if upload.offer_id:
        ours_qs = ours_qs.filter(offer_id=upload.offer_id)
    ours = {c.external_id: c for c in ours_qs.filter(occurred_at__gte=start, occurred_at__lt=end)}
    ids = [external_id for external_id in theirs if external_id not in ours]
    for begin in range(0, len(ids), 5000):
        ours.update({c.external_id: c for c in ours_qs.filter(external_id__in=ids[begin : begin + 5000])})
    lines = []
    for external_id, (_, their_amount) in theirs.items():
        if (conversion := ours.get(external_id)) is None:
            lines.append(ReconciliationLine.of(external_id, "only_theirs", their_amount, None))
            continue
        try:
            compared = money_quantize(their_amount, conversion.currency)
        except MoneyError:
            compared = their_amount
        result = "matched" if compared == conversion.amount else "amount_differs"
        lines.append(ReconciliationLine.of(external_id, result, their_amount, conversion))
    lines.extend(
        ReconciliationLine.of(external_id, "only_ours", None, conversion)
        for external_id, conversion in ours.items()
        if external_id not in theirs and start <= conversion.occurred_at < end
    )
    return lines


def reconciliation_run(*, upload: ConversionUpload, table: CsvTable, now: datetime) -> None:
    """The job's part: count each result and keep the row errors; the lines are recomputed when shown."""
    _, errors = _their_rows(table)
    summary = dict.fromkeys(("matched", "amount_differs", "only_theirs", "only_ours"), 0)
    for line in reconciliation_lines(upload, table):
        summary[line.result] += 1
    with transaction.atomic():
        locked = ConversionUpload.objects.select_for_update().get(pk=upload.pk)
        if locked.is_finished:
            return
        UploadRowError.objects.filter(upload=locked).delete()
        UploadRowError.objects.bulk_create([error.model(locked) for error in errors], batch_size=1000)
        locked.summary = summary
        locked.rows_done = locked.rows_total
        locked.error_count = len({error.row for error in errors})
        locked.status = ConversionUpload.Status.DONE
        locked.finished_at = timezone.now()
        locked.save(update_fields=["summary", "rows_done", "error_count", "status", "finished_at"])
