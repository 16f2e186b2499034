"""The review desk: the suspicious queue, per-offer fraud settings with re-screening, and partner suspension.
Offer and Partner screens extend the referrals app's admins here, because referrals must not import conversions."""

from collections import Counter

from django import forms
from django.contrib import admin, messages
from django.db.models import Count
from django.urls import reverse
from django.utils.html import format_html

from conversions.fraud.checks import CHECKS
from conversions.fraud.screening import fraud_settings_for
from conversions.models import Conversion, FraudSetting, SuspiciousConversion
from conversions.processing.rescreen import conversions_rescreen
from conversions.review.admin import REMARK_WIDGET, ConversionAdmin, confirmed_action, html_table, may_see_conversions
from referrals.admin import OfferAdmin, PartnerAdmin
from referrals.models import Offer, Partner
from referrals.services import partner_reinstate, partner_suspend

SUSPEND_TEMPLATE = "admin/referrals/partner_suspend.html"


class SuspiciousConversionAdmin(ConversionAdmin):
    """The queue staff work: held conversions, highest score first, with ConversionAdmin's review actions."""

    list_display = ("created_at", "external_id", "fraud_score", "signal_codes", "partner", "offer", "amount_display")
    list_display += ("ctit", "countries", "status_reason")
    list_display_links = ("created_at", "external_id")
    list_filter = ("status_reason", "offer", "channel")
    ordering = ("-fraud_score", "created_at")
    search_fields = ("external_id", "id", "click__click_id", "partner__referral_code", "partner__user__username")
    date_hierarchy = None

    def get_queryset(self, request):
        return super().get_queryset(request).filter(status=Conversion.Status.SUSPICIOUS)

    # The proxy's own view permission is not what staff are given: the conversion's are.
    def has_view_permission(self, request, obj=None) -> bool:
        return may_see_conversions(request.user)


class FraudSettingForm(forms.ModelForm):
    class Meta:
        model = FraudSetting
        fields = ("offer", "check_code", "enabled", "threshold", "action")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        help_lines = [
            f"{check.code}: default {check.default_threshold!r}"
            + (f" ({check.threshold_help})" if check.threshold_help else "")
            + ("" if check.default_enabled else ", off by default")
            for check in CHECKS.values()
            if check.configurable
        ]
        self.fields["threshold"].help_text = "Empty: the default. " + "; ".join(help_lines)


class FraudSettingInline(admin.TabularInline):
    model = FraudSetting
    form = FraudSettingForm
    fields = ("check_code", "enabled", "threshold", "action")
    extra = 0


def _rescreen_report(request, offer_ids: list[int]) -> None:
    outcome = conversions_rescreen(offer_ids=offer_ids)
    detail = ", ".join(f"{word}: {count}" for word, count in sorted(outcome.items())) or "nothing to do"
    messages.info(request, f"Re-screened {sum(outcome.values())} pending or suspicious conversion(s): {detail}.")


@admin.register(FraudSetting)
class FraudSettingAdmin(admin.ModelAdmin):
    form = FraudSettingForm
    list_display = ("offer", "check_code", "enabled", "threshold", "action", "updated_at")
    list_filter = ("check_code", "action", "enabled", "offer")
    list_select_related = ("offer",)
    raw_id_fields = ("offer",)
    actions = ("rescreen_offers",)

    @admin.action(description="Re-screen pending and suspicious conversions of these settings' offers")
    def rescreen_offers(self, request, queryset):
        _rescreen_report(request, sorted(set(queryset.values_list("offer_id", flat=True))))

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        messages.info(request, "Saved. Run “Re-screen” on the setting or its offer to apply it to waiting conversions.")


class OfferFraudAdmin(OfferAdmin):
    inlines = (*OfferAdmin.inlines, FraudSettingInline)
    actions = (*(OfferAdmin.actions or ()), "rescreen_conversions")
    readonly_fields = (*OfferAdmin.readonly_fields, "fraud_checks_in_effect")

    @admin.action(description="Re-screen pending and suspicious conversions", permissions=["change"])
    def rescreen_conversions(self, request, queryset):
        _rescreen_report(request, list(queryset.values_list("pk", flat=True)))

    @admin.display(description="fraud checks in effect")
    def fraud_checks_in_effect(self, offer: Offer) -> str:
        if offer.pk is None:
            return "The checks' defaults (docs/fraud.md)."
        rows = (
            (
                code,
                "on" if setting.enabled else "off",
                setting.threshold if setting.threshold is not None else "-",
                setting.action,
                "this offer" if setting.from_row else "default",
            )
            for code, setting in fraud_settings_for(offer.pk).items()
        )
        return html_table(["check", "enabled", "threshold", "action", "from"], rows)


class PartnerSuspendForm(forms.Form):
    reason = forms.CharField(max_length=500, widget=REMARK_WIDGET, help_text="Required. Shown to staff.")


class PartnerFraudAdmin(PartnerAdmin):
    readonly_fields = (*PartnerAdmin.readonly_fields, "status", "suspended_reason", "suspended_at", "last_login_ip")
    readonly_fields += ("fraud_history",)
    actions = (*(PartnerAdmin.actions or ()), "suspend_partners", "reinstate_partners")

    @admin.display(description="fraud history")
    def fraud_history(self, partner: Partner) -> str:
        if partner.pk is None:
            return "-"
        conversions = Conversion.objects.filter(partner=partner)
        by_status = dict(conversions.values_list("status").annotate(n=Count("id")).order_by())
        by_signal = Counter(
            signal["code"]
            for signals in conversions.exclude(fraud_signals=[])
            .order_by("-created_at")
            .values_list("fraud_signals", flat=True)[:5000]
            for signal in signals or []
        )
        query = f"?partner__id__exact={partner.pk}"
        return format_html(
            "<p>Conversions by status: {}</p><p>Fraud signals by check: {}</p>"
            '<p><a href="{}">{} suspicious conversion(s) waiting for review</a> · <a href="{}">all conversions</a></p>',
            ", ".join(f"{status} {count}" for status, count in sorted(by_status.items())) or "none",
            ", ".join(f"{code} {count}" for code, count in by_signal.most_common()) or "none",
            reverse("admin:conversions_suspiciousconversion_changelist") + query,
            by_status.get(Conversion.Status.SUSPICIOUS, 0),
            reverse("admin:conversions_conversion_changelist") + query,
        )

    @admin.action(description="Suspend selected partners (new conversions are held for review)", permissions=["change"])
    def suspend_partners(self, request, queryset):
        partners = list(queryset.select_related("user"))

        def apply(data: dict) -> None:
            suspended = [p for p in partners if partner_suspend(partner=p, reason=data["reason"])]
            for partner in suspended:
                self.log_change(request, partner, f"Suspended: {data['reason']}")
            self.message_user(request, f"Suspended {len(suspended)} partner(s).")
            if len(suspended) < len(partners):
                messages.info(request, f"{len(partners) - len(suspended)} were already suspended.")

        context = {"title": "Suspend partners", "submit_label": "Suspend"}
        return confirmed_action(
            self, request, PartnerSuspendForm, apply, partners, template=SUSPEND_TEMPLATE, **context
        )

    @admin.action(description="Reinstate selected partners", permissions=["change"])
    def reinstate_partners(self, request, queryset):
        reinstated = [p for p in queryset if partner_reinstate(partner=p)]
        for partner in reinstated:
            self.log_change(request, partner, "Reinstated")
        self.message_user(
            request,
            f"Reinstated {len(reinstated)} partner(s). Their held conversions stay in the queue; "
            "re-screen their offers to release those that now pass.",
        )


admin.site.register(SuspiciousConversion, SuspiciousConversionAdmin)
for model, model_admin in ((Offer, OfferFraudAdmin), (Partner, PartnerFraudAdmin)):
    admin.site.unregister(model)
    admin.site.register(model, model_admin)
