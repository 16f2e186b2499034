"""Per-offer fraud settings and the review-queue proxy."""

from django.core.exceptions import ValidationError
from django.db import models

from conversions.fraud.checks import CHECKS, ThresholdInvalid
from conversions.models.conversion import Conversion
from referrals.models import Offer


def check_choices() -> list[tuple[str, str]]:
    # A callable, named by migration 0007, so that a new check needs no migration.
    return [(check.code, check.title) for check in CHECKS.values() if check.configurable]


class FraudSetting(models.Model):
    """How one check behaves on one offer. Without a row the check's defaults apply (docs/fraud.md)."""

    class Action(models.TextChoices):
        FLAG = "flag", "flag: hold as suspicious for staff"
        REJECT = "reject", "reject: reject with the check's code"
        RECORD = "record", "record: keep the signal, change nothing"

    offer = models.ForeignKey(Offer, on_delete=models.CASCADE, related_name="fraud_settings")
    check_code = models.CharField(max_length=40, choices=check_choices)
    enabled = models.BooleanField(default=True)
    threshold = models.JSONField(
        null=True, blank=True, help_text="Empty: the check's default. A number, or an object for the amount check."
    )
    action = models.CharField(max_length=10, choices=Action.choices, default=Action.FLAG)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["offer", "check_code"], name="fraud_setting_one_per_offer_check"),
            models.CheckConstraint(
                condition=models.Q(action__in=["flag", "reject", "record"]), name="fraud_setting_action_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.offer.public_id}: {self.check_code}"

    def clean(self) -> None:
        check = CHECKS.get(self.check_code)
        if check is None or not check.configurable:
            raise ValidationError({"check_code": "Unknown check."})
        if self.threshold is not None:
            try:
                check.threshold_parse(self.threshold)
            except ThresholdInvalid as error:
                raise ValidationError({"threshold": str(error)}) from None


class SuspiciousConversion(Conversion):
    """The staff review queue: conversions that screening held as suspicious."""

    class Meta:
        proxy = True
        verbose_name = "suspicious conversion (review queue)"
        verbose_name_plural = "suspicious conversions (review queue)"
