"""The state rules need: exchange rates, spend counters, subscription invoice counts."""

from django.db import models
from django.db.models import F, Q

from referrals.models import CURRENCY_CHOICES, Offer, Partner
from rewards.models.rules import AMOUNT, RewardRule


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
    """What one partner earned from one rule in one period; grants lock it, so concurrent ones never overshoot."""

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
        constraints = [models.UniqueConstraint(fields=["offer", "subscription_id"], name="subscription_invoices_once")]

    def __str__(self) -> str:
        return f"{self.subscription_id}: {self.invoices_seen} invoices"
