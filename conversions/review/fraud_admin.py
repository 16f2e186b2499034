"""The review desk: the suspicious queue, fraud detail on every conversion, per-offer fraud
settings with re-screening, and partner suspension with the partner's fraud history.

Registered by conversions/apps.py, like every admin of the app. The approve and reject actions are
ConversionAdmin's own (a confirmation page, a required reason to reject, one service
call per conversion). Offer and Partner screens are the referrals app's admins,
extended here, because referrals must not import conversions.
"""

from collections import Counter

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import Count
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from conversions.fraud.checks import CHECKS
from conversions.fraud.screening import fraud_settings_for
from conversions.models import Conversion, FraudSetting, SuspiciousConversion
from conversions.processing.rescreen import conversions_rescreen
from conversions.review.admin import ConversionAdmin, StatusChangeInline
from referrals.admin import OfferAdmin, PartnerAdmin
from referrals.admin_read_only import json_block
from referrals.models import Offer, Partner
from referrals.services import partner_reinstate, partner_suspend
from rewards.models import Reward

SUSPEND_TEMPLATE = "admin/referrals/partner_suspend.html"


def ctit_text(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    sign, seconds = ("-" if seconds < 0 else ""), abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{sign}{seconds / size:.1f} {unit}"
    return f"{sign}{seconds:.0f} s"


def conversion_ctit_seconds(conversion: Conversion) -> float | None:
    if not conversion.click_id:
        return None
    return (conversion.occurred_at - conversion.click.created_at).total_seconds()


class HistoryInline(StatusChangeInline):
    # Whoever may see a conversion sees its history: reviewers are not given the audit model's own permission.
    def has_view_permission(self, request, obj=None) -> bool:
        user = request.user
        return user.has_perm("conversions.view_conversion") or user.has_perm("conversions.review_conversion")


class FraudDetailMixin:
    """Fraud columns and the screening section of a conversion's page."""

    inlines = (HistoryInline,)

    fraud_fieldsets = (
        ("Fraud screening", {"fields": ("fraud_score", "signals_table", "screened_at")}),
        ("Click and conversion side by side", {"fields": ("side_by_side",)}),
    )

    def get_fieldsets(self, request, obj=None):
        fieldsets = []
        for title, options in super().get_fieldsets(request, obj):
            if title == "Attribution":
                # The attribution explains who earns it; the reward's explanation says what they earn.
                title, options = "Attribution and reward", {"fields": (*options["fields"], "reward_explained")}
            fieldsets.append((title, options))
        return (*self.fraud_fieldsets, *fieldsets)

    def get_readonly_fields(self, request, obj=None):
        extra = [name for _title, options in self.fraud_fieldsets for name in options["fields"]]
        extra.append("reward_explained")
        return [*super().get_readonly_fields(request, obj), *extra]

    @admin.display(description="signals")
    def signal_codes(self, conversion: Conversion) -> str:
        signals = conversion.fraud_signals or []
        return ", ".join(f"{signal['code']} ({signal['score']})" for signal in signals) or "-"

    @admin.display(description="CTIT")
    def ctit(self, conversion: Conversion) -> str:
        return ctit_text(conversion_ctit_seconds(conversion))

    @admin.display(description="countries (click → conversion)")
    def countries(self, conversion: Conversion) -> str:
        click_country = conversion.click.country if conversion.click_id else ""
        conversion_country = conversion.country if conversion.ip_from_visitor else ""
        text = f"{click_country or '?'} → {conversion_country or '?'}"
        if click_country and conversion_country and click_country != conversion_country:
            return format_html("<strong>{}</strong>", text)
        return text

    @admin.display(description="amount", ordering="amount")
    def amount_display(self, conversion: Conversion) -> str:
        return f"{conversion.amount.normalize():f} {conversion.currency}"

    @admin.display(description="signals")
    def signals_table(self, conversion: Conversion) -> str:
        signals = conversion.fraud_signals or []
        if not signals:
            return "No signals." if conversion.screened_at else "Not screened yet."
        rows = format_html_join(
            "",
            "<tr><td><strong>{}</strong><br>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    signal["code"],
                    CHECKS[signal["code"]].title if signal["code"] in CHECKS else "",
                    signal["score"],
                    signal.get("action", ""),
                    json_block(signal.get("evidence", {})),
                )
                for signal in signals
            ),
        )
        return format_html(
            "<table><thead><tr><th>check</th><th>score</th><th>action</th><th>evidence</th></tr></thead>"
            "<tbody>{}</tbody></table>",
            rows,
        )

    @admin.display(description="metadata")
    def side_by_side(self, conversion: Conversion) -> str:
        click = conversion.click if conversion.click_id else None
        server = " (the reporting server's)"
        rows = [
            ("time", click.created_at if click else "-", conversion.occurred_at),
            ("CTIT", "", ctit_text(conversion_ctit_seconds(conversion))),
            (
                "IP",
                click.ip if click else "-",
                f"{conversion.ip or '-'}{'' if conversion.ip_from_visitor else server}",
            ),
            (
                "country",
                click.country if click else "-",
                f"{conversion.country or '-'}{'' if conversion.ip_from_visitor else server}",
            ),
            ("device", click.device if click else "-", conversion.device),
            ("browser", click.browser if click else "-", conversion.browser),
            ("OS", click.os if click else "-", conversion.os),
            ("bot", click.is_bot if click else "-", conversion.is_bot),
            (
                "user agent",
                click.user_agent if click else "-",
                f"{conversion.user_agent or '-'}{'' if conversion.user_agent_from_visitor else server}",
            ),
            (
                "accept-language",
                click.accept_language if click else "-",
                (conversion.headers or {}).get("accept-language", ""),
            ),
            ("referer", click.referer if click else "-", (conversion.headers or {}).get("referer", "")),
            ("unique click", click.is_unique if click else "-", ""),
            (
                "sub ids",
                ", ".join(filter(None, [getattr(click, f"sub{i}") for i in range(1, 6)])) if click else "-",
                "",
            ),
        ]
        body = format_html_join("", "<tr><th>{}</th><td>{}</td><td>{}</td></tr>", rows)
        return format_html(
            "<table><thead><tr><th></th><th>click {}</th><th>conversion ({})</th></tr></thead>"
            "<tbody>{}</tbody></table>",
            click.click_id if click else "(none)",
            conversion.channel,
            body,
        )

    # Not `reward_explanation`: that is a Conversion field, and the admin would show the field instead.
    @admin.display(description="reward explanation")
    def reward_explained(self, conversion: Conversion) -> str:
        reward = Reward.objects.filter(conversion_id=conversion.pk).first()
        if reward is not None:
            return json_block(reward.explanation)
        if conversion.status == Conversion.Status.SUSPICIOUS:
            return "No reward yet: screening held it before the reward rules ran. Approving runs them once."
        return json_block(conversion.reward_explanation) if conversion.reward_explanation else "No reward."


class SuspiciousConversionAdmin(FraudDetailMixin, ConversionAdmin):
    """The queue staff work: held conversions, highest score first, with ConversionAdmin's review actions."""

    list_display = (
        "created_at",
        "external_id",
        "fraud_score",
        "signal_codes",
        "partner",
        "offer",
        "amount_display",
        "ctit",
        "countries",
        "status_reason",
    )
    list_display_links = ("created_at", "external_id")
    list_filter = ("status_reason", "offer", "channel")
    list_select_related = ("offer", "partner__user", "click")
    ordering = ("-fraud_score", "created_at")
    search_fields = ("external_id", "id", "click__click_id", "partner__referral_code", "partner__user__username")
    date_hierarchy = None

    def get_queryset(self, request):
        return super().get_queryset(request).filter(status=Conversion.Status.SUSPICIOUS)

    # The proxy's own view permission is not what staff are given: the conversion's are.
    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("conversions.view_conversion") or self.has_review_permission(request)

    def has_module_permission(self, request) -> bool:
        return self.has_view_permission(request)


class ConversionFraudAdmin(FraudDetailMixin, ConversionAdmin):
    """Every conversion, with its fraud score and signals."""

    list_display = (*ConversionAdmin.list_display, "fraud_score")
    list_select_related = ("offer", "partner__user", "click")


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


def _rescreen_report(modeladmin, request, offer_ids: list[int]) -> None:
    outcome = conversions_rescreen(offer_ids=offer_ids)
    total = sum(outcome.values())
    detail = ", ".join(f"{word}: {count}" for word, count in sorted(outcome.items())) or "nothing to do"
    modeladmin.message_user(request, f"Re-screened {total} pending or suspicious conversion(s): {detail}.")


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
        _rescreen_report(self, request, sorted(set(queryset.values_list("offer_id", flat=True))))

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        messages.info(request, "Saved. Run “Re-screen” on the setting or its offer to apply it to waiting conversions.")


class OfferFraudAdmin(OfferAdmin):
    inlines = (*OfferAdmin.inlines, FraudSettingInline)
    actions = (*(OfferAdmin.actions or ()), "rescreen_conversions")
    readonly_fields = (*OfferAdmin.readonly_fields, "fraud_checks_in_effect")

    @admin.action(description="Re-screen pending and suspicious conversions", permissions=["change"])
    def rescreen_conversions(self, request, queryset):
        _rescreen_report(self, request, list(queryset.values_list("pk", flat=True)))

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
        return format_html(
            "<table><thead><tr><th>check</th><th>enabled</th><th>threshold</th><th>action</th><th>from</th></tr>"
            "</thead><tbody>{}</tbody></table>",
            format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", rows),
        )


class PartnerSuspendForm(forms.Form):
    reason = forms.CharField(
        max_length=500, widget=forms.Textarea(attrs={"rows": 3, "cols": 60}), help_text="Required. Shown to staff."
    )


class PartnerFraudAdmin(PartnerAdmin):
    readonly_fields = (
        *PartnerAdmin.readonly_fields,
        "status",
        "suspended_reason",
        "suspended_at",
        "last_login_ip",
        "fraud_history",
    )
    actions = (*(PartnerAdmin.actions or ()), "suspend_partners", "reinstate_partners")

    @admin.display(description="fraud history")
    def fraud_history(self, partner: Partner) -> str:
        if partner.pk is None:
            return "-"
        by_status = dict(
            Conversion.objects.filter(partner=partner).values_list("status").annotate(n=Count("id")).order_by()
        )
        by_signal = Counter(
            signal["code"]
            for signals in Conversion.objects.filter(partner=partner)
            .exclude(fraud_signals=[])
            .order_by("-created_at")
            .values_list("fraud_signals", flat=True)[:5000]
            for signal in signals or []
        )
        queue = reverse("admin:conversions_suspiciousconversion_changelist") + f"?partner__id__exact={partner.pk}"
        everything = reverse("admin:conversions_conversion_changelist") + f"?partner__id__exact={partner.pk}"
        return format_html(
            "<p>Conversions by status: {}</p><p>Fraud signals by check: {}</p>"
            '<p><a href="{}">{} suspicious conversion(s) waiting for review</a> · <a href="{}">all conversions</a></p>',
            ", ".join(f"{status} {count}" for status, count in sorted(by_status.items())) or "none",
            ", ".join(f"{code} {count}" for code, count in by_signal.most_common()) or "none",
            queue,
            by_status.get(Conversion.Status.SUSPICIOUS, 0),
            everything,
        )

    @admin.action(description="Suspend selected partners (new conversions are held for review)", permissions=["change"])
    def suspend_partners(self, request, queryset):
        partners = list(queryset.select_related("user"))
        if "confirm" in request.POST:
            form = PartnerSuspendForm(request.POST)
            if form.is_valid():
                suspended = [p for p in partners if partner_suspend(partner=p, reason=form.cleaned_data["reason"])]
                for partner in suspended:
                    self.log_change(request, partner, f"Suspended: {form.cleaned_data['reason']}")
                self.message_user(request, f"Suspended {len(suspended)} partner(s).")
                if len(suspended) < len(partners):
                    messages.info(request, f"{len(partners) - len(suspended)} were already suspended.")
                return None
        else:
            form = PartnerSuspendForm()
        context = {
            **self.admin_site.each_context(request),
            "title": "Suspend partners",
            "opts": self.opts,
            "form": form,
            "partners": partners,
            "action": request.POST.get("action", ""),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, SUSPEND_TEMPLATE, context)

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
for model, model_admin in ((Conversion, ConversionFraudAdmin), (Offer, OfferFraudAdmin), (Partner, PartnerFraudAdmin)):
    admin.site.unregister(model)
    admin.site.register(model, model_admin)
