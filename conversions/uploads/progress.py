"""How far an upload really is: its rows imported, then the conversions it created processed (screened, rewarded).

An upload's import commits its rows chunk by chunk; the conversions it created are processed afterwards by the
sweeper job (conversions/processing/jobs.py), which can take a while longer. The upload is done for its owner only
when both are. The conversions an upload created are the offer's CSV conversions stamped with the import's time
(`started_at`, see importing.upload_run): every conversion of one run gets the run's `now` as `created_at`.
"""

from collections.abc import Iterable
from dataclasses import dataclass, replace

from django.db.models import Count, Q

from conversions.models import Conversion, ConversionUpload
from conversions.uploads.queue_state import job_queue_describe, upload_job_describe
from rewards.grants import Outcome


@dataclass(frozen=True)
class UploadProgress:
    upload: ConversionUpload
    conversions_processed: int
    waiting_for: str  # in words, what the upload waits for; "" when nothing is in its way
    conversions_waiting_for_rate: int = 0  # pending until an exchange rate is loaded

    @property
    def conversions_total(self) -> int:
        return self.upload.created_count if self.upload.kind == ConversionUpload.Kind.CONVERSIONS else 0

    @property
    def phase(self) -> str:
        """queued, importing, processing, done or failed."""
        status = self.upload.status
        if status == ConversionUpload.Status.RUNNING:
            return "importing"
        if status == ConversionUpload.Status.DONE and self.conversions_processed < self.conversions_total:
            return "processing"
        return status

    @property
    def finished(self) -> bool:
        return self.phase in ("done", "failed")

    @property
    def percent(self) -> int:
        """Rows imported and conversions processed, as one share of the work: 100 only when both are complete."""
        if self.phase == "done":
            return 100
        total = self.upload.rows_total + self.conversions_total
        done = self.upload.rows_done + self.conversions_processed
        return min(99, done * 100 // total) if total else 0

    @property
    def headline(self) -> str:
        """The state in a few words, as the page's progress line and the uploads table show it."""
        upload = self.upload
        rows = f"imported {upload.rows_done} of {upload.rows_total} rows"
        processed = f"processed {self.conversions_processed} of {self.conversions_total} conversions"
        match self.phase:
            case "queued":
                return f"Queued: {rows}"
            case "importing":
                return f"Importing: {rows}"
            case "processing":
                return f"Processing: {rows}; {processed}"
            case "failed":
                return f"Failed: {rows}"
        if upload.kind == ConversionUpload.Kind.CONVERSIONS:
            return f"Done: {rows}; {processed}"
        return f"Done: {rows}"

    @property
    def label(self) -> str:
        return _PHASE_LABELS[self.phase]

    @property
    def short(self) -> str:
        """The state for a table cell."""
        upload = self.upload
        match self.phase:
            case "importing":
                return f"importing: {upload.rows_done} of {upload.rows_total} rows"
            case "processing":
                return f"processing: {self.conversions_processed} of {self.conversions_total} conversions"
        return self.phase

    @property
    def summary(self) -> str:
        """What the file did, counted: "3 conversions created, 1 duplicate skipped, 2 rows refused"."""
        upload = self.upload
        if upload.kind == ConversionUpload.Kind.CONVERSIONS:
            parts = [_count(upload.created_count, "conversion", "created")]
            if upload.duplicate_count:
                parts.append(_count(upload.duplicate_count, "duplicate", "skipped (already imported)"))
        elif upload.kind == ConversionUpload.Kind.ADJUSTMENTS:
            parts = [_count(upload.updated_count, "conversion", "changed")]
            if upload.unchanged_count:
                parts.append(_count(upload.unchanged_count, "conversion", "unchanged (already as the file says)"))
        else:
            parts = [_count(upload.rows_done - upload.error_count, "row", "compared")]
        parts.append(_count(upload.error_count, "row", "refused"))
        return ", ".join(parts)

    def as_json(self) -> dict:
        upload = self.upload
        return {
            "status": upload.status,
            "phase": self.phase,
            "label": self.label,
            "headline": self.headline,
            "waiting_for": self.waiting_for,
            "rows_total": upload.rows_total,
            "rows_done": upload.rows_done,
            "conversions_total": self.conversions_total,
            "conversions_processed": self.conversions_processed,
            "percent": self.percent,
            "created": upload.created_count,
            "duplicates": upload.duplicate_count,
            "updated": upload.updated_count,
            "errors": upload.error_count,
            "finished": self.finished,
        }


_PHASE_LABELS = {
    "queued": "Queued",
    "importing": "Importing rows",
    "processing": "Processing conversions",
    "done": "Done",
    "failed": "Failed",
}


def _count(number: int, noun: str, what: str) -> str:
    return f"{number} {noun if number == 1 else noun + 's'} {what}"


def _created_by(upload: ConversionUpload) -> Q:
    return Q(offer_id=upload.offer_id, created_at=upload.started_at)


def _pending_counts(uploads: list[ConversionUpload]) -> dict[int, tuple[int, int]]:
    """Per upload, its created conversions still pending, and of those the ones waiting for an exchange rate: one
    query for all (the (offer, created_at) index)."""
    imported = [u for u in uploads if u.kind == ConversionUpload.Kind.CONVERSIONS and u.created_count and u.started_at]
    if not imported:
        return {}
    match = Q(pk__in=[])
    for upload in imported:
        match |= _created_by(upload)
    rows = (
        Conversion.objects.filter(match, channel=Conversion.Channel.CSV, status=Conversion.Status.PENDING)
        .values("offer_id", "created_at")
        .annotate(pending=Count("pk"), for_rate=Count("pk", filter=Q(status_reason=Outcome.MISSING_EXCHANGE_RATE)))
    )
    pending = {(row["offer_id"], row["created_at"]): (row["pending"], row["for_rate"]) for row in rows}
    return {upload.pk: pending.get((upload.offer_id, upload.started_at), (0, 0)) for upload in imported}


def _waiting_for(state: UploadProgress) -> str:
    upload = state.upload
    if state.phase == "queued":
        return upload_job_describe(upload)
    if state.phase != "processing":
        return ""
    waiting = state.conversions_waiting_for_rate
    # A conversion in another currency than its reward rule's waits, pending, until that day's rate is loaded.
    for_rate = f"{_count(waiting, 'conversion', 'waits' if waiting == 1 else 'wait')} for an exchange rate"
    if waiting and waiting == state.conversions_total - state.conversions_processed:
        return f"{for_rate}; {'it is' if waiting == 1 else 'they are'} processed once the rate is loaded."
    queue = job_queue_describe(advertiser_id=upload.advertiser_id)
    return f"{for_rate}. {queue}" if waiting else queue


def uploads_progress_of(uploads: Iterable[ConversionUpload], *, with_queue: bool = True) -> list[UploadProgress]:
    """Each upload's progress, in the given order. `with_queue`: also ask RQ what each unfinished one waits for."""
    uploads = list(uploads)
    pending = _pending_counts(uploads)
    progress = []
    for upload in uploads:
        still, for_rate = pending.get(upload.pk, (0, 0))
        state = UploadProgress(upload, max(upload.created_count - still, 0), "", for_rate)
        if with_queue and not state.finished:
            state = replace(state, waiting_for=_waiting_for(state))
        progress.append(state)
    return progress


def uploads_with_progress(uploads: Iterable[ConversionUpload]) -> list[ConversionUpload]:
    """The uploads for a table, each with its `progress` (not what a waiting one waits for: its page says that)."""
    progress = uploads_progress_of(uploads, with_queue=False)
    for state in progress:
        state.upload.progress = state
    return [state.upload for state in progress]


def upload_progress_of(upload: ConversionUpload) -> UploadProgress:
    return uploads_progress_of([upload])[0]
