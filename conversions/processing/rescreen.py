"""Re-screening after staff change an offer's fraud settings (or a partner's status): only `pending` and
`suspicious` conversions are touched, so a re-screen never un-rejects and never touches an accepted one."""

from collections import Counter
from datetime import datetime
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from conversions.fraud.screening import FLAG, REJECT, conversion_screen_store
from conversions.lifecycle import conversion_approve
from conversions.models import Conversion
from conversions.processing.status import conversion_status_keep, conversion_status_set

RESCREEN_STATUSES = (Conversion.Status.PENDING, Conversion.Status.SUSPICIOUS)
PASSED_REMARK = "Passed fraud screening again after the offer's settings changed."


def conversion_rescreen(*, conversion_id: str | UUID, now: datetime) -> str:
    """Screen one conversion again and act on it; a word for the summary.

    pending: held -> suspicious or rejected; passes -> stays pending for its processing job.
    suspicious: reject -> rejected; still flagged -> stays (a new reason is recorded); passes -> approved.
    """
    with transaction.atomic():
        conversion = (
            Conversion.objects.select_for_update(of=("self",))
            .select_related("offer__advertiser")
            .filter(pk=conversion_id, status__in=RESCREEN_STATUSES)
            .first()
        )
        if conversion is None:
            return "skipped"
        screening = conversion_screen_store(conversion, now=now)
        if conversion.status == Conversion.Status.PENDING or screening.decision == REJECT:
            if not screening.holds:
                return "still_pending"
            conversion_status_set(
                conversion, screening.status, reason=screening.reason, remark=screening.remark, channel="fraud", now=now
            )
            return "flagged" if screening.decision == FLAG else "rejected"
        if screening.decision == FLAG:
            if screening.reason != conversion.status_reason:
                remark = "Re-screened: still held, for a new reason."
                conversion_status_keep(conversion, reason=screening.reason, remark=remark, channel="fraud", now=now)
                conversion.status_reason = screening.reason
                conversion.save(update_fields=["status_reason"])
            return "still_suspicious"
        approved = conversion_approve(conversion_id=conversion.pk, remark=PASSED_REMARK, channel="fraud", now=now)
        return "released" if approved.status == Conversion.Status.ACCEPTED else "rejected_no_rule"


def conversions_rescreen(*, offer_ids: list[int] | None = None, now: datetime | None = None) -> Counter:
    """Re-screen every pending and suspicious conversion (of the given offers); one transaction each."""
    now = now or timezone.now()
    queryset = Conversion.objects.filter(status__in=RESCREEN_STATUSES)
    if offer_ids is not None:
        queryset = queryset.filter(offer_id__in=offer_ids)
    ids = queryset.order_by("created_at").values_list("pk", flat=True).iterator()
    return Counter(conversion_rescreen(conversion_id=conversion_id, now=now) for conversion_id in ids)
