"""The one door every ingestion channel goes through: validate, record, and log what was refused.

The API, the postback, the pixel and a replay from the request log all call
`report_intake`; they differ only in how they authenticate and answer.
"""

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone
from rest_framework import exceptions

from conversions.errors import UnknownClick
from conversions.intake.attribution import OUTSIDE_WINDOW, UNATTRIBUTED
from conversions.intake.idempotency import IdempotencyKeyReused
from conversions.intake.recording import conversion_record
from conversions.intake.request_log import request_log_record
from conversions.intake.serializers import ConvertInputSerializer
from conversions.models import Conversion, RequestLogEntry
from core.api_errors import error_fields
from core.errors import DomainError
from referrals.models import Advertiser
from referrals.request_metadata import RequestMetadata

# The pixel's click cookie is kept in the logged payload under this name, so a replay can use it.
COOKIE_FIELD = "cookie_click_id"


@dataclass(frozen=True)
class IntakeRequest:
    """Where a report came from, for the conversion's metadata and the request log."""

    channel: str
    method: str
    path: str
    metadata: RequestMetadata
    cookie_click_id: str = ""


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
        fields = error_fields(error.detail)
        return "The request has invalid fields: " + "; ".join(
            f"{name}: {' '.join(messages)}" for name, messages in fields.items()
        )
    return getattr(error, "message", None) or str(getattr(error, "detail", error))


def failure_log(*, advertiser: Advertiser | None, intake: IntakeRequest, payload: dict, error: Exception) -> None:
    """Log a refused request once, however many layers see the exception."""
    if getattr(error, "request_logged", False):
        return
    status = getattr(error, "status_code", 500)
    request_log_record(
        advertiser=advertiser,
        channel=intake.channel,
        method=intake.method,
        path=intake.path,
        reason=failure_reason(error),
        message=failure_message(error),
        http_status=status,
        payload=payload,
        ip=intake.metadata.ip,
    )
    error.request_logged = True


def report_intake(*, advertiser: Advertiser, data: dict, intake: IntakeRequest) -> tuple[Conversion, bool]:
    """Validate and record one report; log it when it is refused or creates nothing new."""
    if intake.cookie_click_id:
        logged = {**data, COOKIE_FIELD: intake.cookie_click_id}
    else:
        logged = data
    try:
        serializer = ConvertInputSerializer(data=data)
        serializer.is_valid(raise_exception=True)
        conversion, created = conversion_record(
            advertiser=advertiser,
            report=serializer.report(),
            channel=intake.channel,
            request=intake.metadata,
            cookie_click_id=intake.cookie_click_id,
        )
    except (DomainError, exceptions.APIException) as error:
        failure_log(advertiser=advertiser, intake=intake, payload=logged, error=error)
        raise
    if not created:
        reason, status = RequestLogEntry.Reason.DUPLICATE, 200
    elif conversion.status_reason in (OUTSIDE_WINDOW, UNATTRIBUTED):
        reason, status = conversion.status_reason, 202
    else:
        return conversion, created
    request_log_record(
        advertiser=advertiser,
        channel=intake.channel,
        method=intake.method,
        path=intake.path,
        reason=reason,
        message=conversion.status_remark if created else "The external id was reported before.",
        http_status=status,
        payload=logged,
        ip=intake.metadata.ip,
        conversion=conversion,
    )
    return conversion, created


def request_log_replay(*, entry_id: int, now: datetime | None = None) -> str:
    """Run a logged request again as its advertiser, e.g. after a missing click or offer was fixed.

    Authentication and signatures are not checked again: staff vouch for the replay. The
    entry records when and with what result; a replay that finds the conversion exists creates nothing.
    """
    entry = RequestLogEntry.objects.select_related("advertiser").get(pk=entry_id)
    if entry.advertiser is None:
        result = "not replayable: the request had no advertiser (bad credentials)"
    else:
        payload = dict(entry.payload)
        cookie_click_id = payload.pop(COOKIE_FIELD, "")
        intake = IntakeRequest(
            channel=entry.channel,
            method="REPLAY",
            path=entry.path,
            metadata=RequestMetadata(ip=entry.ip),
            cookie_click_id=cookie_click_id,
        )
        try:
            conversion, created = report_intake(advertiser=entry.advertiser, data=payload, intake=intake)
            result = f"{'created' if created else 'already existed'}: {conversion.pk} ({conversion.status})"
        except (DomainError, exceptions.APIException) as error:
            fields = error.fields if isinstance(error, DomainError) else error_fields(error.detail)
            result = f"refused again: {getattr(error, 'message', 'invalid input')} {fields}"
    entry.replayed_at = now or timezone.now()
    entry.replay_result = result[:500]
    entry.save(update_fields=["replayed_at", "replay_result"])
    return result
