"""The double-entry ledger: accounts, balanced transactions, balances from entries."""

from collections import defaultdict
from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import Sum

from referrals.models import Advertiser, Partner
from rewards.models import Account, Entry, Reward, Transaction


class UnbalancedTransaction(ValueError):
    pass


def account_get(*, kind: str, currency: str, advertiser: Advertiser | None = None, partner: Partner | None = None):
    account, _ = Account.objects.get_or_create(kind=kind, currency=currency, advertiser=advertiser, partner=partner)
    return account


def ledger_post(
    *, kind: str, reward: Reward | None, legs: list[tuple[Account, Decimal]], memo: str, now: datetime
) -> Transaction:
    """Post one balanced transaction; for a reward, at most one of each kind (a repeat returns the first)."""
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for account, amount in legs:
        totals[account.currency] += amount
    if any(total != 0 for total in totals.values()):
        raise UnbalancedTransaction(f"entries do not sum to zero: {dict(totals)}")
    if reward is not None:
        existing = Transaction.objects.filter(reward=reward, kind=kind).first()
        if existing:
            return existing
    try:
        with transaction.atomic():
            posted = Transaction.objects.create(kind=kind, reward=reward, memo=memo, created_at=now)
            Entry.objects.bulk_create(
                Entry(transaction=posted, account=account, amount=amount, currency=account.currency)
                for account, amount in legs
            )
            return posted
    except IntegrityError:
        if reward is None:
            raise
        return Transaction.objects.get(reward=reward, kind=kind)


def account_balance(account: Account) -> Decimal:
    return account.entries.aggregate(total=Sum("amount"))["total"] or Decimal(0)
