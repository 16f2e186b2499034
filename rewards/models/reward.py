"""A reward: what one partner earns from one conversion."""

from django.db import models
from django.db.models import Q

from referrals.models import CURRENCY_CHOICES, Offer, Partner, lowercase_choices
from rewards.models.rules import AMOUNT, RewardRule


class Reward(models.Model):
    Status = lowercase_choices("Status", "PENDING APPROVED PAID REVERSED")
    # Named by string, so this app imports nothing of conversions; no reverse accessor (conversions ask selectors).
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
    # The spend counter charged, for a reversal to give back. These three are mostly null: partial indexes skip them.
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
            # Carrying currency and amount: the earnings page's totals by status are an index-only scan.
            models.Index(fields=["partner", "status"], include=["currency", "amount"], name="reward_partner_status"),
            # The commissions list, newest first, and rewards made in a period: no sort of a partner's every reward.
            # Carrying the conversion too: the conversion report's filtered totals join the partner's rewards from it.
            models.Index(
                fields=["partner", "created_at", "id"],
                include=["conversion", "status", "currency", "amount"],
                name="reward_partner_created",
            ),
            models.Index(fields=["status", "approve_after"], name="reward_status_approve_after"),
            *(
                models.Index(fields=[name], condition=Q(**{f"{name}__isnull": False}), name=f"reward_{name}_set")
                for name in ("spend_counter", "payout_item", "clawback_item")
            ),
        ]

    def __str__(self) -> str:
        return f"{self.amount} {self.currency} to {self.partner}"
