"""Reward rules: how much a partner earns from a conversion, matched by type, amount and conditions."""

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q

from core.money import money_quantize
from referrals.models import CURRENCY_CHOICES, Offer, Partner, lowercase_choices
from rewards.engine import condition_errors

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
    class ConversionType(models.TextChoices):
        ANY = "", "any type"
        PURCHASE = "purchase"
        SUBSCRIPTION = "subscription"

    RewardType = lowercase_choices("RewardType", "FIXED PERCENTAGE")
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
