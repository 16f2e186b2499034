"""Uploading a CSV: check it is a table of its kind, store it, and enqueue its import."""

import hashlib
import uuid
from datetime import date, datetime

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from conversions.errors import ConversionNotFound
from conversions.models import ConversionUpload
from conversions.uploads.csv_files import CsvFileInvalid, csv_table_read
from conversions.uploads.jobs import upload_import
from conversions.uploads.queue_state import upload_job_id
from conversions.uploads.rows import upload_columns_check
from core.jobs import job_enqueue_on_commit
from referrals.models import Advertiser, Offer


def upload_file_check(raw: bytes, kind: str) -> tuple[list[str], int]:
    """Is it a table with the columns of its kind and at least one row? Return the ignored columns and the rows."""
    table = csv_table_read(raw)
    ignored = upload_columns_check(table, kind)
    if table.row_count == 0:
        raise CsvFileInvalid("The file has a header but no rows.")
    return ignored, table.row_count


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
    """Check the file, store it and enqueue its import; raises CsvFileInvalid (for the user) or ConversionNotFound.

    The size limit is checked by the caller before it reads the file into memory."""
    foreign = offer is not None and offer.advertiser_id != advertiser.pk
    if foreign or (offer is None and kind == ConversionUpload.Kind.CONVERSIONS):
        raise ConversionNotFound("No such offer.")
    if kind == ConversionUpload.Kind.RECONCILIATION and billing_month is None:
        raise CsvFileInvalid("Choose the billing month to compare.")
    ignored, total = upload_file_check(raw, kind)
    digest = hashlib.sha256(raw).hexdigest()
    # The earliest (uploads are ordered newest first).
    identical = ConversionUpload.objects.filter(advertiser=advertiser, kind=kind, offer=offer, sha256=digest).last()
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
        created_at=now or timezone.now(),
    )
    # The stored name is ours: the user's file name is only shown, never used as a path.
    upload.file.save(f"{uuid.uuid4().hex}.csv", ContentFile(raw), save=False)
    with transaction.atomic():
        upload.save()
        job_enqueue_on_commit(upload_import, upload.pk, job_id=upload_job_id(upload.pk))
    return upload


def upload_requeue(*, upload: ConversionUpload) -> bool:
    """Run an unfinished or failed upload's import again (it resumes after its last committed chunk)."""
    with transaction.atomic():
        unfinished = ConversionUpload.objects.filter(pk=upload.pk).exclude(status=ConversionUpload.Status.DONE)
        changed = unfinished.update(status=ConversionUpload.Status.QUEUED, failure="", finished_at=None)
        if changed:
            job_enqueue_on_commit(upload_import, upload.pk, job_id=upload_job_id(upload.pk))
    return bool(changed)
