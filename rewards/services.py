"""Rewards: grant one for a conversion's facts, reverse one, with their ledger postings."""

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.db import IntegrityError, transaction
from django.db.models import Q

from referrals.models import Offer
from rewards.engine import ConversionFacts, reward_amount_compute, reward_rules_match
from rewards.ledger import account_get, ledger_post
from rewards.models import Account, Reward, RewardRule, Transaction


@dataclass
class RewardDecision:
    reward: Reward | None
    explanation: dict


def reward_rules_for(*, offer: Offer, partner_id: int):
    """The active rules that could apply to this partner's conversions on the offer."""
    return list(
        RewardRule.objects.filter(offer=offer, is_active=True).filter(
            Q(partner__isnull=True) | Q(partner_id=partner_id)
        )
    )


def reward_grant(*, conversion_id: UUID, offer: Offer, facts: ConversionFacts, now: datetime) -> RewardDecision:
    """Match the rules, and if one wins, create the reward and post its accrual.

    Idempotent per conversion: a second call returns the existing reward.
    Call inside the caller's transaction, with the conversion locked.
    """
    existing = Reward.objects.filter(conversion_id=conversion_id).first()
    if existing:
        return RewardDecision(reward=existing, explanation=existing.explanation)

    choice = reward_rules_match(reward_rules_for(offer=offer, partner_id=facts.partner_id), facts, now)
    explanation = {"facts": facts.as_json(), "rules": choice.considered}
    if choice.rule is None:
        return RewardDecision(reward=None, explanation=explanation)

    computed = reward_amount_compute(choice.rule, facts)
    explanation["reward"] = {
        "rule_id": choice.rule.pk,
        "reward_type": choice.rule.reward_type,
        "value": str(choice.rule.value),
        "max_reward": None if choice.rule.max_reward is None else str(choice.rule.max_reward),
        "uncapped": str(computed.uncapped),
        "capped": computed.capped,
        "amount": str(computed.amount),
        "currency": computed.currency,
    }
    try:
        with transaction.atomic():
            reward = Reward.objects.create(
                conversion_id=conversion_id,
                partner_id=facts.partner_id,
                offer=offer,
                rule=choice.rule,
                amount=computed.amount,
                currency=computed.currency,
                explanation=explanation,
                created_at=now,
            )
    except IntegrityError:
        reward = Reward.objects.get(conversion_id=conversion_id)
        return RewardDecision(reward=reward, explanation=reward.explanation)
    _post_accrual(reward, now)
    return RewardDecision(reward=reward, explanation=explanation)


def _post_accrual(reward: Reward, now: datetime) -> None:
    payable = account_get(
        kind=Account.Kind.ADVERTISER_PAYABLE, advertiser=reward.offer.advertiser, currency=reward.currency
    )
    pending = account_get(kind=Account.Kind.PARTNER_PENDING, partner=reward.partner, currency=reward.currency)
    ledger_post(
        kind=Transaction.Kind.ACCRUAL,
        reward=reward,
        legs=[(payable, -reward.amount), (pending, reward.amount)],
        memo=f"reward for conversion {reward.conversion_id}",
        now=now,
    )


# Where a reward's money sits in each status; a reversal takes it back from there.
_HELD_IN = {
    Reward.Status.PENDING: Account.Kind.PARTNER_PENDING,
    Reward.Status.APPROVED: Account.Kind.PARTNER_AVAILABLE,
    # Already paid out: the partner's available balance goes negative and the
    # next payout nets it off (a clawback).
    Reward.Status.PAID: Account.Kind.PARTNER_AVAILABLE,
}


def reward_reverse(*, conversion_id: UUID, reason: str, now: datetime) -> Reward | None:
    """Reverse the conversion's reward, if it has one not yet reversed, and post the reversal."""
    reward = (
        Reward.objects.select_for_update()
        .select_related("offer__advertiser", "partner")
        .filter(conversion_id=conversion_id)
        .first()
    )
    if reward is None or reward.status == Reward.Status.REVERSED:
        return reward
    held = account_get(kind=_HELD_IN[reward.status], partner=reward.partner, currency=reward.currency)
    payable = account_get(
        kind=Account.Kind.ADVERTISER_PAYABLE, advertiser=reward.offer.advertiser, currency=reward.currency
    )
    ledger_post(
        kind=Transaction.Kind.REVERSAL,
        reward=reward,
        legs=[(held, -reward.amount), (payable, reward.amount)],
        memo=f"reversed: {reason}"[:255],
        now=now,
    )
    reward.status = Reward.Status.REVERSED
    reward.save(update_fields=["status"])
    return reward
