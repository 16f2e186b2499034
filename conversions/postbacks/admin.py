"""Staff screens of partner postbacks and their deliveries."""

from django.contrib import admin

from conversions.models import PartnerPostback, PostbackDelivery
from referrals.admin_read_only import NoChange


@admin.register(PartnerPostback)
class PartnerPostbackAdmin(admin.ModelAdmin):
    list_display = ("partner", "url", "is_active", "consecutive_failures", "disabled_at")
    list_filter = ("is_active",)
    list_select_related = ("partner__user",)
    search_fields = ("url", "partner__referral_code")
    readonly_fields = ("consecutive_failures", "disabled_at", "disabled_reason", "created_at")
    exclude = ("secret", "previous_secret")


@admin.register(PostbackDelivery)
class PostbackDeliveryAdmin(NoChange, admin.ModelAdmin):
    list_display = ("created_at", "postback", "event", "status_code", "latency_ms", "ok", "error")
    list_filter = ("ok", "event")
    list_select_related = ("postback__partner__user",)
    raw_id_fields = ("postback", "dispatch")
