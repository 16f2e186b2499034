"""Advertisers' decisions on their conversions: approve or reject within the validation term."""

from datetime import datetime, timedelta

from django.utils import timezone

from conversions.errors import ConversionTransitionNotAllowed
from conversions.models import Conversion
from conversions.processing import conversion_approve, conversion_reject

ADVERTISER_REJECTED = "advertiser_rejected"


class ValidationTermOver(ConversionTransitionNotAllowed):
    code = "validation_term_over"


def validation_term_ends(conversion: Conversion) -> datetime:
    """The advertiser may approve or reject until then (the offer's validation term after creation)."""
    return conversion.created_at + timedelta(days=conversion.offer.validation_term_days)


def conversion_validate(
    *,
    conversion: Conversion,
    decision: str,
    remark: str = "",
    actor=None,
    channel: str = "advertiser",
    now: datetime | None = None,
) -> bool:
    """Approve (`decision="approve"`) or reject with a remark the publisher sees; True if the status changed.

    Deciding the same way twice changes nothing the second time.
    """
    now = now or timezone.now()
    if now > validation_term_ends(conversion):
        raise ValidationTermOver(
            f"The validation term ended on {validation_term_ends(conversion):%Y-%m-%d}; ask the network to change it."
        )
    before = conversion.status
    if decision == "approve":
        after = conversion_approve(
            conversion_id=conversion.pk, actor=actor, remark=remark, channel=channel, now=now
        ).status
    elif decision == "reject":
        if not remark.strip():
            raise ConversionTransitionNotAllowed("Say why you reject it: the publisher is told.")
        after = conversion_reject(
            conversion_id=conversion.pk,
            reason=ADVERTISER_REJECTED,
            remark=remark.strip()[:500],
            actor=actor,
            channel=channel,
            now=now,
        ).status
    else:
        raise ValueError(f"unknown decision {decision!r}")
    return after != before
