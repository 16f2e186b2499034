"""Conversions and their status history."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.fields.json import KeyTransform
from django.db.models.lookups import IsNull

from referrals.models import CURRENCY_CHOICES, Advertiser, Click, Offer, Partner


def _customer_index(key: str, name: str) -> models.Index:
    """The offer's conversions by a customer key of meta, of those that have it."""
    value = KeyTransform(key, "meta")
    return models.Index(F("offer"), value, condition=Q(IsNull(value, False)), name=name)


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
    # Not indexed alone: each index costs every insert (W5), and the indexes in Meta lead with these columns.
    advertiser = models.ForeignKey(Advertiser, models.PROTECT, related_name="conversions", db_index=False)
    offer = models.ForeignKey(Offer, models.PROTECT, related_name="conversions", db_index=False)
    partner = models.ForeignKey(
        Partner, models.PROTECT, related_name="conversions", db_index=False, null=True, blank=True
    )
    # No constraint in the database: clicks are partitioned (their key holds created_at) and retention drops old
    # months (referrals/partitions.py). The recorder writes only a click it has just read; a click retired since
    # leaves the id behind, read as no click.
    click = models.ForeignKey(
        Click,
        models.PROTECT,
        db_index=False,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="conversions",
    )
    external_id = models.CharField(max_length=128, help_text="The advertiser's order or invoice id.")
    type = models.CharField(max_length=20, choices=Type.choices)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    status_reason = models.CharField(max_length=64, blank=True, help_text="A machine-readable code.")
    status_remark = models.CharField(max_length=500, blank=True, help_text="What the publisher is told.")
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.API)

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
        # Partial where most rows have no value: a query's `=` on the key implies the condition.
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
                condition=~Q(sub1=""),
                name="conversion_partner_sub1_time",
            ),
            models.Index(fields=["partner", "amount"], name="conversion_partner_amount"),
            models.Index(fields=["offer", "created_at"], name="conversion_offer_time"),
            models.Index(fields=["status", "created_at"], name="conversion_status_time"),
            models.Index(fields=["click"], condition=Q(click__isnull=False), name="conversion_click"),
            # The processing queue: the sweeper takes the oldest pending conversions, batch after batch.
            models.Index(fields=["created_at", "id"], condition=Q(status="pending"), name="conversion_pending_queue"),
            # Fraud screening: conversions per visitor IP in the last hour; one customer across partners.
            models.Index(fields=["ip", "created_at"], condition=Q(ip_from_visitor=True), name="conversion_ip_time"),
            _customer_index("customer_id", "conversion_offer_cust_id"),
            _customer_index("customer_email_sha256", "conversion_offer_cust_email"),
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
    # Indexed where set (Meta): most changes are a job's or an API call's.
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, db_index=False)
    channel = models.CharField(max_length=20, help_text="api, job, admin, ...")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "pk"]
        indexes = [models.Index(fields=["actor"], condition=Q(actor__isnull=False), name="status_change_actor")]

    def __str__(self) -> str:
        return f"{self.from_status or '∅'} → {self.to_status}"
