"""The double-entry ledger: accounts, transactions, entries (append-only)."""

from django.db import models
from django.db.models import Q

from core.constraints import unique_where_set
from referrals.models import CURRENCY_CHOICES, Advertiser, Partner, lowercase_choices
from rewards.models.reward import Reward
from rewards.models.rules import AMOUNT


class Account(models.Model):
    """A ledger account. Balances are never stored: a balance is the sum of its entries."""

    Kind = lowercase_choices("Kind", "ADVERTISER_PAYABLE PARTNER_PENDING PARTNER_AVAILABLE PARTNER_PAID")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    advertiser = models.ForeignKey(Advertiser, on_delete=models.PROTECT, null=True, blank=True)
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, null=True, blank=True)
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "advertiser", "currency"], condition=Q(partner__isnull=True), name="account_unique_adv"
            ),
            models.UniqueConstraint(
                fields=["kind", "partner", "currency"], condition=Q(advertiser__isnull=True), name="account_unique_ptn"
            ),
            models.CheckConstraint(
                condition=(Q(kind="advertiser_payable", advertiser__isnull=False, partner__isnull=True))
                | (Q(kind__startswith="partner_", partner__isnull=False, advertiser__isnull=True)),
                name="account_owner_matches_kind",
            ),
        ]

    def __str__(self) -> str:
        owner = self.advertiser or self.partner
        return f"{self.kind} {owner} {self.currency}"


class Transaction(models.Model):
    """A balanced set of entries. Append-only: the database refuses to change or delete one."""

    # An adjustment: a conversion's amount changed, and this posts the difference in its reward.
    Kind = lowercase_choices("Kind", "ACCRUAL APPROVAL PAYOUT REVERSAL ADJUSTMENT")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    reward = models.ForeignKey(Reward, on_delete=models.PROTECT, null=True, blank=True, related_name="transactions")
    # Indexed by transaction_once_per_payout_item_kind (payout_item first), which leaves out the null rows.
    payout_item = models.ForeignKey(
        "PayoutItem", on_delete=models.PROTECT, null=True, blank=True, related_name="transactions", db_index=False
    )
    memo = models.CharField(max_length=255, blank=True)
    # Adjustments only: a reward may be adjusted several times, each posting numbered 1, 2, ...
    reference = models.CharField(max_length=40, blank=True, default="")
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            # Idempotent posting: once per (reward, kind), payout item, or adjustment's (reward, reference).
            models.UniqueConstraint(
                fields=["reward", "kind"], condition=~Q(kind="adjustment"), name="transaction_once_per_reward_kind"
            ),
            models.UniqueConstraint(
                fields=["reward", "reference"],
                condition=Q(kind="adjustment"),
                name="transaction_adjustment_once_per_reference",
            ),
            unique_where_set(["payout_item", "kind"], "payout_item", "transaction_once_per_payout_item_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk}"


class Entry(models.Model):
    transaction = models.ForeignKey(Transaction, on_delete=models.PROTECT, related_name="entries")
    # Indexed by entry_account_amounts, which carries what a balance sums.
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="entries", db_index=False)
    # Signed: what the account gains (+) or loses (-); a transaction's entries sum to zero.
    amount = models.DecimalField(**AMOUNT)
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)

    class Meta:
        verbose_name_plural = "entries"
        # A balance is an index-only scan of the account's entries (the earnings page: a partner's three accounts).
        indexes = [models.Index(fields=["account"], include=["currency", "amount"], name="entry_account_amounts")]

    def __str__(self) -> str:
        return f"{self.amount} {self.currency} {self.account.kind}"
