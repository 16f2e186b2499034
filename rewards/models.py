"""Reward rules, rewards and the double-entry ledger.

This app knows partners, offers and plain facts about a conversion; it never
imports `conversions`. A reward names its conversion by id only.
"""

from django.db import models
from django.db.models import Q

from referrals.models import CURRENCY_CHOICES, Advertiser, Offer, Partner

AMOUNT = {"max_digits": 18, "decimal_places": 4}


class RewardRule(models.Model):
    class ConversionType(models.TextChoices):
        ANY = "", "any type"
        PURCHASE = "purchase"
        SUBSCRIPTION = "subscription"

    class RewardType(models.TextChoices):
        FIXED = "fixed"
        PERCENTAGE = "percentage"

    offer = models.ForeignKey(Offer, on_delete=models.PROTECT, related_name="reward_rules")
    partner = models.ForeignKey(
        Partner, on_delete=models.PROTECT, null=True, blank=True, help_text="Only for this partner (an override)."
    )
    name = models.CharField(max_length=200)
    conversion_type = models.CharField(max_length=20, choices=ConversionType.choices, blank=True, default="")
    min_amount = models.DecimalField(**AMOUNT, null=True, blank=True)
    max_amount = models.DecimalField(**AMOUNT, null=True, blank=True)
    conditions = models.JSONField(
        default=list, blank=True, help_text='All must hold: [{"field": "category", "operator": "eq", "value": "x"}]'
    )
    reward_type = models.CharField(max_length=20, choices=RewardType.choices)
    value = models.DecimalField(
        **AMOUNT, help_text="A fixed amount in the rule's currency, or a percentage (10 = 10%)."
    )
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES, default="USD")
    max_reward = models.DecimalField(**AMOUNT, null=True, blank=True, help_text="Per conversion, in the currency.")
    priority = models.IntegerField(default=0, help_text="Higher wins among rules of the same scope.")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["offer", "-priority", "-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(value__gte=0), name="rule_value_nonnegative"),
            models.CheckConstraint(
                condition=Q(max_reward__isnull=True) | Q(max_reward__gte=0), name="rule_max_reward_nonnegative"
            ),
            models.CheckConstraint(condition=Q(reward_type__in=["fixed", "percentage"]), name="rule_reward_type_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.offer.public_id})"


class Reward(models.Model):
    """What one partner earns from one conversion."""

    class Status(models.TextChoices):
        PENDING = "pending"
        APPROVED = "approved"
        PAID = "paid"
        REVERSED = "reversed"

    conversion_id = models.UUIDField(unique=True, help_text="One reward per conversion, at most.")
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="rewards")
    offer = models.ForeignKey(Offer, on_delete=models.PROTECT, related_name="rewards")
    rule = models.ForeignKey(RewardRule, on_delete=models.PROTECT, related_name="rewards")
    amount = models.DecimalField(**AMOUNT)
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    explanation = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="reward_amount_nonnegative"),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "approved", "paid", "reversed"]), name="reward_status_valid"
            ),
        ]
        indexes = [models.Index(fields=["partner", "status"], name="reward_partner_status")]

    def __str__(self) -> str:
        return f"{self.amount} {self.currency} to {self.partner}"


class Account(models.Model):
    """A ledger account. Balances are never stored: a balance is the sum of its entries."""

    class Kind(models.TextChoices):
        ADVERTISER_PAYABLE = "advertiser_payable"
        PARTNER_PENDING = "partner_pending"
        PARTNER_AVAILABLE = "partner_available"
        PARTNER_PAID = "partner_paid"

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

    class Kind(models.TextChoices):
        ACCRUAL = "accrual"
        APPROVAL = "approval"
        PAYOUT = "payout"
        REVERSAL = "reversal"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    reward = models.ForeignKey(Reward, on_delete=models.PROTECT, null=True, blank=True, related_name="transactions")
    memo = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            # Posting is idempotent: one transaction per (reward, kind).
            models.UniqueConstraint(fields=["reward", "kind"], name="transaction_once_per_reward_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk}"


class Entry(models.Model):
    transaction = models.ForeignKey(Transaction, on_delete=models.PROTECT, related_name="entries")
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="entries")
    # Signed: what the account gains (+) or loses (-); a transaction's entries sum to zero.
    amount = models.DecimalField(**AMOUNT)
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)

    class Meta:
        verbose_name_plural = "entries"

    def __str__(self) -> str:
        return f"{self.amount} {self.currency} {self.account.kind}"
