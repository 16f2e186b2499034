"""Conversion counts and amounts per bucket, offer, status (and sub1, partner): what reports read."""

from django.db import models

from referrals.models import Offer, Partner


class ConversionCounts(models.Model):
    """A rollup row: a partner's conversions and earnings in one quarter hour (UTC), as `referrals.ClickCounts`."""

    bucket = models.DateTimeField(help_text="Start of the quarter hour, UTC.")
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="+")
    currency = models.CharField(max_length=3, blank=True)
    conversions = models.BigIntegerField(default=0)
    earnings = models.DecimalField(max_digits=18, decimal_places=4, default=0)

    class Meta:
        abstract = True


class ConversionStat(ConversionCounts):
    """Conversions and earnings per quarter hour (UTC, by conversion time), partner and offer: counts on the row
    with an empty currency, earnings (rewards granted minus reversals) on a row per reward currency."""

    offer = models.ForeignKey(Offer, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["partner", "bucket", "offer", "currency"], name="conversion_stat_key"),
        ]

    def __str__(self) -> str:
        return f"{self.bucket:%Y-%m-%d %H:%M} {self.partner_id}/{self.offer_id} {self.currency}"


class ConversionSub1Stat(ConversionCounts):
    """The same per sub1 of the conversion's click, for the report by sub1 (see `referrals.ClickSub1Stat`)."""

    offer = models.ForeignKey(Offer, on_delete=models.CASCADE, related_name="+")
    sub1 = models.CharField(max_length=255, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "bucket", "offer", "sub1", "currency"], name="conversion_sub1_stat_key"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.bucket:%Y-%m-%d %H:%M} {self.partner_id}/{self.offer_id}/{self.sub1} {self.currency}"


class ConversionDayStat(ConversionCounts):
    """`ConversionStat` by UTC day, kept with it by the same writers (the recorder's insert, `rollup_earnings_add`):
    a long period reads its whole UTC days here and only its edges in `ConversionStat`."""

    bucket = models.DateTimeField(help_text="Start of the day, UTC.")
    # Indexed by the key and by the read index, both partner first.
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="+", db_index=False)
    offer = models.ForeignKey(Offer, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["partner", "bucket", "offer", "currency"], name="conversion_day_stat_key"),
        ]
        indexes = [
            models.Index(
                fields=["partner", "bucket"],
                include=["offer", "currency", "conversions", "earnings"],
                name="conversion_day_stat_read",
            )
        ]

    def __str__(self) -> str:
        return f"{self.bucket:%Y-%m-%d} {self.partner_id}/{self.offer_id} {self.currency}"


class ConversionSub1DayStat(ConversionCounts):
    """`ConversionSub1Stat` by UTC day, as `ConversionDayStat`."""

    bucket = models.DateTimeField(help_text="Start of the day, UTC.")
    # Indexed by the key and by the read index, both partner first.
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="+", db_index=False)
    offer = models.ForeignKey(Offer, on_delete=models.CASCADE, related_name="+")
    sub1 = models.CharField(max_length=255, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "bucket", "offer", "sub1", "currency"], name="conversion_sub1_day_stat_key"
            ),
        ]
        indexes = [
            models.Index(
                fields=["partner", "bucket"],
                include=["offer", "sub1", "currency", "conversions", "earnings"],
                name="conversion_sub1_day_stat_read",
            )
        ]

    def __str__(self) -> str:
        return f"{self.bucket:%Y-%m-%d} {self.partner_id}/{self.offer_id}/{self.sub1} {self.currency}"


class PartnerConversionSub1DayStat(ConversionCounts):
    """`ConversionSub1DayStat` summed over offers, kept by the same writers: the report by sub1 of all offers
    (as `referrals.PartnerClickSub1DayStat`)."""

    bucket = models.DateTimeField(help_text="Start of the day, UTC.")
    # Indexed by the key and by the read index, both partner first.
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="+", db_index=False)
    sub1 = models.CharField(max_length=255, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "bucket", "sub1", "currency"], name="partner_conversion_sub1_day_stat_key"
            ),
        ]
        indexes = [
            models.Index(
                fields=["partner", "bucket"],
                include=["sub1", "currency", "conversions", "earnings"],
                name="partner_conv_sub1_day_read",
            )
        ]

    def __str__(self) -> str:
        return f"{self.bucket:%Y-%m-%d} {self.partner_id}/{self.sub1} {self.currency}"


class PartnerConversionStat(ConversionCounts):
    """`ConversionStat` summed over offers, and the conversions' amounts per currency: for the day-by-day reports
    (see `referrals.PartnerClickStat`) and the conversion report's totals. Database triggers keep it equal to the
    sums of `ConversionStat` (migration 0010) and of the conversions' amounts (0011), whoever writes those."""

    # The conversions in this currency and their amounts (not the rewards' currency).
    priced = models.BigIntegerField(default=0, db_default=0, help_text="Conversions in this currency.")
    amount = models.DecimalField(
        max_digits=18, decimal_places=4, default=0, db_default=0, help_text="Of conversions in this currency."
    )

    # Indexed by the key and the read index, both partner first.
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="+", db_index=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["partner", "bucket", "currency"], name="partner_conversion_stat_key"),
        ]
        # A period's totals and days are an index-only scan of its quarter hours.
        indexes = [
            models.Index(
                fields=["partner", "bucket"],
                include=["currency", "conversions", "earnings", "priced", "amount"],
                name="partner_conversion_stat_read",
            )
        ]

    def __str__(self) -> str:
        return f"{self.bucket:%Y-%m-%d %H:%M} {self.partner_id} {self.currency}"
