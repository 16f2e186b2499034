"""A report answered from the intake log: validated and attributed as the recorder will store it, its repeat
decided, appended durably, and answered 202 before PostgreSQL holds it (conversions/intake/intake_log.py)."""

from dataclasses import replace
from uuid import UUID

from django.utils import timezone
from redis.exceptions import RedisError

from conversions.intake.attribution import OUTSIDE_WINDOW, UNATTRIBUTED
from conversions.intake.intake_log import entry_append, entry_encode, logged_conversion_id
from conversions.intake.log_writer import logged_conversions_write
from conversions.intake.recording import (
    ConversionReport,
    conversion_ids_for_external_ids,
    conversion_model,
    conversion_record,
    conversions_prepare,
)
from conversions.models import Conversion
from referrals.models import Advertiser
from referrals.request_metadata import RequestMetadata


def stored_conversion(conversion_id: UUID) -> Conversion:
    """A conversion by id, stored first if it still waits in the log."""
    conversion = Conversion.objects.select_related("offer").filter(pk=conversion_id).first()
    if conversion is None:
        logged_conversions_write(conversion_ids=[str(conversion_id)])
        conversion = Conversion.objects.select_related("offer").get(pk=conversion_id)
    return conversion


def conversion_log(
    *,
    advertiser: Advertiser,
    report: ConversionReport,
    channel: str,
    path: str,
    request: RequestMetadata,
    cookie_click_id: str = "",
) -> tuple[Conversion, bool]:
    """The conversion as answered and whether it is new; or raise what refused it. A repeat (stored, or still in
    the log) answers with the first conversion, even when the repeat would no longer attribute or validate."""
    report = replace(report, received_at=timezone.now(), request=request)
    [outcome] = conversions_prepare(
        advertiser=advertiser,
        reports=[report],
        channel=channel,
        cookie_click_id=cookie_click_id,
        now=report.received_at,
    )
    external_id = report.external_id
    first = conversion_ids_for_external_ids(advertiser, {external_id}).get(external_id)
    if first is None and outcome.error is not None:
        first = logged_conversion_id(advertiser_id=advertiser.pk, external_id=external_id)
        if first is None:
            raise outcome.error
    if first is None:
        report = replace(report, conversion_id=outcome.conversion_id)
        entry = entry_encode(
            advertiser_id=advertiser.pk, channel=channel, path=path, cookie_click_id=cookie_click_id, report=report
        )
        try:
            first = entry_append(
                advertiser_id=advertiser.pk, external_id=external_id, conversion_id=report.conversion_id, entry=entry
            )
        except RedisError:
            # The log cannot take it: the recorder stores it now, as before the log (the unique constraint decides).
            return conversion_record(
                advertiser=advertiser, report=report, channel=channel, cookie_click_id=cookie_click_id
            )
    if first is not None:
        return stored_conversion(first), False
    if outcome.row and outcome.attribution.rejection in (OUTSIDE_WINDOW, UNATTRIBUTED):
        # Stored now: its request-log entry points at it (and nothing processes a rejected conversion).
        logged_conversions_write(conversion_ids=[str(report.conversion_id)])
    return conversion_model(advertiser, outcome, channel=channel), True
