"""Staff screens for conversions: read-only records, changed only by the review actions.

The actions ask for a remark (and a reason to reject) on a confirmation page,
then call `conversion_approve` / `conversion_reject` once per conversion and
say what happened to each.
"""

import json
from dataclasses import dataclass, field

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from conversions.claims.services import claim_approve, claim_decline, claim_review_start
from conversions.errors import ConversionTransitionNotAllowed
from conversions.intake.requests import request_log_replay
from conversions.lifecycle import conversion_approve, conversion_reject
from conversions.models import (
    Conversion,
    MissingConversionClaim,
    PartnerPostback,
    PostbackDelivery,
    RequestLogEntry,
    StatusChange,
)
from core.errors import DomainError
from core.money import money_quantize
from referrals.admin_read_only import ReadOnlyAdmin, ReadOnlyInline
from rewards.models import Reward

REVIEW_TEMPLATE = "admin/conversions/conversion_review.html"
REJECT_REASONS = [
    ("rejected_by_staff", "Rejected by staff"),
    ("fraud", "Fraud"),
    ("returned", "Returned or cancelled"),
    ("duplicate", "Duplicate"),
    ("invalid", "Invalid"),
]


def json_block(value) -> str:
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=True, default=str))


@dataclass
class ReviewOutcome:
    """What a review action did: conversions by their new status, those left alone, those refused."""

    changed: dict[str, list[Conversion]] = field(default_factory=dict)
    unchanged: list[Conversion] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


class ConversionApproveForm(forms.Form):
    remark = forms.CharField(
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Optional. What the publisher is told.",
    )


class ConversionRejectForm(forms.Form):
    reason = forms.ChoiceField(choices=REJECT_REASONS, initial="rejected_by_staff")
    remark = forms.CharField(
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Required. What the publisher is told.",
    )


class StatusChangeInline(ReadOnlyInline):
    model = StatusChange
    fields = ("created_at", "actor", "channel", "from_status", "to_status", "reason", "remark")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor")


@admin.register(Conversion)
class ConversionAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "external_id",
        "offer",
        "partner",
        "type",
        "amount",
        "currency",
        "status",
        "status_reason",
        "channel",
    )
    list_filter = ("status", "type", "channel", "offer")
    search_fields = ("external_id", "id", "click__click_id")
    list_select_related = ("offer", "partner__user")
    raw_id_fields = ("advertiser", "offer", "partner", "click")
    date_hierarchy = "created_at"
    show_full_result_count = False
    fieldsets = (
        (None, {"fields": ("id", "external_id", "advertiser", "offer", "partner", "click", "type", "channel")}),
        ("Status", {"fields": ("status", "status_reason", "status_remark", "processed_at", "reward")}),
        (
            "Payload",
            {
                "fields": (
                    "amount",
                    "currency",
                    "product_id",
                    "category",
                    "quantity",
                    "plan",
                    "subscription_id",
                    "source",
                    "meta_pretty",
                    "occurred_at",
                    "created_at",
                )
            },
        ),
        ("Attribution", {"fields": ("attribution_pretty",)}),
        (
            "Fraud metadata",
            {"fields": ("ip", "country", "device", "browser", "os", "is_bot", "user_agent", "headers_pretty")},
        ),
    )
    readonly_fields = [name for _title, options in fieldsets for name in options["fields"]]
    inlines = (StatusChangeInline,)
    actions = ("approve_selected", "reject_selected")

    # Conversions are records: they come from ingestion and change status only
    # through the review actions, which call the services.

    def has_review_permission(self, request) -> bool:
        return request.user.has_perm("conversions.review_conversion")

    @admin.display(description="meta")
    def meta_pretty(self, conversion: Conversion) -> str:
        return json_block(conversion.meta)

    @admin.display(description="attribution")
    def attribution_pretty(self, conversion: Conversion) -> str:
        return json_block(conversion.attribution)

    @admin.display(description="headers")
    def headers_pretty(self, conversion: Conversion) -> str:
        return json_block(conversion.headers)

    @admin.display(description="reward")
    def reward(self, conversion: Conversion) -> str:
        reward = Reward.objects.filter(conversion_id=conversion.pk).first()
        if reward is None:
            return "-"
        url = reverse("admin:rewards_reward_change", args=[reward.pk])
        amount = money_quantize(reward.amount, reward.currency)
        return format_html('<a href="{}">{} {} ({})</a>', url, amount, reward.currency, reward.status)

    @admin.action(description="Approve selected conversions", permissions=["review"])
    def approve_selected(self, request, queryset):
        return self._review(
            request,
            queryset,
            form_class=ConversionApproveForm,
            title="Approve conversions",
            submit_label="Approve",
            decide=lambda conversion, data: conversion_approve(
                conversion_id=conversion.pk, actor=request.user, remark=data["remark"], channel="admin"
            ),
            report=self._approve_report,
        )

    @admin.action(description="Reject selected conversions", permissions=["review"])
    def reject_selected(self, request, queryset):
        return self._review(
            request,
            queryset,
            form_class=ConversionRejectForm,
            title="Reject conversions",
            submit_label="Reject",
            decide=lambda conversion, data: conversion_reject(
                conversion_id=conversion.pk,
                actor=request.user,
                reason=data["reason"],
                remark=data["remark"],
                channel="admin",
            ),
            report=self._reject_report,
        )

    def _review(self, request, queryset, *, form_class, title, submit_label, decide, report):
        """Show the confirmation form; once it is submitted and valid, decide each conversion and report."""
        conversions = list(queryset.select_related("offer", "partner__user"))
        if "confirm" in request.POST:
            form = form_class(request.POST)
            if form.is_valid():
                outcome = ReviewOutcome()
                for conversion in conversions:
                    # Each conversion is its own transaction in the service: one refusal stops no other.
                    try:
                        decided = decide(conversion, form.cleaned_data)
                    except ConversionTransitionNotAllowed as error:
                        outcome.refused.append(f"{conversion.external_id} ({error})")
                        continue
                    if decided.status == conversion.status:
                        outcome.unchanged.append(decided)
                    else:
                        outcome.changed.setdefault(decided.status, []).append(decided)
                report(request, outcome)
                return None  # back to the change list, which shows the messages
        else:
            form = form_class()
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "subtitle": None,
            "opts": self.opts,
            "form": form,
            "conversions": conversions,
            "action": request.POST.get("action", ""),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "submit_label": submit_label,
            "media": self.media + form.media,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, REVIEW_TEMPLATE, context)

    def _approve_report(self, request, outcome: ReviewOutcome) -> None:
        approved = outcome.changed.get(Conversion.Status.ACCEPTED, [])
        no_rule = outcome.changed.get(Conversion.Status.REJECTED, [])
        messages.success(request, f"Approved {len(approved)} conversion(s).")
        if no_rule:
            messages.warning(
                request,
                f"Rejected {len(no_rule)} instead, because no reward rule of the offer applies: "
                + ", ".join(c.external_id for c in no_rule),
            )
        if outcome.unchanged:
            messages.info(request, f"{len(outcome.unchanged)} were already accepted and left as they were.")
        if outcome.refused:
            messages.error(request, f"Could not approve {len(outcome.refused)}: " + "; ".join(outcome.refused))

    def _reject_report(self, request, outcome: ReviewOutcome) -> None:
        rejected = outcome.changed.get(Conversion.Status.REJECTED, [])
        messages.success(request, f"Rejected {len(rejected)} conversion(s); their rewards, if any, are reversed.")
        if outcome.unchanged:
            messages.info(request, f"{len(outcome.unchanged)} were already rejected and left as they were.")
        if outcome.refused:
            messages.error(request, f"Could not reject {len(outcome.refused)}: " + "; ".join(outcome.refused))


@admin.register(StatusChange)
class StatusChangeAdmin(ReadOnlyAdmin):
    """The audit trail across conversions: who changed what, when, by which channel."""

    list_display = ("created_at", "conversion", "from_status", "to_status", "reason", "actor", "channel")
    list_filter = ("to_status", "channel", "reason")
    search_fields = ("conversion__external_id", "conversion__id", "actor__username", "remark")
    list_select_related = ("conversion", "actor")
    raw_id_fields = ("conversion", "actor")
    date_hierarchy = "created_at"
    show_full_result_count = False


@admin.register(RequestLogEntry)
class RequestLogEntryAdmin(ReadOnlyAdmin):
    """Refused or duplicate ingestion requests; staff replay one after the cause is fixed."""

    list_display = ("created_at", "advertiser", "channel", "reason", "http_status", "message", "replayed_at")
    list_filter = ("reason", "channel", "advertiser")
    search_fields = ("message", "path")
    list_select_related = ("advertiser",)
    raw_id_fields = ("advertiser", "conversion")
    date_hierarchy = "created_at"
    show_full_result_count = False
    fields = (
        "created_at",
        "advertiser",
        "channel",
        "method",
        "path",
        "reason",
        "message",
        "http_status",
        "payload_pretty",
        "ip",
        "conversion",
        "replayed_at",
        "replay_result",
    )
    readonly_fields = fields
    actions = ("replay_selected",)

    @admin.display(description="payload (secrets redacted)")
    def payload_pretty(self, entry: RequestLogEntry) -> str:
        return json_block(entry.payload)

    @admin.action(
        description="Replay selected requests (as their advertiser, skipping auth and signature)",
        permissions=["review"],
    )
    def replay_selected(self, request, queryset):
        results = [request_log_replay(entry_id=entry.pk) for entry in queryset]
        created = sum(1 for result in results if result.startswith("created"))
        self.message_user(request, f"Replayed {len(results)}: {created} created a conversion. " + "; ".join(results))

    def has_review_permission(self, request) -> bool:
        return request.user.has_perm("conversions.review_conversion")


@admin.register(MissingConversionClaim)
class MissingConversionClaimAdmin(admin.ModelAdmin):
    list_display = ("order_id", "partner", "offer", "purchase_date", "amount", "currency", "status", "clicks_found")
    list_filter = ("status", "offer")
    list_select_related = ("partner__user", "offer")
    search_fields = ("order_id", "partner__referral_code", "partner__user__username")
    raw_id_fields = ("conversion",)
    readonly_fields = (
        "partner",
        "offer",
        "order_id",
        "purchase_date",
        "amount",
        "currency",
        "sub1",
        "remarks",
        "status",
        "evidence_shown",
        "conversion",
        "reviewed_by",
        "reviewed_at",
        "created_at",
    )
    fields = (*readonly_fields[:9], "decision_reason", *readonly_fields[9:])
    exclude = ("evidence",)
    actions = ("start_review", "approve", "decline")

    @admin.display(description="clicks found")
    def clicks_found(self, claim):
        return claim.evidence.get("clicks_found", 0)

    @admin.display(description="evidence (automatic matching)")
    def evidence_shown(self, claim):
        return format_html("<pre>{}</pre>", json.dumps(claim.evidence, indent=2))

    def has_add_permission(self, request):
        return False

    def _each(self, request, queryset, action, verb):
        done = 0
        for claim in queryset:
            try:
                action(claim)
                done += 1
            except DomainError as error:
                self.message_user(request, f"{claim.order_id}: {error.message}", messages.ERROR)
        if done:
            self.message_user(request, f"{done} claim(s) {verb}.", messages.SUCCESS)

    @admin.action(description="Start review")
    def start_review(self, request, queryset):
        self._each(request, queryset, lambda c: claim_review_start(claim_id=c.pk, actor=request.user), "under review")

    @admin.action(description="Approve: record the conversion through the normal pipeline")
    def approve(self, request, queryset):
        self._each(request, queryset, lambda c: claim_approve(claim_id=c.pk, actor=request.user), "approved")

    @admin.action(description="Decline, with the decision reason entered on each claim")
    def decline(self, request, queryset):
        self._each(
            request,
            queryset,
            lambda c: claim_decline(claim_id=c.pk, reason=c.decision_reason, actor=request.user),
            "declined",
        )


@admin.register(PartnerPostback)
class PartnerPostbackAdmin(admin.ModelAdmin):
    list_display = ("partner", "url", "is_active", "consecutive_failures", "disabled_at")
    list_filter = ("is_active",)
    list_select_related = ("partner__user",)
    search_fields = ("url", "partner__referral_code")
    readonly_fields = ("consecutive_failures", "disabled_at", "disabled_reason", "created_at")
    exclude = ("secret", "previous_secret")


@admin.register(PostbackDelivery)
class PostbackDeliveryAdmin(admin.ModelAdmin):
    list_display = ("created_at", "postback", "event", "status_code", "latency_ms", "ok", "error")
    list_filter = ("ok", "event")
    list_select_related = ("postback__partner__user",)
    raw_id_fields = ("postback", "dispatch")

    def has_change_permission(self, request, obj=None):
        return False


# The review desk (suspicious queue, fraud settings, partner suspension) builds on the admins above.
from conversions.review import fraud_admin as _fraud_admin  # noqa: E402, F401
