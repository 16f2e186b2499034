"""A granted reward's lifecycle, each change a ledger posting: `pending` (validation term) -> `approved` (term
over, or validated) -> `paid` (a payout batch); any of them -> `reversed`."""

from datetime import datetime
from uuid import UUID

from django.db import transaction
from django.db.models import F

from core.money import money_quantize
from rewards.engine import ConversionFacts, reward_amount_compute
from rewards.errors import RewardError
from rewards.ledger import account_get, ledger_move, ledger_post_new
from rewards.limits import spend_release
from rewards.models import Account, Reward, SpendCounter, Transaction

PENDING, AVAILABLE = Account.Kind.PARTNER_PENDING, Account.Kind.PARTNER_AVAILABLE
PAYABLE = Account.Kind.ADVERTISER_PAYABLE
# Where a reward's money sits, for a reversal to take back: a paid one leaves `available` negative (a clawback).
_HELD_IN = {Reward.Status.PENDING: PENDING, Reward.Status.APPROVED: AVAILABLE, Reward.Status.PAID: AVAILABLE}


def _reward_locked(conversion_id: UUID) -> Reward | None:
    query = Reward.objects.select_for_update(of=("self",)).select_related("offer__advertiser", "partner")
    return query.filter(conversion_id=conversion_id).first()


def _approve(rewards: list[Reward], *, now: datetime, memo: str) -> list[Reward]:
    """Approve the pending ones of these locked rewards: an approval transaction each (pending -> available, posted
    by COPY) and one UPDATE; the rewards it approved. The rule's one home, for one reward or a select-all."""
    pending = [reward for reward in rewards if reward.status == Reward.Status.PENDING]
    if not pending:
        return []
    accounts: dict[tuple, Account] = {}

    def account(reward: Reward, kind: str) -> Account:
        key = (reward.partner_id, reward.currency, kind)
        if key not in accounts:
            accounts[key] = account_get(kind=kind, currency=reward.currency, partner=reward.partner)
        return accounts[key]

    postings = [
        (reward.pk, memo, [(account(reward, PENDING), -reward.amount), (account(reward, AVAILABLE), reward.amount)])
        for reward in pending
    ]
    # Locked and still pending, so none has an approval yet (it is posted with the status change).
    ledger_post_new(kind=Transaction.Kind.APPROVAL, postings=postings, now=now)
    approved = Reward.objects.filter(pk__in=[reward.pk for reward in pending])
    approved.update(status=Reward.Status.APPROVED, approved_at=now)
    for reward in pending:
        reward.status, reward.approved_at = Reward.Status.APPROVED, now
    return pending


def reward_approve(*, conversion_id: UUID, now: datetime, memo: str = "validated by the advertiser") -> bool:
    """Approve the conversion's pending reward before its term ends; True if this call approved it (a no-op for
    any other status, or a conversion without a reward)."""
    return bool(rewards_approve(conversion_ids=[conversion_id], now=now, memo=memo))


def rewards_approve(*, conversion_ids: list[UUID], now: datetime, memo: str = "validated by the advertiser") -> set:
    """Approve the pending rewards of these conversions before their term ends, in one transaction; the ids of the
    conversions whose reward this call approved (approving again approves nothing)."""
    with transaction.atomic():
        # Locked in id order, so two overlapping calls wait for each other instead of deadlocking.
        rewards = list(
            Reward.objects.select_for_update(of=("self",))
            .select_related("partner")
            .filter(conversion_id__in=conversion_ids)
            .order_by("pk")
        )
        return {reward.conversion_id for reward in _approve(rewards, now=now, memo=memo)}


def rewards_approve_due(*, now: datetime, batch_size: int = 500) -> int:
    """Approve every pending reward whose term has ended; how many. Two runs at once share the work (SKIP LOCKED)."""
    approved = 0
    while True:
        with transaction.atomic():
            due = list(
                Reward.objects.select_for_update(of=("self",), skip_locked=True)
                .select_related("partner")
                .filter(status=Reward.Status.PENDING, approve_after__lte=now)
                .order_by("approve_after", "pk")[:batch_size]
            )
            approved += len(_approve(due, now=now, memo="validation term ended"))
        if len(due) < batch_size:
            return approved


def reward_reverse(*, conversion_id: UUID, reason: str, now: datetime) -> Reward | None:
    """Reverse the conversion's reward, if it has one not yet reversed, and post the reversal."""
    with transaction.atomic():
        reward = _reward_locked(conversion_id)
        if reward is None or reward.status == Reward.Status.REVERSED:
            return reward
        held_in, memo = _HELD_IN[reward.status], f"reversed: {reason}"
        ledger_move(Transaction.Kind.REVERSAL, reward, held_in, PAYABLE, reward.amount, memo=memo, now=now)
        if reward.spend_counter_id:
            spend_release(counter_id=reward.spend_counter_id, amount=reward.amount)
        reward.reversed_from, reward.status, reward.reversed_at = reward.status, Reward.Status.REVERSED, now
        reward.save(update_fields=["status", "reversed_from", "reversed_at"])
        return reward


def reward_amount_adjust(
    *, conversion_id: UUID, facts: ConversionFacts, now: datetime, memo: str = ""
) -> Reward | None:
    """Recompute the reward for new facts with the rule and rate used at grant; post the difference as a numbered
    `adjustment` from payable to where the money sits (a paid reward's: available, for the next payout)."""
    with transaction.atomic():
        reward = _reward_locked(conversion_id)
        if reward is None or reward.status == Reward.Status.REVERSED or reward.rule is None:
            return reward
        rule = reward.rule
        rates = {(facts.currency, rule.currency): reward.exchange_rate} if facts.currency != rule.currency else {}
        computed = reward_amount_compute(rule, facts, rates)
        # Stored with four places; compared and shown in the currency's minor unit.
        old, new = money_quantize(reward.amount, reward.currency), computed.amount
        if new == old:
            return reward
        difference = new - old
        if reward.spend_counter_id and difference > 0:
            # The same conditional UPDATE as a grant's charge: the raise fits the rule's limit or changes nothing.
            counter = SpendCounter.objects.filter(pk=reward.spend_counter_id)
            if rule.spend_limit is not None:
                counter = counter.filter(spent__lte=rule.spend_limit - difference)
            if counter.update(spent=F("spent") + difference) != 1:
                raise RewardError(
                    f"The new reward of {new} {reward.currency} would pass the rule's spend limit "
                    f"({rule.spend_limit} {rule.currency} per {rule.spend_limit_period}).",
                    code="reward_adjust_refused",
                )
        elif reward.spend_counter_id:
            spend_release(counter_id=reward.spend_counter_id, amount=-difference)
        held_in, kind = _HELD_IN[reward.status], Transaction.Kind.ADJUSTMENT
        memo = memo or f"amount changed: reward {old} -> {new} {reward.currency}"
        reference = str(reward.transactions.filter(kind=kind).count() + 1)
        posted = ledger_move(kind, reward, PAYABLE, held_in, difference, memo=memo, now=now, reference=reference)
        adjustment = {
            "at": now.isoformat(),
            "conversion_amount": str(facts.amount),
            "currency": facts.currency,
            "uncapped": str(computed.uncapped),
            "capped": computed.capped,
            "from": str(old),
            "to": str(new),
            "difference": str(difference),
            "held_in": held_in,
            "transaction_id": posted.pk,
        }
        explanation = reward.explanation or {}
        reward.amount = new
        reward.explanation = {**explanation, "adjustments": [*explanation.get("adjustments", []), adjustment]}
        reward.save(update_fields=["amount", "explanation"])
        return reward
