"""The request log: ingestion requests that were refused or created nothing, kept for debugging and replay."""

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone
from rest_framework import exceptions

from conversions.errors import UnknownClick
from conversions.intake.idempotency import IdempotencyKeyReused
from conversions.models import RequestLogEntry
from core.api_errors import error_fields
from core.errors import DomainError
from core.postgres_text import without_nul

# What was asked and how it was answered: the core of an entry, for staff (admin) and advertisers (API) alike.
REQUEST_FIELDS = ("channel", "method", "path", "reason", "message", "http_status")
SECRET_FIELDS = {"token", "signature", "api_key", "key", "secret", "password", "authorization"}
REDACTED = "[redacted]"


def payload_redact(payload: dict) -> dict:
    """The payload with every secret-looking field replaced, nested objects included."""
    redacted = {name: REDACTED for name in payload if str(name).lower() in SECRET_FIELDS}
    return {
        name: payload_redact(value) if isinstance(value, dict) else value for name, value in payload.items()
    } | redacted


def request_log_record(
    *, method: str, path: str, message: str, payload: dict, now: datetime | None = None, **columns
) -> RequestLogEntry:
    """One entry, cut to fit and with secrets redacted; `columns` are the model's other fields, as they are
    (advertiser, channel, reason, http_status, ip and, when one was found, conversion)."""
    return RequestLogEntry.objects.create(
        method=method[:8],
        path=path[:200],
        message=without_nul(message[:500]),
        payload=without_nul(payload_redact(payload if isinstance(payload, dict) else {"body": str(payload)[:5000]})),
        created_at=now or timezone.now(),
        **columns,
    )


def failure_reason(error: Exception) -> str:
    if isinstance(error, UnknownClick):
        return RequestLogEntry.Reason.UNKNOWN_CLICK
    if isinstance(error, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        return RequestLogEntry.Reason.BAD_AUTH
    if isinstance(error, IdempotencyKeyReused):
        return RequestLogEntry.Reason.IDEMPOTENCY_MISMATCH
    if isinstance(error, DomainError):
        if error.status_code == 404:
            return RequestLogEntry.Reason.NOT_FOUND
        if error.code in RequestLogEntry.Reason.values:
            return error.code
    if isinstance(error, exceptions.APIException | DomainError):
        return RequestLogEntry.Reason.INVALID
    return RequestLogEntry.Reason.ERROR


def failure_message(error: Exception) -> str:
    """The log's one-line explanation; a validation error names each field in words, not Python reprs."""
    if isinstance(error, exceptions.ValidationError):
        fields = error_fields(error.detail).items()
        return "The request has invalid fields: " + "; ".join(f"{name}: {' '.join(texts)}" for name, texts in fields)
    return getattr(error, "message", None) or str(getattr(error, "detail", error))


def request_log_prune(*, now: datetime) -> int:
    cutoff = now - timedelta(days=settings.REQUEST_LOG_RETENTION_DAYS)
    return RequestLogEntry.objects.filter(created_at__lt=cutoff).delete()[0]
