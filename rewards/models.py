"""Reward rules, rewards and the double-entry ledger.

This app knows partners, offers and plain facts about a conversion; it never
imports `conversions`. A reward's conversion is a foreign key named by string
("conversions.Conversion"): the database holds the link, the code stays apart.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q

from referrals.models import CURRENCY_CHOICES, Advertiser, Offer, Partner

AMOUNT = {"max_digits": 18, "decimal_places": 4}


class SpendPeriod(models.TextChoices):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    ALL_TIME = "all_time", "all time"


class Recurring(models.TextChoices):
    EVERY = "", "every invoice"
    FIRST_ONLY = "first_only", "first invoice only"
    FIRST_N = "first_n", "first N invoices"
    WITHIN_MONTHS = "within_months", "invoices within N months of the first"


class RewardRule(models.Model):
    SpendPeriod = SpendPeriod
    Recurring = Recurring

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
    active_from = models.DateTimeField(
        null=True, blank=True, help_text="Applies to conversions that occurred at or after this moment."
    )
    active_until = models.DateTimeField(
        null=True, blank=True, help_text="Applies to conversions that occurred before this moment."
    )

    # Spend limit: what one partner may earn from this rule in a period, in the rule's currency.
    spend_limit = models.DecimalField(**AMOUNT, null=True, blank=True)
    spend_limit_period = models.CharField(max_length=10, choices=SpendPeriod.choices, blank=True, default="")

    # Recurring subscriptions: which invoices of one subscription_id earn.
    recurring = models.CharField(max_length=20, choices=Recurring.choices, blank=True, default="")
    recurring_count = models.PositiveIntegerField(
        null=True, blank=True, help_text="N invoices (first_n) or N months (within_months)."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["offer", "-priority", "-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(value__gte=0), name="rule_value_nonnegative"),
            models.CheckConstraint(
                condition=Q(max_reward__isnull=True) | Q(max_reward__gte=0), name="rule_max_reward_nonnegative"
            ),
            models.CheckConstraint(condition=Q(reward_type__in=["fixed", "percentage"]), name="rule_reward_type_valid"),
            models.CheckConstraint(
                condition=(Q(spend_limit__isnull=True) & Q(spend_limit_period=""))
                | (Q(spend_limit__gte=0) & Q(spend_limit_period__in=["day", "week", "month", "all_time"])),
                name="rule_spend_limit_has_period",
            ),
            models.CheckConstraint(
                condition=Q(recurring__in=["", "first_only"]) | Q(recurring_count__gte=1),
                name="rule_recurring_has_count",
            ),
            models.CheckConstraint(
                condition=Q(active_from__isnull=True)
                | Q(active_until__isnull=True)
                | Q(active_until__gt=F("active_from")),
                name="rule_active_range_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.offer.public_id})"

    def clean(self) -> None:
        """What the admin's form reports before the database's constraints would refuse it."""
        from referrals.money import money_quantize
        from rewards.engine import condition_errors

        errors: dict[str, list[str]] = {}
        if messages := condition_errors(self.conditions):
            errors["conditions"] = messages
        if (self.spend_limit is None) != (not self.spend_limit_period):
            errors["spend_limit_period"] = ["A spend limit needs a period, and a period needs a limit."]
        if self.recurring in (Recurring.FIRST_N, Recurring.WITHIN_MONTHS) and not self.recurring_count:
            errors["recurring_count"] = ["Say how many invoices or months."]
        if self.active_from and self.active_until and self.active_until <= self.active_from:
            errors["active_until"] = ["Must be after active from."]
        for name in ("max_reward", "spend_limit"):
            value = getattr(self, name)
            if value is not None and self.currency and money_quantize(value, self.currency) != value:
                errors[name] = [f"Use at most the minor unit of {self.currency}."]
        if errors:
            raise ValidationError(errors)


class Reward(models.Model):
    """What one partner earns from one conversion."""

    class Status(models.TextChoices):
        PENDING = "pending"
        APPROVED = "approved"
        PAID = "paid"
        REVERSED = "reversed"

    # The database holds the link; named by string, so this app imports nothing of conversions. No reverse
    # accessor: conversions ask rewards.selectors, as every app above asks a lower one.
    conversion = models.OneToOneField(
        "conversions.Conversion",
        on_delete=models.PROTECT,
        related_name="+",
        help_text="One reward per conversion, at most.",
    )
    # Indexed by reward_partner_status (partner first): a second index would only cost every insert.
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="rewards", db_index=False)
    offer = models.ForeignKey(Offer, on_delete=models.PROTECT, related_name="rewards")
    rule = models.ForeignKey(RewardRule, on_delete=models.PROTECT, related_name="rewards")
    amount = models.DecimalField(**AMOUNT)
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    explanation = models.JSONField(default=dict, blank=True)
    # 1 unit of the conversion's currency in the reward's currency, on `rate_date`; null when no conversion was needed.
    exchange_rate = models.DecimalField(max_digits=24, decimal_places=10, null=True, blank=True)
    rate_date = models.DateField(null=True, blank=True)
    occurred_at = models.DateTimeField(null=True, help_text="When the conversion happened.")
    approve_after = models.DateTimeField(
        null=True, help_text="The end of the offer's validation term, in the advertiser's time zone."
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    reversed_at = models.DateTimeField(null=True, blank=True)
    reversed_from = models.CharField(max_length=10, blank=True, help_text="The status a reversal took it from.")
    # The spend-limit counter it was charged to, so that a reversal gives the room back.
    # These three are null on most rows when inserted: partial indexes (Meta) skip those rows.
    spend_counter = models.ForeignKey("SpendCounter", on_delete=models.PROTECT, null=True, blank=True, db_index=False)
    payout_item = models.ForeignKey(
        "PayoutItem", on_delete=models.PROTECT, null=True, blank=True, related_name="rewards", db_index=False
    )
    # A paid reward that was reversed is netted off by this (later) payout: the clawback.
    clawback_item = models.ForeignKey(
        "PayoutItem", on_delete=models.PROTECT, null=True, blank=True, related_name="clawbacks", db_index=False
    )
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="reward_amount_nonnegative"),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "approved", "paid", "reversed"]), name="reward_status_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["partner", "status"], name="reward_partner_status"),
            models.Index(fields=["status", "approve_after"], name="reward_status_approve_after"),
            *(
                models.Index(fields=[name], condition=Q(**{f"{name}__isnull": False}), name=f"reward_{name}_set")
                for name in ("spend_counter", "payout_item", "clawback_item")
            ),
        ]

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
        # A conversion's amount changed: the difference between the reward's old and new amount.
        ADJUSTMENT = "adjustment"

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
            # Posting is idempotent: one transaction per (reward, kind), one payout per payout item;
            # adjustments once per (reward, reference).
            models.UniqueConstraint(
                fields=["reward", "kind"],
                condition=~Q(kind="adjustment"),
                name="transaction_once_per_reward_kind",
            ),
            models.UniqueConstraint(
                fields=["reward", "reference"],
                condition=Q(kind="adjustment"),
                name="transaction_adjustment_once_per_reference",
            ),
            models.UniqueConstraint(
                fields=["payout_item", "kind"],
                condition=Q(payout_item__isnull=False),
                name="transaction_once_per_payout_item_kind",
            ),
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


class ExchangeRate(models.Model):
    """One unit of `base` is worth `rate` units of `quote` on `date` (UTC). Staff keep these current."""

    base = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    quote = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    date = models.DateField()
    rate = models.DecimalField(max_digits=24, decimal_places=10)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-date", "base", "quote"]
        constraints = [
            models.UniqueConstraint(fields=["base", "quote", "date"], name="exchange_rate_once_per_day"),
            models.CheckConstraint(condition=Q(rate__gt=0), name="exchange_rate_positive"),
            models.CheckConstraint(condition=~Q(base=F("quote")), name="exchange_rate_two_currencies"),
        ]

    def __str__(self) -> str:
        return f"1 {self.base} = {self.rate} {self.quote} on {self.date}"


class SpendCounter(models.Model):
    """What one partner earned from one rule in one period: the row a spend limit is enforced on.

    Increased only by a conditional UPDATE (`spent + x <= limit`), so concurrent
    conversions queue on the row and never overshoot the limit.
    """

    rule = models.ForeignKey(RewardRule, on_delete=models.PROTECT, related_name="spend_counters")
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT)
    period_start = models.DateField(help_text="The first day of the period (1970-01-01 for all time).")
    spent = models.DecimalField(**AMOUNT, default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["rule", "partner", "period_start"], name="spend_counter_once"),
            models.CheckConstraint(condition=Q(spent__gte=0), name="spend_counter_nonnegative"),
        ]

    def __str__(self) -> str:
        return f"{self.spent} of rule {self.rule_id} for partner {self.partner_id} from {self.period_start}"


class SubscriptionInvoices(models.Model):
    """The invoices of one subscription processed so far: what recurring limits count."""

    offer = models.ForeignKey(Offer, on_delete=models.PROTECT)
    subscription_id = models.CharField(max_length=128)
    first_invoice_at = models.DateTimeField()
    invoices_seen = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name_plural = "subscription invoices"
        constraints = [
            models.UniqueConstraint(fields=["offer", "subscription_id"], name="subscription_invoices_once"),
        ]

    def __str__(self) -> str:
        return f"{self.subscription_id}: {self.invoices_seen} invoices"


class PayoutProfile(models.Model):
    """How a partner is paid, and an optional minimum payout of their own."""

    class Method(models.TextChoices):
        BANK = "bank", "bank transfer"
        PAYPAL = "paypal", "PayPal"

    partner = models.OneToOneField(Partner, on_delete=models.PROTECT, related_name="payout_profile")
    method = models.CharField(max_length=10, choices=Method.choices, default=Method.BANK)
    account_name = models.CharField(max_length=200, blank=True)
    iban = models.CharField(max_length=34, blank=True)
    bic = models.CharField(max_length=11, blank=True)
    paypal_email = models.EmailField(blank=True)
    minimum_payout = models.DecimalField(
        **AMOUNT, null=True, blank=True, help_text="Overrides PAYOUT_MINIMUMS for this partner, in any currency."
    )

    def __str__(self) -> str:
        return f"{self.partner} by {self.method}"


class PayoutBatch(models.Model):
    class Status(models.TextChoices):
        OPEN = "open"
        PAID = "paid"

    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    period_end = models.DateField(help_text="Rewards approved before the end of this day (UTC) are included.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    created_at = models.DateTimeField()
    paid_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "payout batches"
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=["open", "paid"]), name="payout_batch_status_valid"),
        ]

    def __str__(self) -> str:
        return f"Payout {self.pk} ({self.currency}, to {self.period_end}, {self.status})"


class PayoutItem(models.Model):
    """One partner's line in a batch: approved rewards less clawbacks."""

    batch = models.ForeignKey(PayoutBatch, on_delete=models.PROTECT, related_name="items")
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT)
    gross = models.DecimalField(**AMOUNT, help_text="The approved rewards.")
    clawback = models.DecimalField(**AMOUNT, default=0, help_text="Paid rewards reversed since, netted off.")
    amount = models.DecimalField(**AMOUNT, help_text="What is paid: gross less clawback.")
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["batch", "partner"], name="payout_item_once_per_partner"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="payout_item_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.amount} {self.currency} to {self.partner}"
