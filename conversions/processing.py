"""Processing a pending conversion, and staff or advertiser decisions on one.

Every status change goes through `_status_set`, which writes the audit row.
"""

from datetime import datetime
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from conversions.errors import ConversionTransitionNotAllowed
from conversions.fraud.screening import conversion_screen_store
from conversions.models import Conversion, StatusChange
from rewards.engine import ConversionFacts
from rewards.services import reward_grant, reward_reverse

NO_MATCHING_RULE = "no_matching_rule"

# The lifecycle of DESIGN.md: which status may follow which.
ALLOWED_TRANSITIONS = {
    Conversion.Status.PENDING: {Conversion.Status.ACCEPTED, Conversion.Status.REJECTED, Conversion.Status.SUSPICIOUS},
    Conversion.Status.SUSPICIOUS: {Conversion.Status.ACCEPTED, Conversion.Status.REJECTED},
    Conversion.Status.ACCEPTED: {Conversion.Status.REJECTED},
    Conversion.Status.REJECTED: set(),
}


def conversion_facts(conversion: Conversion) -> ConversionFacts:
    """The plain facts the reward engine sees; it never sees the model."""
    return ConversionFacts(
        type=conversion.type,
        amount=conversion.amount,
        currency=conversion.currency,
        occurred_at=conversion.occurred_at,
        partner_id=conversion.partner_id,
        product_id=conversion.product_id,
        category=conversion.category,
        plan=conversion.plan,
        quantity=conversion.quantity,
        source=conversion.source,
        country=conversion.country,
        subscription_id=conversion.subscription_id,
        meta=conversion.meta if isinstance(conversion.meta, dict) else {},
    )


def _status_set(
    conversion: Conversion,
    to_status: str,
    *,
    reason: str,
    remark: str = "",
    channel: str,
    now: datetime,
    actor=None,
) -> None:
    if to_status not in ALLOWED_TRANSITIONS[conversion.status]:
        raise ConversionTransitionNotAllowed(f"A {conversion.status} conversion cannot become {to_status}.")
    StatusChange.objects.create(
        conversion=conversion,
        from_status=conversion.status,
        to_status=to_status,
        reason=reason,
        remark=remark,
        actor=actor,
        channel=channel,
        created_at=now,
    )
    conversion.status, conversion.status_reason, conversion.status_remark = to_status, reason, remark
    conversion.processed_at = now
    conversion.save(update_fields=["status", "status_reason", "status_remark", "processed_at"])


def _reward_and_settle(conversion: Conversion, *, channel: str, now: datetime, actor=None, remark: str = "") -> None:
    decision = reward_grant(
        conversion_id=conversion.pk, offer=conversion.offer, facts=conversion_facts(conversion), now=now
    )
    if decision.reward is None:
        _status_set(
            conversion,
            Conversion.Status.REJECTED,
            reason=NO_MATCHING_RULE,
            remark="No reward rule of the offer applies to this conversion.",
            channel=channel,
            now=now,
            actor=actor,
        )
    else:
        _status_set(
            conversion, Conversion.Status.ACCEPTED, reason="", remark=remark, channel=channel, now=now, actor=actor
        )


def conversion_process(*, conversion_id: str | UUID, now: datetime | None = None) -> str:
    """Reward a pending conversion or reject it, in one transaction; a no-op unless it is still pending."""
    now = now or timezone.now()
    with transaction.atomic():
        conversion = (
            Conversion.objects.select_for_update(of=("self",))
            .select_related("offer__advertiser")
            .filter(pk=conversion_id)
            .first()
        )
        if conversion is None or conversion.status != Conversion.Status.PENDING:
            return conversion.status if conversion else "missing"
        # Fraud screening comes before any reward: a held conversion earns nothing until staff approve it.
        screening = conversion_screen_store(conversion, now=now)
        if screening.holds:
            _status_set(
                conversion, screening.status, reason=screening.reason, remark=screening.remark, channel="fraud", now=now
            )
            return conversion.status
        _reward_and_settle(conversion, channel="job", now=now)
        return conversion.status


def conversion_approve(
    *, conversion_id: str | UUID, actor=None, remark: str = "", channel: str = "admin", now: datetime | None = None
) -> Conversion:
    """Accept a pending or suspicious conversion and reward it (exactly once, however often it is called)."""
    now = now or timezone.now()
    with transaction.atomic():
        conversion = (
            Conversion.objects.select_for_update(of=("self",)).select_related("offer__advertiser").get(pk=conversion_id)
        )
        if conversion.status == Conversion.Status.ACCEPTED:
            return conversion
        if conversion.status not in (Conversion.Status.PENDING, Conversion.Status.SUSPICIOUS):
            raise ConversionTransitionNotAllowed(f"A {conversion.status} conversion cannot be approved.")
        _reward_and_settle(conversion, channel=channel, now=now, actor=actor, remark=remark)
        return conversion


def conversion_reject(
    *,
    conversion_id: str | UUID,
    reason: str,
    remark: str,
    actor=None,
    channel: str = "admin",
    now: datetime | None = None,
) -> Conversion:
    """Reject a conversion with a reason the publisher sees; an accepted one has its reward reversed."""
    now = now or timezone.now()
    with transaction.atomic():
        conversion = Conversion.objects.select_for_update(of=("self",)).get(pk=conversion_id)
        if conversion.status == Conversion.Status.REJECTED:
            return conversion
        _status_set(
            conversion, Conversion.Status.REJECTED, reason=reason, remark=remark, channel=channel, now=now, actor=actor
        )
        reward_reverse(conversion_id=conversion.pk, reason=remark or reason, now=now)
        return conversion
