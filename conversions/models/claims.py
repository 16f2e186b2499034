"""Missing-conversion claims that publishers file."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from conversions.models.conversion import Conversion
from referrals.models import CURRENCY_CHOICES, Offer, Partner


class MissingConversionClaim(models.Model):
    """A partner's report of a sale we did not record."""

    class Status(models.TextChoices):
        SUBMITTED = "submitted"
        UNDER_REVIEW = "under_review", "under review"
        APPROVED = "approved"
        DECLINED = "declined"

    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="claims")
    offer = models.ForeignKey(Offer, on_delete=models.PROTECT, related_name="claims")
    order_id = models.CharField(max_length=128)
    purchase_date = models.DateField(help_text="In the partner's time zone.")
    amount = models.DecimalField(max_digits=18, decimal_places=4)
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    sub1 = models.CharField(max_length=255, blank=True)
    remarks = models.TextField(blank=True, max_length=2000)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.SUBMITTED)
    decision_reason = models.CharField(max_length=500, blank=True, help_text="What the partner is told.")
    # What automatic matching found at submission: clicks around the date, conversions with the order id.
    evidence = models.JSONField(default=dict, blank=True)
    conversion = models.ForeignKey(Conversion, on_delete=models.SET_NULL, null=True, blank=True)
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["partner", "offer", "order_id"], name="claim_once_per_order"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="claim_amount_nonnegative"),
            models.CheckConstraint(
                condition=Q(status__in=["submitted", "under_review", "approved", "declined"]),
                name="claim_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.order_id} ({self.status})"
