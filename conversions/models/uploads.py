"""CSV uploads of conversions and adjustments, and the rows they refused."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from referrals.models import Advertiser, Offer


class ConversionUpload(models.Model):
    """A CSV an advertiser (or staff for them) uploaded, and what importing it did: each chunk's rows, row errors
    and counters (`rows_done` is the cursor) commit together, so a re-run resumes and counts nothing twice."""

    class Kind(models.TextChoices):
        CONVERSIONS = "conversions", "new conversions"
        ADJUSTMENTS = "adjustments", "status and amount adjustments"
        RECONCILIATION = "reconciliation", "reconciliation file"

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    advertiser = models.ForeignKey(Advertiser, on_delete=models.PROTECT, related_name="uploads")
    offer = models.ForeignKey(
        Offer, models.PROTECT, null=True, blank=True, related_name="uploads", help_text="New conversions go to it."
    )
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.CONVERSIONS)
    file = models.FileField(upload_to="uploads/%Y/%m/")
    original_name = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64, db_index=True)
    identical_to = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, help_text="An earlier upload of the same bytes."
    )
    billing_month = models.DateField(null=True, blank=True, help_text="Reconciliation: the first day of the month.")
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    failure = models.TextField(blank=True, help_text="Why the whole file could not be read.")
    ignored_columns = models.JSONField(default=list, blank=True)
    rows_total = models.PositiveIntegerField(default=0)
    rows_done = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    duplicate_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    unchanged_count = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    # Reconciliation results: {"matched": n, "only_theirs": n, "only_ours": n, "amount_differs": n}.
    summary = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=["conversions", "adjustments", "reconciliation"]), name="upload_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["queued", "running", "done", "failed"]), name="upload_status_valid"
            ),
            models.CheckConstraint(condition=Q(rows_done__lte=F("rows_total")), name="upload_rows_done_le_total"),
        ]
        indexes = [models.Index(fields=["advertiser", "created_at"], name="upload_advertiser_time")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.original_name} ({self.status})"

    @property
    def percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        return int(self.rows_done * 100 / self.rows_total) if self.rows_total else 0

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)


class UploadRowError(models.Model):
    """One bad row of an upload: its row number as a spreadsheet shows it (the header is row 1)."""

    upload = models.ForeignKey(ConversionUpload, on_delete=models.CASCADE, related_name="row_errors")
    row = models.PositiveIntegerField()
    column = models.CharField(max_length=100, blank=True)
    value = models.CharField(max_length=200, blank=True)
    external_id = models.CharField(max_length=128, blank=True)
    reason = models.CharField(max_length=500)

    class Meta:
        ordering = ["upload", "row", "pk"]
        indexes = [models.Index(fields=["upload", "row"], name="upload_error_row")]

    def __str__(self) -> str:
        return f"row {self.row} {self.column}: {self.reason}"
