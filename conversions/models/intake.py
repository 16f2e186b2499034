"""What intake keeps about requests: refused ones for replay, idempotency keys, used signatures."""

from django.db import models

from conversions.models.conversion import Conversion
from referrals.models import Advertiser


class RequestLogEntry(models.Model):
    """An ingestion request that was refused or did not create a conversion, kept for debugging and replay."""

    class Reason(models.TextChoices):
        BAD_AUTH = "bad_auth"
        BAD_SIGNATURE = "bad_signature"
        STALE_SIGNATURE = "stale_signature"
        REPLAYED_SIGNATURE = "replayed_signature"
        IP_NOT_ALLOWED = "ip_not_allowed"
        INVALID = "invalid"
        UNKNOWN_CLICK = "unknown_click"
        NOT_FOUND = "not_found"
        DUPLICATE = "duplicate"
        OUTSIDE_WINDOW = "outside_attribution_window"
        UNATTRIBUTED = "unattributed"
        IDEMPOTENCY_MISMATCH = "idempotency_mismatch"
        ERROR = "error"

    advertiser = models.ForeignKey(Advertiser, on_delete=models.CASCADE, null=True, blank=True)
    channel = models.CharField(max_length=10)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=200)
    reason = models.CharField(max_length=40, choices=Reason.choices)
    message = models.CharField(max_length=500, blank=True)
    http_status = models.PositiveSmallIntegerField()
    payload = models.JSONField(default=dict, blank=True, help_text="Secrets redacted.")
    ip = models.GenericIPAddressField(null=True, blank=True)
    conversion = models.ForeignKey(Conversion, on_delete=models.SET_NULL, null=True, blank=True)
    created_at = models.DateTimeField(db_index=True)
    replayed_at = models.DateTimeField(null=True, blank=True)
    replay_result = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["advertiser", "-created_at"], name="requestlog_advertiser_time")]

    def __str__(self) -> str:
        return f"{self.channel} {self.reason} {self.created_at:%Y-%m-%d %H:%M}"


class AdvertiserSeen(models.Model):
    """Something an advertiser may send only once (its model's unique constraint), forgotten after a while: the
    prune job deletes rows by `created_at`."""

    advertiser = models.ForeignKey(Advertiser, on_delete=models.CASCADE)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        abstract = True


class IdempotencyKey(AdvertiserSeen):
    """The first answer to a request with an Idempotency-Key, replayed for the same key and body."""

    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    # Null while the first request is still in flight.
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["advertiser", "key"], name="idempotency_key_unique")]

    def __str__(self) -> str:
        return self.key


class UsedSignature(AdvertiserSeen):
    """Signatures already accepted, so that a captured signed request cannot be replayed."""

    signature = models.CharField(max_length=64)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["advertiser", "signature"], name="used_signature_unique")]

    def __str__(self) -> str:
        return self.signature[:12]
