"""Advertisers' decisions on their conversions: approve, reject or change the amount within the validation term."""

from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from conversions.errors import ConversionTransitionNotAllowed
from conversions.models import Conversion, StatusChange
from conversions.processing import conversion_approve, conversion_facts, conversion_reject
from conversions.rollups import rollup_reward_adjusted
from referrals.money import money_quantize
from rewards.models import Reward
from rewards.services import reward_amount_adjust

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


def conversion_amount_change(
    *,
    conversion_id,
    amount: Decimal,
    actor=None,
    channel: str = "advertiser",
    now: datetime | None = None,
) -> bool:
    """Set a new order amount within the validation term and recompute the reward; True if it changed.

    The amount is quantized to the conversion's currency first, so "100.004"
    on a USD order equal to 100.00 changes nothing: uploading the same file
    again is a no-op. The reward follows through `reward_amount_adjust` (one
    ledger adjustment for the difference); the change is kept in the status
    history (same status, reason `amount_changed`) and in the earnings rollups.
    """
    now = now or timezone.now()
    with transaction.atomic():
        conversion = Conversion.objects.select_for_update(of=("self",)).select_related("offer").get(pk=conversion_id)
        new = money_quantize(amount, conversion.currency)
        if new == conversion.amount:
            return False
        if now > validation_term_ends(conversion):
            raise ValidationTermOver(
                f"The validation term ended on {validation_term_ends(conversion):%Y-%m-%d}; "
                "the amount can no longer change."
            )
        old = money_quantize(conversion.amount, conversion.currency)
        conversion.amount = new
        conversion.save(update_fields=["amount"])
        reward_before = None
        reward = None
        if conversion.partner_id is not None:
            # The amount before, to move the earnings rollups by the difference.
            reward_before = Reward.objects.filter(conversion_id=conversion.pk).values_list("amount", flat=True).first()
            reward = reward_amount_adjust(
                conversion_id=conversion.pk,
                facts=conversion_facts(conversion),
                now=now,
                memo=f"conversion {conversion.external_id}: amount {old} -> {new} {conversion.currency}",
            )
        if reward is not None and reward_before is not None and reward.amount != reward_before:
            # A reversed reward is never adjusted, so a changed one still counts in the earnings.
            rollup_reward_adjusted(
                conversion=conversion, currency=reward.currency, difference=reward.amount - reward_before
            )
            conversion.reward_explanation = reward.explanation
            conversion.save(update_fields=["reward_explanation"])
        StatusChange.objects.create(
            conversion=conversion,
            from_status=conversion.status,
            to_status=conversion.status,
            reason="amount_changed",
            remark=f"Amount {old} -> {new} {conversion.currency}",
            actor=actor,
            channel=channel,
            created_at=now,
        )
        return True
