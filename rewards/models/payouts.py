"""Payouts: a partner's payout profile, payout batches and their lines."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from referrals.models import CURRENCY_CHOICES, Partner, lowercase_choices
from rewards.models.rules import AMOUNT


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
    Status = lowercase_choices("Status", "OPEN PAID")
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
