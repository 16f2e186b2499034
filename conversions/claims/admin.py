"""Staff screen of missing-conversion claims: review, approve (records the conversion), decline."""

import json

from django.contrib import admin, messages
from django.utils.html import format_html

from conversions.claims.services import claim_approve, claim_decline, claim_review_start
from conversions.models import MissingConversionClaim
from core.errors import DomainError
from referrals.admin_read_only import NoAdd, admin_each


@admin.register(MissingConversionClaim)
class MissingConversionClaimAdmin(NoAdd, admin.ModelAdmin):
    list_display = ("order_id", "partner", "offer", "purchase_date", "amount", "currency", "status", "clicks_found")
    list_filter = ("status", "offer")
    list_select_related = ("partner__user", "offer")
    search_fields = ("order_id", "partner__referral_code", "partner__user__username")
    raw_id_fields = ("conversion",)
    # Every field in the model's order, the evidence formatted; staff write only the decision reason.
    fields = [field.name for field in MissingConversionClaim._meta.fields if field.name != "id"]
    fields[fields.index("evidence")] = "evidence_shown"
    readonly_fields = [name for name in fields if name != "decision_reason"]
    actions = ("start_review", "approve", "decline")

    @admin.display(description="clicks found")
    def clicks_found(self, claim):
        return claim.evidence.get("clicks_found", 0)

    @admin.display(description="evidence (automatic matching)")
    def evidence_shown(self, claim):
        return format_html("<pre>{}</pre>", json.dumps(claim.evidence, indent=2))

    def _each(self, request, queryset, action, verb):
        if done := admin_each(self, request, queryset, action, refusal=DomainError, label=lambda c: c.order_id):
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
