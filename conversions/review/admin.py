"""Staff screens for conversions: read-only records, changed only by the review actions.

The actions ask for a remark (and a reason to reject) on a confirmation page,
then call `conversion_approve` / `conversion_reject` once per conversion and
say what happened to each.
"""

from dataclasses import dataclass, field

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from conversions.errors import ConversionTransitionNotAllowed
from conversions.lifecycle import conversion_approve, conversion_reject
from conversions.models import (
    Conversion,
    StatusChange,
)
from core.money import money_quantize
from referrals.admin_read_only import ReadOnlyAdmin, ReadOnlyInline, json_block
from rewards.models import Reward

REVIEW_TEMPLATE = "admin/conversions/conversion_review.html"
REJECT_REASONS = [
    ("rejected_by_staff", "Rejected by staff"),
    ("fraud", "Fraud"),
    ("returned", "Returned or cancelled"),
    ("duplicate", "Duplicate"),
    ("invalid", "Invalid"),
]


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
