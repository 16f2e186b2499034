"""Who and where: advertisers and their keys, offers, partners, links and clicks."""

import re
import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from core.money import CURRENCY_MINOR_UNITS

CURRENCY_CHOICES = [(code, code) for code in sorted(CURRENCY_MINOR_UNITS)]


def lowercase_choices(name: str, members: str) -> type[models.TextChoices]:
    """TextChoices whose values are the members' names in lower case: `ACTIVE` is "active"."""
    return models.TextChoices(name, [(member, member.lower()) for member in members.split()])


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not a known IANA time zone.")


class Advertiser(models.Model):
    name = models.CharField(max_length=200)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="advertisers", help_text="Users who log in as it."
    )
    # Postback tokens travel in URLs, so we keep only their SHA-256 digest.
    postback_token_hash = models.CharField(max_length=64, unique=True, null=True, blank=True, editable=False)
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    # HMAC secrets for signed postbacks, kept to verify signatures; the previous one stays valid until a rotation.
    signing_secret = models.CharField(max_length=80, blank=True, editable=False)
    signing_secret_previous = models.CharField(max_length=80, blank=True, editable=False)
    require_signed_postbacks = models.BooleanField(default=False)
    postback_allowed_ips = models.TextField(
        blank=True, help_text="IPs or CIDR ranges, one per line or comma-separated. Empty: any address."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ApiKey(models.Model):
    """An advertiser's API key. The key is shown once; we store its SHA-256 digest."""

    advertiser = models.ForeignKey(Advertiser, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, default="default")
    prefix = models.CharField(max_length=16, editable=False, help_text="The first characters, to recognise a key.")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.advertiser})"


class Offer(models.Model):
    TrackType = lowercase_choices("TrackType", "REALTIME MANUAL")
    Status = lowercase_choices("Status", "ACTIVE PAUSED")
    advertiser = models.ForeignKey(Advertiser, on_delete=models.PROTECT, related_name="offers")
    public_id = models.SlugField(max_length=64, unique=True, help_text="The offer's stable id in the API.")
    name = models.CharField(max_length=200)
    destination_url = models.URLField(
        max_length=2000,
        help_text="Where a click goes. Macros: {click_id} {sub1}..{sub5} {offer_id} {partner_id} {link_code}.",
    )
    track_type = models.CharField(max_length=10, choices=TrackType.choices, default=TrackType.REALTIME)
    cookie_window_days = models.PositiveIntegerField(default=30)
    validation_term_days = models.PositiveIntegerField(default=30)
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES, default="USD")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    fallback_url = models.URLField(
        max_length=2000, blank=True, help_text="Where clicks go while the offer is paused; empty: 404."
    )
    deep_link_hosts = models.TextField(
        blank=True, help_text="Hosts a link may deep-link to with ?url=, one per line. Empty: no deep links."
    )
    auto_approve_links = models.BooleanField(
        default=False, help_text="A partner who asks to join gets a link at once, without staff review."
    )
    allowed_countries = models.TextField(
        blank=True,
        help_text="ISO country codes (e.g. US, CA) whose visitors may convert, comma- or line-separated. "
        "Empty: any country. Checked by fraud screening (country_not_allowed).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(track_type__in=["realtime", "manual"]), name="offer_track_type_valid"),
            models.CheckConstraint(condition=Q(status__in=["active", "paused"]), name="offer_status_valid"),
            models.CheckConstraint(condition=Q(cookie_window_days__gte=1), name="offer_cookie_window_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.public_id})"

    @property
    def allowed_country_codes(self) -> frozenset[str]:
        return frozenset(code.strip().upper() for code in re.split(r"[\s,;]+", self.allowed_countries) if code.strip())


class Partner(models.Model):
    class PayoutMethod(models.TextChoices):
        NONE = "", "not set"
        BANK_TRANSFER = "bank_transfer", "bank transfer"
        PAYPAL = "paypal", "PayPal"
        WISE = "wise", "Wise"

    Status = lowercase_choices("Status", "ACTIVE SUSPENDED")

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="partner")
    referral_code = models.CharField(max_length=32, unique=True)
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    payout_method = models.CharField(max_length=20, choices=PayoutMethod.choices, blank=True, default="")
    payout_details = models.TextField(
        blank=True, max_length=2000, help_text="Account, IBAN or email, as the method needs."
    )
    # A suspended partner keeps its links working, but its new conversions are held for review.
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    suspended_reason = models.CharField(max_length=500, blank=True)
    suspended_at = models.DateTimeField(null=True, blank=True)
    # Fraud screening compares it with the converting visitor's IP (self-referral).
    last_login_ip = models.GenericIPAddressField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["referral_code"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=["active", "suspended"]), name="partner_status_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.user.get_username()} ({self.referral_code})"

    @property
    def display_name(self) -> str:
        """How an advertiser's pages name a partner: the person's name, else the login (never the referral code)."""
        return self.user.get_full_name() or self.user.get_username()


class Coupon(models.Model):
    """A partner's coupon code on an offer: a sale that uses it is attributed to the partner."""

    code = models.CharField(max_length=64, unique=True)
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="coupons")
    offer = models.ForeignKey(Offer, on_delete=models.PROTECT, related_name="coupons")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.code


class Link(models.Model):
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="links")
    offer = models.ForeignKey(Offer, on_delete=models.PROTECT, related_name="links")
    code = models.CharField(max_length=32, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["partner", "offer"], name="link_one_per_partner_offer")]

    def __str__(self) -> str:
        return self.code


class Click(models.Model):
    """A click. The table is partitioned by month of `created_at` (referrals/partitions.py): its primary key is
    (id, created_at) in the database, and the click id is unique with its time (see Meta)."""

    click_id = models.CharField(max_length=32)
    link = models.ForeignKey(Link, on_delete=models.PROTECT, related_name="clicks")
    # Denormalised from the link: reports and attribution filter on them.
    offer = models.ForeignKey(Offer, on_delete=models.PROTECT, related_name="clicks")
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="clicks")
    created_at = models.DateTimeField(db_index=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.TextField(blank=True)
    referer = models.TextField(blank=True)
    sub1 = models.CharField(max_length=255, blank=True)
    sub2 = models.CharField(max_length=255, blank=True)
    sub3 = models.CharField(max_length=255, blank=True)
    sub4 = models.CharField(max_length=255, blank=True)
    sub5 = models.CharField(max_length=255, blank=True)
    country = models.CharField(max_length=2, blank=True)
    device = models.CharField(max_length=20, blank=True, help_text="desktop, mobile, tablet or bot")
    browser = models.CharField(max_length=64, blank=True)
    os = models.CharField(max_length=64, blank=True)
    accept_language = models.CharField(max_length=255, blank=True)
    is_unique = models.BooleanField(default=True)
    is_bot = models.BooleanField(default=False)

    class Meta:
        constraints = [
            # A partitioned table's unique keys hold the partition column. Every writer carries a click's own
            # created_at (a replayed buffered line too), so a repeat still conflicts; two clicks with one random
            # 128-bit id at different times are a 2^-128 chance per pair.
            models.UniqueConstraint(fields=["click_id", "created_at"], name="click_id_unique_in_time"),
        ]
        indexes = [
            models.Index(fields=["partner", "created_at"], name="click_partner_time"),
            # Attribution by referral code or cookie looks up a partner's latest click on an offer.
            models.Index(fields=["offer", "partner", "-created_at"], name="click_offer_partner_time"),
        ]

    def __str__(self) -> str:
        return self.click_id


class PartnerApiToken(models.Model):
    """A partner's token for the read APIs. Shown once; we keep its SHA-256 digest."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="api_tokens")
    prefix = models.CharField(max_length=16, editable=False, help_text="The first characters, to recognise a token.")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # Rotation keeps one live token per partner; the database holds it to that.
            models.UniqueConstraint(
                fields=["partner"], condition=Q(revoked_at__isnull=True), name="partner_token_one_live"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.partner})"


class LinkRequest(models.Model):
    """A partner asking to promote an offer; staff approve it in the admin, which creates the link."""

    Status = lowercase_choices("Status", "PENDING APPROVED DECLINED")

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="link_requests")
    offer = models.ForeignKey(Offer, on_delete=models.CASCADE, related_name="link_requests")
    message = models.CharField(max_length=500, blank=True, help_text="What the partner says about their traffic.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    decision_reason = models.CharField(max_length=500, blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["partner", "offer"], name="link_request_one_per_partner_offer"),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "approved", "declined"]), name="link_request_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.partner} → {self.offer.public_id} ({self.status})"


class ClickCounts(models.Model):
    """A rollup row: a partner's clicks in one quarter hour (UTC). Every zone in use is offset by whole quarter
    hours: summed buckets give exact days in any zone, without reading the click table."""

    bucket = models.DateTimeField(help_text="Start of the quarter hour, UTC.")
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="+")
    clicks = models.BigIntegerField(default=0)
    unique_clicks = models.BigIntegerField(default=0)

    class Meta:
        abstract = True


class ClickStat(ClickCounts):
    """Clicks per quarter hour, partner and offer, kept by the click writer."""

    offer = models.ForeignKey(Offer, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["partner", "bucket", "offer"], name="click_stat_key")]

    def __str__(self) -> str:
        return f"{self.bucket:%Y-%m-%d %H:%M} {self.partner_id}/{self.offer_id}: {self.clicks}"


class ClickSub1Stat(ClickCounts):
    """The same per sub1, for the report by sub1 only: sub1 is often unique per click (publishers put their
    own ids in it), and keyed by it the main rollup would grow as big as the click table."""

    offer = models.ForeignKey(Offer, on_delete=models.CASCADE, related_name="+")
    sub1 = models.CharField(max_length=255, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["partner", "bucket", "offer", "sub1"], name="click_sub1_stat_key")
        ]

    def __str__(self) -> str:
        return f"{self.bucket:%Y-%m-%d %H:%M} {self.partner_id}/{self.offer_id}/{self.sub1}: {self.clicks}"


class ClickDayStat(ClickCounts):
    """`ClickStat` by UTC day, kept by the click writer with it: a long period reads its whole UTC days here and
    only its edges (the local midnights' quarter hours) in `ClickStat`. Its read index carries the counters: a
    month of a busy partner is an index-only scan, not a heap page per row."""

    bucket = models.DateTimeField(help_text="Start of the day, UTC.")
    # Indexed by the key and by the read index, both partner first.
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="+", db_index=False)
    offer = models.ForeignKey(Offer, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["partner", "bucket", "offer"], name="click_day_stat_key")]
        indexes = [
            models.Index(
                fields=["partner", "bucket"], include=["offer", "clicks", "unique_clicks"], name="click_day_stat_read"
            )
        ]

    def __str__(self) -> str:
        return f"{self.bucket:%Y-%m-%d} {self.partner_id}/{self.offer_id}: {self.clicks}"


class ClickSub1DayStat(ClickCounts):
    """`ClickSub1Stat` by UTC day, as `ClickDayStat`."""

    bucket = models.DateTimeField(help_text="Start of the day, UTC.")
    # Indexed by the key and by the read index, both partner first.
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="+", db_index=False)
    offer = models.ForeignKey(Offer, on_delete=models.CASCADE, related_name="+")
    sub1 = models.CharField(max_length=255, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["partner", "bucket", "offer", "sub1"], name="click_sub1_day_stat_key")
        ]
        indexes = [
            models.Index(
                fields=["partner", "bucket"],
                include=["offer", "sub1", "clicks", "unique_clicks"],
                name="click_sub1_day_stat_read",
            )
        ]

    def __str__(self) -> str:
        return f"{self.bucket:%Y-%m-%d} {self.partner_id}/{self.offer_id}/{self.sub1}: {self.clicks}"


class PartnerClickSub1DayStat(ClickCounts):
    """`ClickSub1DayStat` summed over offers, kept by the same statements: the report by sub1 of all offers reads a
    partner's (day, sub1) rows, not one per offer too (W4's heaviest partner, 60 offers, at 1M clicks: a month is
    23k rows instead of 42k; the more clicks, the more offers each sub1 has on a day, docs/performance.md)."""

    bucket = models.DateTimeField(help_text="Start of the day, UTC.")
    # Indexed by the key and by the read index, both partner first.
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="+", db_index=False)
    sub1 = models.CharField(max_length=255, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["partner", "bucket", "sub1"], name="partner_click_sub1_day_stat_key")
        ]
        indexes = [
            models.Index(
                fields=["partner", "bucket"],
                include=["sub1", "clicks", "unique_clicks"],
                name="partner_click_sub1_day_read",
            )
        ]

    def __str__(self) -> str:
        return f"{self.bucket:%Y-%m-%d} {self.partner_id}/{self.sub1}: {self.clicks}"


class PartnerClickStat(ClickCounts):
    """`ClickStat` summed over offers (for partners with many), kept equal by a database trigger on `ClickStat`."""

    # Indexed by the key and the read index, both partner first.
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="+", db_index=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["partner", "bucket"], name="partner_click_stat_key")]
        # The days of a month are an index-only scan of its quarter hours (the home page, the report by day).
        indexes = [
            models.Index(
                fields=["partner", "bucket"], include=["clicks", "unique_clicks"], name="partner_click_stat_read"
            )
        ]

    def __str__(self) -> str:
        return f"{self.bucket:%Y-%m-%d %H:%M} {self.partner_id}: {self.clicks}"
