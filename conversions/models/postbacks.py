"""Partner postbacks: where a partner wants to hear of its conversions, what is due, what was sent."""

from django.db import models

from conversions.models.conversion import Conversion
from core.constraints import unique_where_set
from referrals.models import Partner


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


class PostbackEvent(models.Model):
    """What a dispatch and a delivery have in common: an event of a postback (`created`, `status_changed` or a
    staff `test`), at a time."""

    event = models.CharField(max_length=20)
    created_at = models.DateTimeField()

    class Meta:
        abstract = True


class PostbackDispatch(PostbackEvent):
    """One event to deliver to one postback; the payload is frozen when the event happens."""

    postback = models.ForeignKey(PartnerPostback, on_delete=models.CASCADE, related_name="dispatches")
    conversion = models.ForeignKey(Conversion, on_delete=models.CASCADE, null=True, blank=True)
    # The conversion's status at the event: one dispatch per status reached, however often it is enqueued.
    status = models.CharField(max_length=20, blank=True)
    payload = models.JSONField(default=dict)
    attempts = models.PositiveIntegerField(default=0)
    delivered_at = models.DateTimeField(null=True, blank=True)
    given_up_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            unique_where_set(["postback", "conversion", "event", "status"], "conversion", "postback_dispatch_once")
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.postback_id}"


class PostbackDelivery(PostbackEvent):
    """One HTTP attempt, for the partner's delivery log."""

    postback = models.ForeignKey(PartnerPostback, on_delete=models.CASCADE, related_name="deliveries")
    dispatch = models.ForeignKey(PostbackDispatch, on_delete=models.CASCADE, null=True, blank=True)
    url = models.TextField()
    status_code = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    ok = models.BooleanField(default=False)
    error = models.CharField(max_length=255, blank=True)
    response_excerpt = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["postback", "-created_at"], name="postback_delivery_time")]

    def __str__(self) -> str:
        return f"{self.url} → {self.status_code or self.error}"
