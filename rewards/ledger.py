"""The double-entry ledger: balanced transactions of amounts rounded to the minor unit; balances are sums.

Money moves payable -> pending (accrual), pending -> available (approval), available -> paid (payout), and back
to payable (reversal: from a paid reward it leaves `available` negative, a clawback the next payout nets off).
Transactions are append-only (a database trigger refuses UPDATE and DELETE): a correction is a new one.
"""

from collections import defaultdict
from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import Sum

from core.money import money_quantize
from core.rows import ids_reserve, rows_copy
from referrals.models import Advertiser, Partner
from rewards.models import Account, Entry, PayoutItem, Reward, Transaction

Legs = list[tuple[Account, Decimal]]


class UnbalancedTransaction(ValueError):
    pass


def account_get(*, kind: str, currency: str, advertiser: Advertiser | None = None, partner: Partner | None = None):
    """The account, created on first use; `get_or_create` settles a race on the unique constraint."""
    account, _ = Account.objects.get_or_create(kind=kind, currency=currency, advertiser=advertiser, partner=partner)
    return account


def ledger_legs_check(legs: Legs) -> None:
    """Refuse a transaction whose entries do not sum to zero per currency or are not rounded to its minor unit."""
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for account, amount in legs:
        if money_quantize(amount, account.currency) != amount:
            raise UnbalancedTransaction(f"{amount} is not rounded to {account.currency}'s minor unit")
        totals[account.currency] += amount
    if not legs or any(total != 0 for total in totals.values()):
        raise UnbalancedTransaction(f"entries do not sum to zero: {dict(totals)}")


def ledger_post(
    *,
    kind: str,
    reward: Reward | None = None,
    payout_item: PayoutItem | None = None,
    reference: str = "",
    legs: Legs,
    memo: str,
    now: datetime,
) -> Transaction:
    """Post one balanced transaction, once per reward (or payout line), kind and reference (adjustments: 1, 2, ...).
    A repeat returns the first transaction and writes nothing."""
    ledger_legs_check(legs)
    try:
        with transaction.atomic():
            posted = Transaction.objects.create(
                kind=kind, reward=reward, payout_item=payout_item, reference=reference, memo=memo[:255], created_at=now
            )
            Entry.objects.bulk_create(
                Entry(transaction=posted, account=account, amount=amount, currency=account.currency)
                for account, amount in legs
            )
            return posted
    except IntegrityError:
        # A repeat: the unique constraints allow one of each kind (and reference) per reward or payout line.
        if reward is None and payout_item is None:
            raise
        return Transaction.objects.get(kind=kind, reward=reward, payout_item=payout_item, reference=reference)


def _account_of(record: Reward | PayoutItem, kind: str) -> Account:
    if kind == Account.Kind.ADVERTISER_PAYABLE:
        return account_get(kind=kind, currency=record.currency, advertiser=record.offer.advertiser)
    return account_get(kind=kind, currency=record.currency, partner=record.partner)


def ledger_move(
    kind: str, of: Reward | PayoutItem, source: str, target: str, amount: Decimal, *, memo: str, now: datetime, **ref
) -> Transaction:
    """Post `amount` from one account of a reward (or payout line) to another, by kinds; `ref`: a `reference`."""
    owner = {"reward": of} if isinstance(of, Reward) else {"payout_item": of}
    legs = [(_account_of(of, source), -amount), (_account_of(of, target), amount)]
    return ledger_post(kind=kind, legs=legs, memo=memo, now=now, **owner, **ref)


def ledger_post_new(*, kind: str, postings: list[tuple[int, str, Legs]], now: datetime) -> None:
    """Post, by COPY, a checked `kind` transaction for each (reward id, memo, legs) of new rewards (none posted yet)."""
    for _, _, legs in postings:
        ledger_legs_check(legs)
    ids = [transaction_id for (transaction_id,) in ids_reserve(len(postings), Transaction)]
    rows_copy(
        Transaction,
        ["id", "kind", "reward_id", "memo", "created_at"],
        ((id_, kind, reward_id, memo[:255], now) for id_, (reward_id, memo, _) in zip(ids, postings, strict=True)),
    )
    rows_copy(
        Entry,
        ["transaction_id", "account_id", "amount", "currency"],
        (
            (id_, account.pk, amount, account.currency)
            for id_, (_, _, legs) in zip(ids, postings, strict=True)
            for account, amount in legs
        ),
    )


def account_balance(account: Account) -> Decimal:
    return account.entries.aggregate(total=Sum("amount"))["total"] or Decimal(0)


def partner_balance(*, partner: Partner, kind: str, currency: str) -> Decimal:
    """A partner's balance of one kind; zero when the account was never used."""
    entries = Entry.objects.filter(account__partner=partner, account__kind=kind, account__currency=currency)
    return entries.aggregate(total=Sum("amount"))["total"] or Decimal(0)
