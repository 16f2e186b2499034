"""The one door of every ingestion channel (API, postback, pixel, a replay from the request log): validate,
record, and log what was refused; the channels differ only in how they authenticate and answer."""

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone
from rest_framework import exceptions

from conversions.intake.attribution import OUTSIDE_WINDOW, UNATTRIBUTED
from conversions.intake.logged_intake import conversion_log
from conversions.intake.recording import ConversionReport
from conversions.intake.request_log import failure_message, failure_reason, request_log_record
from conversions.intake.serializers import ConvertInputSerializer
from conversions.models import Conversion, RequestLogEntry
from core.api_errors import error_fields
from core.errors import DomainError
from referrals.models import Advertiser
from referrals.request_metadata import RequestMetadata, request_metadata

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

    @classmethod
    def of(cls, request, channel: str, *, cookie_click_id: str = "") -> "IntakeRequest":
        return cls(channel, request.method, request.path, request_metadata(request.META), cookie_click_id)

    def log(self, **entry) -> None:
        """A request-log entry for this request (`entry`: request_log_record's other arguments)."""
        request_log_record(channel=self.channel, method=self.method, path=self.path, ip=self.metadata.ip, **entry)


def failure_log(*, advertiser: Advertiser | None, intake: IntakeRequest, payload: dict, error: Exception) -> None:
    """Log a refused request once, however many layers see the exception."""
    if getattr(error, "request_logged", False):
        return
    reason, message = failure_reason(error), failure_message(error)
    status = getattr(error, "status_code", 500)
    intake.log(advertiser=advertiser, payload=payload, reason=reason, message=message, http_status=status)
    error.request_logged = True


def report_intake(*, advertiser: Advertiser, data: dict, intake: IntakeRequest) -> tuple[Conversion, bool]:
    """Validate and record one report; log it when it is refused or creates nothing new."""
    logged = {**data, COOKIE_FIELD: intake.cookie_click_id} if intake.cookie_click_id else data
    try:
        serializer = ConvertInputSerializer(data=data)
        serializer.is_valid(raise_exception=True)
        conversion, created = conversion_log(
            advertiser=advertiser,
            report=ConversionReport(**serializer.validated_data),
            channel=intake.channel,
            path=intake.path,
            request=intake.metadata,
            cookie_click_id=intake.cookie_click_id,
        )
    except (DomainError, exceptions.APIException) as error:
        failure_log(advertiser=advertiser, intake=intake, payload=logged, error=error)
        raise
    if not created:
        reason, status, message = RequestLogEntry.Reason.DUPLICATE, 200, "The external id was reported before."
    elif conversion.status_reason in (OUTSIDE_WINDOW, UNATTRIBUTED):
        reason, status, message = conversion.status_reason, 202, conversion.status_remark
    else:
        return conversion, created
    intake.log(
        advertiser=advertiser, payload=logged, conversion=conversion, reason=reason, message=message, http_status=status
    )
    return conversion, created


def request_log_replay(*, entry_id: int, now: datetime | None = None) -> str:
    """Run a logged request again as its advertiser (after a missing click or offer was fixed), recording when
    and with what result. Staff vouch for it: authentication and signatures are not checked again."""
    entry = RequestLogEntry.objects.select_related("advertiser").get(pk=entry_id)
    if entry.advertiser is None:
        result = "not replayable: the request had no advertiser (bad credentials)"
    else:
        payload = dict(entry.payload)
        cookie_click_id = payload.pop(COOKIE_FIELD, "")
        intake = IntakeRequest(entry.channel, "REPLAY", entry.path, RequestMetadata(ip=entry.ip), cookie_click_id)
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
