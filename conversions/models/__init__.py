"""Conversions and their status history."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.fields.json import KeyTransform

from referrals.models import CURRENCY_CHOICES, Advertiser, Click, Offer, Partner


class Conversion(models.Model):
    class Type(models.TextChoices):
        PURCHASE = "purchase"
        SUBSCRIPTION = "subscription"

    class Status(models.TextChoices):
        PENDING = "pending"
        ACCEPTED = "accepted"
        REJECTED = "rejected"
        SUSPICIOUS = "suspicious"

    class Channel(models.TextChoices):
        API = "api"
        POSTBACK = "postback"
        PIXEL = "pixel"
        CSV = "csv"
        ADMIN = "admin"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    advertiser = models.ForeignKey(Advertiser, on_delete=models.PROTECT, related_name="conversions")
    offer = models.ForeignKey(Offer, on_delete=models.PROTECT, related_name="conversions")
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, null=True, blank=True, related_name="conversions")
    click = models.ForeignKey(Click, on_delete=models.PROTECT, null=True, blank=True, related_name="conversions")
    external_id = models.CharField(max_length=128, help_text="The advertiser's order or invoice id.")
    type = models.CharField(max_length=20, choices=Type.choices)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    status_reason = models.CharField(max_length=64, blank=True, help_text="A machine-readable code.")
    status_remark = models.CharField(max_length=500, blank=True, help_text="What the publisher is told.")
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.API)

    # The seed's payload.
    amount = models.DecimalField(max_digits=18, decimal_places=4)
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    product_id = models.CharField(max_length=128, blank=True)
    category = models.CharField(max_length=128, blank=True)
    quantity = models.PositiveIntegerField(default=1)
    plan = models.CharField(max_length=128, blank=True)
    subscription_id = models.CharField(max_length=128, blank=True)
    source = models.CharField(max_length=128, blank=True)
    user_agent = models.TextField(blank=True)
    meta = models.JSONField(default=dict, blank=True)

    # The click's sub ids, copied when the conversion is saved (a trigger: migration 0009), so the publisher's
    # report filters by them without joining the click table.
    sub1 = models.CharField(max_length=255, blank=True, default="", editable=False)
    sub2 = models.CharField(max_length=255, blank=True, default="", editable=False)
    sub3 = models.CharField(max_length=255, blank=True, default="", editable=False)
    sub4 = models.CharField(max_length=255, blank=True, default="", editable=False)
    sub5 = models.CharField(max_length=255, blank=True, default="", editable=False)

    # Attribution: how this conversion found its partner (see conversions/intake/attribution.py).
    attribution = models.JSONField(default=dict, blank=True)

    # Why it earned what it earned (or nothing): rules considered, inputs, rate, caps (rewards.services.reward_grant).
    reward_explanation = models.JSONField(default=dict, blank=True)

    # Fraud metadata, collected at ingestion.
    ip = models.GenericIPAddressField(null=True, blank=True)
    country = models.CharField(max_length=2, blank=True)
    device = models.CharField(max_length=20, blank=True, help_text="desktop, mobile, tablet or bot")
    browser = models.CharField(max_length=64, blank=True)
    os = models.CharField(max_length=64, blank=True)
    is_bot = models.BooleanField(default=False)
    headers = models.JSONField(default=dict, blank=True)
    # A server-to-server report comes from the advertiser's server: its IP and user agent are
    # evidence about the visitor only when the pixel saw the browser or the report carried them.
    ip_from_visitor = models.BooleanField(default=False)
    user_agent_from_visitor = models.BooleanField(default=False)

    # Fraud screening (conversions/fraud/): the sum of the signals' scores, and every signal.
    fraud_score = models.PositiveIntegerField(default=0)
    fraud_signals = models.JSONField(default=list, blank=True, help_text="[{code, score, evidence}, ...]")
    screened_at = models.DateTimeField(null=True, blank=True)

    occurred_at = models.DateTimeField()
    created_at = models.DateTimeField(db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [("review_conversion", "Can approve or reject conversions")]
        constraints = [
            models.UniqueConstraint(fields=["advertiser", "external_id"], name="conversion_external_id_unique"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="conversion_amount_nonnegative"),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "accepted", "rejected", "suspicious"]),
                name="conversion_status_valid",
            ),
            models.CheckConstraint(condition=Q(type__in=["purchase", "subscription"]), name="conversion_type_valid"),
        ]
        indexes = [
            models.Index(fields=["partner", "created_at"], name="conversion_partner_time"),
            # The publisher's report filtered by status or sub1 (conversions/reports/selectors.py); the totals of the
            # filtered rows read only these indexes (offer_id for the offer filter, id for the reward join).
            models.Index(
                fields=["partner", "status", "created_at"],
                include=["id", "offer_id", "currency", "amount"],
                name="conversion_partner_status_time",
            ),
            models.Index(
                fields=["partner", "sub1", "created_at"],
                include=["id", "currency", "amount"],
                name="conversion_partner_sub1_time",
            ),
            models.Index(fields=["partner", "amount"], name="conversion_partner_amount"),
            models.Index(fields=["offer", "created_at"], name="conversion_offer_time"),
            models.Index(fields=["status", "created_at"], name="conversion_status_time"),
            # The processing queue: the sweeper takes the oldest pending conversions, batch after batch.
            models.Index(fields=["created_at", "id"], condition=Q(status="pending"), name="conversion_pending_queue"),
            # Fraud screening: conversions per visitor IP in the last hour; one customer across partners.
            models.Index(fields=["ip", "created_at"], name="conversion_ip_time"),
            models.Index(F("offer"), KeyTransform("customer_id", "meta"), name="conversion_offer_cust_id"),
            models.Index(F("offer"), KeyTransform("customer_email_sha256", "meta"), name="conversion_offer_cust_email"),
        ]

    def __str__(self) -> str:
        return f"{self.external_id} ({self.status})"


class StatusChange(models.Model):
    """One row per status change of a conversion: who, when, from, to, why, and by which channel."""

    conversion = models.ForeignKey(Conversion, on_delete=models.CASCADE, related_name="status_changes")
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20)
    reason = models.CharField(max_length=64, blank=True)
    remark = models.CharField(max_length=500, blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    channel = models.CharField(max_length=20, help_text="api, job, admin, ...")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.from_status or '∅'} → {self.to_status}"


class RequestLogEntry(models.Model):
    """An ingestion request that was refused or did not create a conversion, kept for debugging and replay."""

    class Reason(models.TextChoices):
        BAD_AUTH = "bad_auth"
        BAD_SIGNATURE = "bad_signature"
        STALE_SIGNATURE = "stale_signature"
        REPLAYED_SIGNATURE = "replayed_signature"
        IP_NOT_ALLOWED = "ip_not_allowed"
        INVALID = "invalid"
        UNKNOWN_CLICK = "unknown_click"
        NOT_FOUND = "not_found"
        DUPLICATE = "duplicate"
        OUTSIDE_WINDOW = "outside_attribution_window"
        UNATTRIBUTED = "unattributed"
        IDEMPOTENCY_MISMATCH = "idempotency_mismatch"
        ERROR = "error"

    advertiser = models.ForeignKey(Advertiser, on_delete=models.CASCADE, null=True, blank=True)
    channel = models.CharField(max_length=10)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=200)
    reason = models.CharField(max_length=40, choices=Reason.choices)
    message = models.CharField(max_length=500, blank=True)
    http_status = models.PositiveSmallIntegerField()
    payload = models.JSONField(default=dict, blank=True, help_text="Secrets redacted.")
    ip = models.GenericIPAddressField(null=True, blank=True)
    conversion = models.ForeignKey(Conversion, on_delete=models.SET_NULL, null=True, blank=True)
    created_at = models.DateTimeField(db_index=True)
    replayed_at = models.DateTimeField(null=True, blank=True)
    replay_result = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["advertiser", "-created_at"], name="requestlog_advertiser_time")]

    def __str__(self) -> str:
        return f"{self.channel} {self.reason} {self.created_at:%Y-%m-%d %H:%M}"


class IdempotencyKey(models.Model):
    """The first answer to a request with an Idempotency-Key, replayed for the same key and body."""

    advertiser = models.ForeignKey(Advertiser, on_delete=models.CASCADE)
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    # Null while the first request is still in flight.
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["advertiser", "key"], name="idempotency_key_unique")]

    def __str__(self) -> str:
        return self.key


class UsedSignature(models.Model):
    """Signatures already accepted, so that a captured signed request cannot be replayed."""

    advertiser = models.ForeignKey(Advertiser, on_delete=models.CASCADE)
    signature = models.CharField(max_length=64)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["advertiser", "signature"], name="used_signature_unique")]

    def __str__(self) -> str:
        return self.signature[:12]


class ConversionUpload(models.Model):
    """A CSV an advertiser (or staff for them) uploaded, and what importing it did.

    The import job walks the file in chunks; each chunk's rows, row errors and
    the counters below (`rows_done` is the cursor) commit together, so a
    re-run resumes where the last one stopped and counts nothing twice.
    """

    class Kind(models.TextChoices):
        CONVERSIONS = "conversions", "new conversions"
        ADJUSTMENTS = "adjustments", "status and amount adjustments"
        RECONCILIATION = "reconciliation", "reconciliation file"

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    advertiser = models.ForeignKey(Advertiser, on_delete=models.PROTECT, related_name="uploads")
    offer = models.ForeignKey(
        Offer,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="uploads",
        help_text="New conversions go to it.",
    )
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.CONVERSIONS)
    file = models.FileField(upload_to="uploads/%Y/%m/")
    original_name = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64, db_index=True)
    identical_to = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, help_text="An earlier upload of the same bytes."
    )
    billing_month = models.DateField(null=True, blank=True, help_text="Reconciliation: the first day of the month.")
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    failure = models.TextField(blank=True, help_text="Why the whole file could not be read.")
    ignored_columns = models.JSONField(default=list, blank=True)
    rows_total = models.PositiveIntegerField(default=0)
    rows_done = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    duplicate_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    unchanged_count = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    # Reconciliation results: {"matched": n, "only_theirs": n, "only_ours": n, "amount_differs": n}.
    summary = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=["conversions", "adjustments", "reconciliation"]), name="upload_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["queued", "running", "done", "failed"]), name="upload_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(rows_done__lte=models.F("rows_total")), name="upload_rows_done_le_total"
            ),
        ]
        indexes = [models.Index(fields=["advertiser", "created_at"], name="upload_advertiser_time")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.original_name} ({self.status})"

    @property
    def percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        return int(self.rows_done * 100 / self.rows_total) if self.rows_total else 0

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)


class UploadRowError(models.Model):
    """One bad row of an upload: its row number as a spreadsheet shows it (the header is row 1)."""

    upload = models.ForeignKey(ConversionUpload, on_delete=models.CASCADE, related_name="row_errors")
    row = models.PositiveIntegerField()
    column = models.CharField(max_length=100, blank=True)
    value = models.CharField(max_length=200, blank=True)
    external_id = models.CharField(max_length=128, blank=True)
    reason = models.CharField(max_length=500)

    class Meta:
        ordering = ["upload", "row", "pk"]
        indexes = [models.Index(fields=["upload", "row"], name="upload_error_row")]

    def __str__(self) -> str:
        return f"row {self.row} {self.column}: {self.reason}"


class ConversionStat(models.Model):
    """Conversions and earnings rolled up per quarter hour (UTC, by conversion time), partner and offer.

    Counts live on the row with an empty currency; earnings (rewards granted
    minus reversals) on a row per reward currency. Kept current by the
    ingestion and processing services; the home page and the performance
    report read only this and `referrals.ClickStat`.
    """

    bucket = models.DateTimeField(help_text="Start of the quarter hour, UTC.")
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="+")
    offer = models.ForeignKey(Offer, on_delete=models.CASCADE, related_name="+")
    currency = models.CharField(max_length=3, blank=True)
    conversions = models.BigIntegerField(default=0)
    earnings = models.DecimalField(max_digits=18, decimal_places=4, default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["partner", "bucket", "offer", "currency"], name="conversion_stat_key"),
        ]

    def __str__(self) -> str:
        return f"{self.bucket:%Y-%m-%d %H:%M} {self.partner_id}/{self.offer_id} {self.currency}"


class ConversionSub1Stat(models.Model):
    """The same per sub1 of the conversion's click, for the report by sub1 (see `referrals.ClickSub1Stat`)."""

    bucket = models.DateTimeField(help_text="Start of the quarter hour, UTC.")
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="+")
    offer = models.ForeignKey(Offer, on_delete=models.CASCADE, related_name="+")
    sub1 = models.CharField(max_length=255, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    conversions = models.BigIntegerField(default=0)
    earnings = models.DecimalField(max_digits=18, decimal_places=4, default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "bucket", "offer", "sub1", "currency"], name="conversion_sub1_stat_key"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.bucket:%Y-%m-%d %H:%M} {self.partner_id}/{self.offer_id}/{self.sub1} {self.currency}"


class PartnerConversionStat(models.Model):
    """`ConversionStat` summed over offers: conversions and earnings per quarter hour, partner and currency;
    and the conversions' amounts per currency.

    Read by the day-by-day reports (see `referrals.PartnerClickStat`) and the conversion report's totals.
    Database triggers keep it equal to the sums of `ConversionStat` (migration 0010) and of the
    conversions' amounts (migration 0011), whoever writes those.
    """

    bucket = models.DateTimeField(help_text="Start of the quarter hour, UTC.")
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="+")
    currency = models.CharField(max_length=3, blank=True)
    conversions = models.BigIntegerField(default=0)
    earnings = models.DecimalField(max_digits=18, decimal_places=4, default=0)
    # The conversions in this currency and their amounts (not the rewards' currency).
    priced = models.BigIntegerField(default=0, db_default=0, help_text="Conversions in this currency.")
    amount = models.DecimalField(
        max_digits=18, decimal_places=4, default=0, db_default=0, help_text="Of conversions in this currency."
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["partner", "bucket", "currency"], name="partner_conversion_stat_key"),
        ]

    def __str__(self) -> str:
        return f"{self.bucket:%Y-%m-%d %H:%M} {self.partner_id} {self.currency}"


class PartnerPostback(models.Model):
    """A partner's webhook: where we tell them about their conversions."""

    class Event(models.TextChoices):
        CREATED = "created"
        STATUS_CHANGED = "status_changed"

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="postbacks")
    url = models.URLField(
        max_length=2000,
        help_text="Macros: {click_id} {sub1}..{sub5} {conversion_id} {external_id} {offer_id} {status} "
        "{payout} {currency} {event}.",
    )
    on_created = models.BooleanField(default=True)
    on_status_changed = models.BooleanField(default=True)
    secret = models.CharField(max_length=64, editable=False)
    # After a rotation the old secret signs too, until it expires, so receivers can switch without a gap.
    previous_secret = models.CharField(max_length=64, blank=True, editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.partner}: {self.url}"


class PostbackDispatch(models.Model):
    """One event to deliver to one postback; the payload is frozen when the event happens."""

    postback = models.ForeignKey(PartnerPostback, on_delete=models.CASCADE, related_name="dispatches")
    conversion = models.ForeignKey(Conversion, on_delete=models.CASCADE, null=True, blank=True)
    event = models.CharField(max_length=20)
    # The conversion's status at the event: one dispatch per status reached, however often it is enqueued.
    status = models.CharField(max_length=20, blank=True)
    payload = models.JSONField(default=dict)
    attempts = models.PositiveIntegerField(default=0)
    delivered_at = models.DateTimeField(null=True, blank=True)
    given_up_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["postback", "conversion", "event", "status"],
                condition=Q(conversion__isnull=False),
                name="postback_dispatch_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.postback_id}"


class PostbackDelivery(models.Model):
    """One HTTP attempt, for the partner's delivery log."""

    postback = models.ForeignKey(PartnerPostback, on_delete=models.CASCADE, related_name="deliveries")
    dispatch = models.ForeignKey(PostbackDispatch, on_delete=models.CASCADE, null=True, blank=True)
    event = models.CharField(max_length=20)
    url = models.TextField()
    status_code = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    ok = models.BooleanField(default=False)
    error = models.CharField(max_length=255, blank=True)
    response_excerpt = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["postback", "-created_at"], name="postback_delivery_time")]

    def __str__(self) -> str:
        return f"{self.url} → {self.status_code or self.error}"


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


# Fraud settings, data-centre ranges and the review-queue proxy live with the checks.
from conversions.models.fraud import DatacenterRange, FraudSetting, SuspiciousConversion  # noqa: E402, F401
