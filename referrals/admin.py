"""Staff screens for advertisers, keys, offers, partners, links and clicks; secrets are shown once, in a message."""

from django.conf import settings
from django.contrib import admin, messages
from django.db import models
from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone

from referrals.admin_read_only import NoAdd, NoDelete, ReadOnlyAdmin, ReadOnlyInline, admin_each
from referrals.link_requests import LinkRequestNotAllowed, link_request_approve, link_request_decline
from referrals.models import Advertiser, ApiKey, Click, Link, LinkRequest, Offer, Partner
from referrals.services import api_key_create, api_key_revoke, postback_token_rotate, signing_secret_rotate

_STORED_HASHED = "Copy it now: it is stored hashed and not shown again."
# What an offer promises partners: shown in the offer list.
OFFER_TERMS = ("track_type", "currency", "status", "cookie_window_days", "validation_term_days")
CLICK_FLAGS = ("is_unique", "is_bot")  # shown and filtered on


class ApiKeyInline(ReadOnlyInline):
    # A key is made by the "Create a new API key" action, which shows it once.
    model = ApiKey
    fields = ("prefix", "name", "created_at", "revoked_at")
    readonly_fields = fields
    show_change_link = True


@admin.register(Advertiser)
class AdvertiserAdmin(admin.ModelAdmin):
    list_display = ("name", "time_zone", "active_api_keys", "has_postback_token", "created_at")
    search_fields = ("name",)
    readonly_fields = ("has_postback_token", "created_at")
    fields = ("name", "time_zone", "has_postback_token", "created_at")
    inlines = (ApiKeyInline,)
    actions = ("create_api_key", "rotate_postback_token", "rotate_signing_secret")

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(_active_api_keys=Count("api_keys", filter=Q(api_keys__revoked_at__isnull=True)))
        )

    @admin.display(description="active API keys", ordering="_active_api_keys")
    def active_api_keys(self, advertiser: Advertiser) -> int:
        return advertiser._active_api_keys

    @admin.display(description="postback token", boolean=True)
    def has_postback_token(self, advertiser: Advertiser) -> bool:
        return bool(advertiser.postback_token_hash)

    def _secrets_show(self, request, queryset, secret_make, message: str) -> None:
        for advertiser in queryset:
            messages.success(request, message.format(advertiser=advertiser, raw=secret_make(advertiser=advertiser)))

    @admin.action(description="Create a new API key", permissions=["change"])
    def create_api_key(self, request, queryset) -> None:
        message = "New API key for {advertiser}: {raw} " + _STORED_HASHED
        self._secrets_show(request, queryset, lambda advertiser: api_key_create(advertiser=advertiser)[1], message)

    @admin.action(description="Rotate postback token", permissions=["change"])
    def rotate_postback_token(self, request, queryset) -> None:
        message = "New postback token for {advertiser}: {raw} The old one no longer works. " + _STORED_HASHED
        self._secrets_show(request, queryset, postback_token_rotate, message)

    @admin.action(
        description="Rotate postback signing secret (the previous one keeps working until the next)",
        permissions=["change"],
    )
    def rotate_signing_secret(self, request, queryset) -> None:
        message = (
            "New signing secret for {advertiser}: {raw} Signatures with the previous secret still verify "
            "until the next rotation. Copy it now: it is not shown again."
        )
        self._secrets_show(request, queryset, signing_secret_rotate, message)


@admin.register(ApiKey)
class ApiKeyAdmin(NoAdd, NoDelete, admin.ModelAdmin):
    """Keys are made by the advertiser action, which alone shows the plain text; revoked, never deleted."""

    list_display = ("prefix", "name", "advertiser", "created_at", "revoked_at", "is_active")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter), "advertiser")
    search_fields = ("prefix", "name", "advertiser__name")
    list_select_related = ("advertiser",)
    fields = ("advertiser", "name", "prefix", "created_at", "revoked_at")
    readonly_fields = ("advertiser", "prefix", "created_at", "revoked_at")
    date_hierarchy = "created_at"
    actions = ("revoke_api_keys",)

    @admin.display(description="active", boolean=True)
    def is_active(self, key: ApiKey) -> bool:
        return key.revoked_at is None

    @admin.action(description="Revoke selected API keys", permissions=["change"])
    def revoke_api_keys(self, request, queryset) -> None:
        now, live = timezone.now(), list(queryset.filter(revoked_at__isnull=True))
        for key in live:
            api_key_revoke(api_key=key, now=now)
        skipped = queryset.count() - len(live)
        messages.success(request, f"Revoked {len(live)} API key(s).")
        if skipped:
            messages.info(request, f"{skipped} key(s) were already revoked and left as they were.")


@admin.register(Offer)
class OfferAdmin(admin.ModelAdmin):
    list_display = ("name", "public_id", "advertiser", *OFFER_TERMS, "created_at")
    list_filter = ("status", "track_type", "currency", "advertiser")
    search_fields = ("name", "public_id", "advertiser__name")
    list_select_related = ("advertiser",)
    readonly_fields = ("created_at",)
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def get_readonly_fields(self, request, obj=None):
        # Rules, rewards and the ledger are in the offer's currency: fixed once created.
        return self.readonly_fields if obj is None else (*self.readonly_fields, "currency")


@admin.register(Partner)
class PartnerAdmin(admin.ModelAdmin):
    list_display = ("referral_code", "user", "status", "time_zone", "created_at")
    list_filter = ("status",)
    search_fields = ("referral_code", "user__username", "user__email")
    list_select_related = ("user",)
    raw_id_fields = ("user",)
    readonly_fields = ("created_at",)


@admin.register(Link)
class LinkAdmin(admin.ModelAdmin):
    list_display = ("code", "partner", "offer", "tracking_url", "created_at")
    list_filter = ("offer",)
    search_fields = ("code", "partner__referral_code", "partner__user__username", "offer__public_id")
    list_select_related = ("partner__user", "offer")
    raw_id_fields = ("partner", "offer")
    readonly_fields = ("tracking_url", "created_at")

    def get_readonly_fields(self, request, obj=None):
        # Issued links are out in the world; changing them would break or re-route them.
        return self.readonly_fields if obj is None else ("code", "partner", "offer", *self.readonly_fields)

    @admin.display(description="tracking URL")
    def tracking_url(self, link: Link) -> str:
        return f"{settings.SITE_URL}{reverse('click', kwargs={'code': link.code})}" if link.code else "-"


@admin.register(Click)
class ClickAdmin(ReadOnlyAdmin):
    list_display = ("click_id", "created_at", "offer", "partner", "link", "ip", "country", "device", *CLICK_FLAGS)
    list_filter = (*CLICK_FLAGS, "offer", "partner")
    # Exact click id: the unique index answers it; a partial match would scan the table.
    search_fields = ("click_id__exact", "ip")
    list_select_related = ("offer", "partner__user", "link")
    raw_id_fields = ("link", "offer", "partner")
    date_hierarchy = "created_at"
    # Clicks are the biggest table: skip the second COUNT(*) over all of it.
    show_full_result_count = False


@admin.register(LinkRequest)
class LinkRequestAdmin(NoAdd, admin.ModelAdmin):
    list_display = ("partner", "offer", "status", "created_at", "decided_at")
    list_filter = ("status", "offer")
    list_select_related = ("partner__user", "offer")
    search_fields = ("partner__referral_code", "partner__user__username", "offer__public_id")
    readonly_fields = ("partner", "offer", "message", "status", "decided_by", "decided_at", "created_at")
    actions = ("approve", "decline")

    @admin.action(description="Approve and create the partner's link")
    def approve(self, request, queryset):
        def approve_one(link_request):
            link_request_approve(request_id=link_request.pk, actor=request.user)

        done = admin_each(self, request, queryset, approve_one, refusal=LinkRequestNotAllowed)
        self.message_user(request, f"{done} request(s) approved; links created.", messages.SUCCESS)

    @admin.action(description="Decline, with the decision reason entered on each request")
    def decline(self, request, queryset):
        def decline_one(link_request):
            link_request_decline(request_id=link_request.pk, reason=link_request.decision_reason, actor=request.user)

        done = admin_each(self, request, queryset, decline_one, refusal=LinkRequestNotAllowed)
        self.message_user(request, f"{done} request(s) declined.", messages.SUCCESS)
