"""Staff screens for conversions: read-only records, changed only by the review actions (one service call each)."""

from collections import defaultdict

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from conversions.errors import ConversionTransitionNotAllowed
from conversions.lifecycle import conversion_approve, conversion_reject
from conversions.models import Conversion, StatusChange
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
REMARK_WIDGET = forms.Textarea(attrs={"rows": 3, "cols": 60})
PAYLOAD = ("amount", "currency", "product_id", "category", "quantity", "plan", "subscription_id", "source")


def may_see_conversions(user) -> bool:
    return user.has_perm("conversions.view_conversion") or user.has_perm("conversions.review_conversion")


def confirmed_action(modeladmin, request, *, form_class, template, apply, **context):
    """Ask on a confirmation page for the action's form; once it is submitted valid, `apply(cleaned_data)`."""
    form = form_class(request.POST if "confirm" in request.POST else None)
    if form.is_valid():
        apply(form.cleaned_data)
        return None  # back to the change list, which shows the messages
    request.current_app = modeladmin.admin_site.name
    context = {
        **modeladmin.admin_site.each_context(request),
        "opts": modeladmin.opts,
        "form": form,
        "action": request.POST.get("action", ""),
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "media": modeladmin.media + form.media,
        **context,
    }
    return TemplateResponse(request, template, context)


class ConversionApproveForm(forms.Form):
    remark = forms.CharField(
        max_length=500, required=False, widget=REMARK_WIDGET, help_text="Optional. What the publisher is told."
    )


class ConversionRejectForm(forms.Form):
    reason = forms.ChoiceField(choices=REJECT_REASONS, initial="rejected_by_staff")
    remark = forms.CharField(max_length=500, widget=REMARK_WIDGET, help_text="Required. What the publisher is told.")


class StatusChangeInline(ReadOnlyInline):
    model = StatusChange
    fields = ("created_at", "actor", "channel", "from_status", "to_status", "reason", "remark")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor")


def _json_display(name: str):
    return admin.display(description=name)(lambda self, conversion: json_block(getattr(conversion, name)))


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
        ("Payload", {"fields": (*PAYLOAD, "meta_pretty", "occurred_at", "created_at")}),
        ("Attribution", {"fields": ("attribution_pretty",)}),
        (
            "Fraud metadata",
            {"fields": ("ip", "country", "device", "browser", "os", "is_bot", "user_agent", "headers_pretty")},
        ),
    )
    readonly_fields = [name for _title, options in fieldsets for name in options["fields"]]
    inlines = (StatusChangeInline,)
    actions = ("approve_selected", "reject_selected")
    meta_pretty = _json_display("meta")
    attribution_pretty = _json_display("attribution")
    headers_pretty = _json_display("headers")

    def has_review_permission(self, request) -> bool:
        return request.user.has_perm("conversions.review_conversion")

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
        return self._review(request, queryset, "Approve", ConversionApproveForm, conversion_approve)

    @admin.action(description="Reject selected conversions", permissions=["review"])
    def reject_selected(self, request, queryset):
        return self._review(request, queryset, "Reject", ConversionRejectForm, conversion_reject)

    def _review(self, request, queryset, verb: str, form_class, decide):
        conversions = list(queryset.select_related("offer", "partner__user"))

        def apply(data: dict) -> None:
            changed, unchanged, refused = defaultdict(list), 0, []
            for conversion in conversions:
                # Each conversion is its own transaction in the service: one refusal stops no other.
                try:
                    decided = decide(conversion_id=conversion.pk, actor=request.user, **data)
                except ConversionTransitionNotAllowed as error:
                    refused.append(f"{conversion.external_id} ({error})")
                    continue
                if decided.status == conversion.status:
                    unchanged += 1
                else:
                    changed[decided.status].append(decided.external_id)
            rejected = changed[Conversion.Status.REJECTED]
            if verb == "Approve":
                messages.success(request, f"Approved {len(changed[Conversion.Status.ACCEPTED])} conversion(s).")
                if rejected:
                    messages.warning(
                        request,
                        f"Rejected {len(rejected)} instead, because no reward rule of the offer applies: "
                        + ", ".join(rejected),
                    )
            else:
                messages.success(
                    request, f"Rejected {len(rejected)} conversion(s); their rewards, if any, are reversed."
                )
            if unchanged:
                done = "accepted" if verb == "Approve" else "rejected"
                messages.info(request, f"{unchanged} were already {done} and left as they were.")
            if refused:
                messages.error(request, f"Could not {verb.lower()} {len(refused)}: " + "; ".join(refused))

        return confirmed_action(
            self,
            request,
            form_class=form_class,
            template=REVIEW_TEMPLATE,
            apply=apply,
            title=f"{verb} conversions",
            submit_label=verb,
            conversions=conversions,
        )


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
