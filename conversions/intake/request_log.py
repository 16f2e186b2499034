"""The request log: ingestion requests that were refused or created nothing, kept for debugging and replay."""

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from conversions.models import RequestLogEntry
from core.postgres_text import without_nul
from referrals.models import Advertiser

SECRET_FIELDS = {"token", "signature", "api_key", "key", "secret", "password", "authorization"}
REDACTED = "[redacted]"


def payload_redact(payload: dict) -> dict:
    """The payload with every secret-looking field replaced, nested objects included."""
    redacted = {name: REDACTED for name in payload if str(name).lower() in SECRET_FIELDS}
    return {
        name: payload_redact(value) if isinstance(value, dict) else value for name, value in payload.items()
    } | redacted


def request_log_record(
    *,
    advertiser: Advertiser | None,
    channel: str,
    method: str,
    path: str,
    reason: str,
    message: str,
    http_status: int,
    payload: dict,
    ip: str | None,
    conversion=None,
    now: datetime | None = None,
) -> RequestLogEntry:
    return RequestLogEntry.objects.create(
        advertiser=advertiser,
        channel=channel,
        method=method[:8],
        path=path[:200],
        reason=reason,
        message=without_nul(message[:500]),
        http_status=http_status,
        payload=without_nul(payload_redact(payload if isinstance(payload, dict) else {"body": str(payload)[:5000]})),
        ip=ip,
        conversion=conversion,
        created_at=now or timezone.now(),
    )


def request_log_prune(*, now: datetime) -> int:
    cutoff = now - timedelta(days=settings.REQUEST_LOG_RETENTION_DAYS)
    return RequestLogEntry.objects.filter(created_at__lt=cutoff).delete()[0]
