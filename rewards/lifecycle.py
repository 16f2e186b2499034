"""A granted reward's lifecycle: approved, reversed, its amount adjusted; each change a ledger posting.

`pending` (in the offer's validation term) -> `approved` (term over, or the
advertiser validated) -> `paid` (a payout batch); `pending` | `approved` |
`paid` -> `reversed`. Every change posts a ledger transaction
(rewards/ledger.py); nothing is edited or deleted there. Granting is
rewards/grants.py.
"""

from datetime import datetime
from decimal import Decimal
from uuid import UUID

from django.db import connection, transaction

from core.money import money_quantize
from rewards.engine import ConversionFacts, reward_amount_compute
from rewards.errors import RewardError
from rewards.ledger import Legs, account_get, ledger_legs_check, ledger_post
from rewards.limits import spend_release
from rewards.models import Account, Entry, Reward, SpendCounter, Transaction


def _reward_locked(conversion_id=None, reward_id=None) -> Reward | None:
    query = Reward.objects.select_for_update(of=("self",)).select_related("offer__advertiser", "partner")
    return query.filter(**({"conversion_id": conversion_id} if conversion_id else {"pk": reward_id})).first()


def _approve(reward: Reward, *, now: datetime, memo: str) -> bool:
    if reward.status != Reward.Status.PENDING:
        return False
    pending = account_get(kind=Account.Kind.PARTNER_PENDING, partner=reward.partner, currency=reward.currency)
    available = account_get(kind=Account.Kind.PARTNER_AVAILABLE, partner=reward.partner, currency=reward.currency)
    ledger_post(
        kind=Transaction.Kind.APPROVAL,
        reward=reward,
        legs=[(pending, -reward.amount), (available, reward.amount)],
        memo=memo,
        now=now,
    )
    reward.status, reward.approved_at = Reward.Status.APPROVED, now
    reward.save(update_fields=["status", "approved_at"])
    return True


def reward_approve(*, conversion_id: UUID, now: datetime, memo: str = "validated by the advertiser") -> Reward | None:
    """Approve the conversion's pending reward before its term ends; a no-op for any other status."""
    with transaction.atomic():
        reward = _reward_locked(conversion_id=conversion_id)
        if reward is not None:
            _approve(reward, now=now, memo=memo)
        return reward


def rewards_approve_due(*, now: datetime, batch_size: int = 500) -> int:
    """Approve every pending reward whose validation term has ended; returns how many it approved.

    Rows another worker holds are skipped (SKIP LOCKED), so two runs at once
    share the work; each reward is re-checked under its lock, so a second run
    approves nothing twice.
    """
    approved = 0
    while True:
        with transaction.atomic():
            due = list(
                Reward.objects.select_for_update(of=("self",), skip_locked=True)
                .select_related("partner")
                .filter(status=Reward.Status.PENDING, approve_after__lte=now)
                .order_by("approve_after", "pk")[:batch_size]
            )
            for reward in due:
                approved += _approve(reward, now=now, memo="validation term ended")
        if len(due) < batch_size:
            return approved


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
    with transaction.atomic():
        reward = _reward_locked(conversion_id=conversion_id)
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
            memo=f"reversed: {reason}",
            now=now,
        )
        if reward.spend_counter_id:
            spend_release(counter_id=reward.spend_counter_id, amount=reward.amount)
        reward.reversed_from, reward.status, reward.reversed_at = reward.status, Reward.Status.REVERSED, now
        reward.save(update_fields=["status", "reversed_from", "reversed_at"])
        return reward


class RewardAdjustRefused(RewardError):
    code = "reward_adjust_refused"


def reward_amount_adjust(
    *, conversion_id: UUID, facts: ConversionFacts, now: datetime, memo: str = ""
) -> Reward | None:
    """Recompute the conversion's reward for its new facts (a new amount) and post the difference.

    The same rule and, across currencies, the same exchange rate as when it was
    granted, with the rule's cap; so only the amount moves. The difference goes
    from the advertiser's payable to the account where the reward's money sits
    (pending, or available once approved; a paid reward's difference lands in
    available, a top-up or clawback the next payout settles) as one balanced
    `adjustment` transaction, numbered per reward (`reference` 1, 2, ...).
    No reward, a reversed one, or an unchanged amount: nothing is posted.
    Call inside the caller's transaction; the reward row is locked.
    """
    with transaction.atomic():
        reward = _reward_locked(conversion_id=conversion_id)
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
        if reward.spend_counter_id:
            if difference > 0 and not _spend_charge_more(reward, difference):
                raise RewardAdjustRefused(
                    f"The new reward of {new} {reward.currency} would pass the rule's spend limit "
                    f"({rule.spend_limit} {rule.currency} per {rule.spend_limit_period})."
                )
            if difference < 0:
                spend_release(counter_id=reward.spend_counter_id, amount=-difference)
        held = account_get(kind=_HELD_IN[reward.status], partner=reward.partner, currency=reward.currency)
        payable = account_get(
            kind=Account.Kind.ADVERTISER_PAYABLE, advertiser=reward.offer.advertiser, currency=reward.currency
        )
        reference = str(reward.transactions.filter(kind=Transaction.Kind.ADJUSTMENT).count() + 1)
        posted = _adjustment_post(
            reward=reward,
            reference=reference,
            legs=[(payable, -difference), (held, difference)],
            memo=memo or f"amount changed: reward {old} -> {new} {reward.currency}",
            now=now,
        )
        explanation = dict(reward.explanation or {})
        explanation["adjustments"] = [
            *explanation.get("adjustments", []),
            {
                "at": now.isoformat(),
                "conversion_amount": str(facts.amount),
                "currency": facts.currency,
                "uncapped": str(computed.uncapped),
                "capped": computed.capped,
                "from": str(old),
                "to": str(new),
                "difference": str(difference),
                "held_in": _HELD_IN[reward.status],
                "transaction_id": posted.pk,
            },
        ]
        reward.amount, reward.explanation = new, explanation
        reward.save(update_fields=["amount", "explanation"])
        return reward


def _spend_charge_more(reward: Reward, amount: Decimal) -> bool:
    """Charge a raise to the counter the reward was charged to, if the rule's limit still allows it."""
    table = SpendCounter._meta.db_table
    limit = reward.rule.spend_limit
    with connection.cursor() as cursor:
        # The same conditional UPDATE as a grant (what rewards/limits.py does for a grant): no read-then-write to race.
        cursor.execute(
            f"UPDATE {table} SET spent = spent + %s WHERE id = %s AND (%s::numeric IS NULL OR spent + %s <= %s)",  # noqa: S608
            [amount, reward.spend_counter_id, limit, amount, limit],
        )
        return cursor.rowcount == 1


def _adjustment_post(*, reward: Reward, reference: str, legs: Legs, memo: str, now: datetime) -> Transaction:
    """One balanced adjustment; `ledger_post` keeps one transaction per kind, adjustments are numbered."""
    ledger_legs_check(legs)
    posted = Transaction.objects.create(
        kind=Transaction.Kind.ADJUSTMENT, reward=reward, reference=reference, memo=memo[:255], created_at=now
    )
    Entry.objects.bulk_create(
        Entry(transaction=posted, account=account, amount=amount, currency=account.currency) for account, amount in legs
    )
    return posted
