"""The request log: ingestion requests that were refused or created nothing, kept for debugging and replay."""

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from conversions.models import RequestLogEntry
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


def request_log_prune(*, now: datetime) -> int:
    cutoff = now - timedelta(days=settings.REQUEST_LOG_RETENTION_DAYS)
    return RequestLogEntry.objects.filter(created_at__lt=cutoff).delete()[0]
