"""Staff screens for conversions: read-only records with their fraud screening, changed only by review actions."""

from collections import defaultdict

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from conversions.errors import ConversionTransitionNotAllowed
from conversions.fraud.checks import CHECKS
from conversions.lifecycle import conversion_approve, conversion_reject
from conversions.models import Conversion, StatusChange
from core.money import money_quantize
from referrals.admin_read_only import ReadOnlyAdmin, ReadOnlyInline, json_block
from rewards.selectors import reward_for_conversion

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
FRAUD_METADATA = ("ip", "country", "device", "browser", "os", "is_bot", "user_agent", "headers_pretty")


def may_see_conversions(user) -> bool:
    return user.has_perm("conversions.view_conversion") or user.has_perm("conversions.review_conversion")


def confirmed_action(modeladmin, request, form_class, apply, objects: list, *, template: str, **context):
    """Ask on a confirmation page (extending admin/confirm_action.html) for the action's form about the selected
    `objects`; once it is submitted valid, `apply(cleaned_data)`."""
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
        "objects": objects,
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

    # Whoever may see a conversion sees its history: reviewers are not given the audit model's own permission.
    def has_view_permission(self, request, obj=None) -> bool:
        return may_see_conversions(request.user)


def html_table(header, rows, row_format: str = "") -> str:
    return format_html(
        "<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>",
        format_html_join("", "<th>{}</th>", ((name,) for name in header)),
        format_html_join("", row_format or "<tr>" + "<td>{}</td>" * len(header) + "</tr>", rows),
    )


def _json_display(name: str):
    return admin.display(description=name)(lambda self, conversion: json_block(getattr(conversion, name)))


@admin.register(Conversion)
class ConversionAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "external_id", "offer", "partner", "type", "amount", "currency", "status")
    list_display += ("status_reason", "channel", "fraud_score")
    list_filter = ("status", "type", "channel", "offer")
    search_fields = ("external_id", "id", "click__click_id")
    list_select_related = ("offer", "partner__user", "click")
    raw_id_fields = ("advertiser", "offer", "partner", "click")
    date_hierarchy = "created_at"
    show_full_result_count = False
    fieldsets = (
        ("Fraud screening", {"fields": ("fraud_score", "signals_table", "screened_at")}),
        ("Click and conversion side by side", {"fields": ("side_by_side",)}),
        (None, {"fields": ("id", "external_id", "advertiser", "offer", "partner", "click", "type", "channel")}),
        ("Status", {"fields": ("status", "status_reason", "status_remark", "processed_at", "reward")}),
        ("Payload", {"fields": (*PAYLOAD, "meta_pretty", "occurred_at", "created_at")}),
        # The attribution explains who earns it; the reward's explanation says what they earn.
        ("Attribution and reward", {"fields": ("attribution_pretty", "reward_explained")}),
        ("Fraud metadata", {"fields": FRAUD_METADATA}),
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
        reward = reward_for_conversion(conversion.pk)
        if reward is None:
            return "-"
        url = reverse("admin:rewards_reward_change", args=[reward.pk])
        amount = money_quantize(reward.amount, reward.currency)
        return format_html('<a href="{}">{} {} ({})</a>', url, amount, reward.currency, reward.status)

    @admin.display(description="signals")
    def signal_codes(self, conversion: Conversion) -> str:
        signals = conversion.fraud_signals or []
        return ", ".join(f"{signal['code']} ({signal['score']})" for signal in signals) or "-"

    @admin.display(description="CTIT")
    def ctit(self, conversion: Conversion) -> str:
        """The time from click to conversion, in the largest unit it fills."""
        if not conversion.click_id:
            return "-"
        seconds = (conversion.occurred_at - conversion.click.created_at).total_seconds()
        sign, seconds = ("-" if seconds < 0 else ""), abs(seconds)
        for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
            if seconds >= size:
                return f"{sign}{seconds / size:.1f} {unit}"
        return f"{sign}{seconds:.0f} s"

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
        rows = (
            (
                format_html(
                    "<strong>{}</strong><br>{}", signal["code"], getattr(CHECKS.get(signal["code"]), "title", "")
                ),
                signal["score"],
                signal.get("action", ""),
                json_block(signal.get("evidence", {})),
            )
            for signal in signals
        )
        return html_table(["check", "score", "action", "evidence"], rows)

    @admin.display(description="metadata")
    def side_by_side(self, conversion: Conversion) -> str:
        click = conversion.click if conversion.click_id else None
        headers = conversion.headers or {}
        server = " (the reporting server's)"
        ip_note = "" if conversion.ip_from_visitor else server
        user_agent = f"{conversion.user_agent or '-'}{'' if conversion.user_agent_from_visitor else server}"
        # (label, the click's field, the conversion's value)
        compared = [
            ("time", "created_at", conversion.occurred_at),
            ("IP", "ip", f"{conversion.ip or '-'}{ip_note}"),
            ("country", "country", f"{conversion.country or '-'}{ip_note}"),
            ("device", "device", conversion.device),
            ("browser", "browser", conversion.browser),
            ("OS", "os", conversion.os),
            ("bot", "is_bot", conversion.is_bot),
            ("user agent", "user_agent", user_agent),
            ("accept-language", "accept_language", headers.get("accept-language", "")),
            ("referer", "referer", headers.get("referer", "")),
            ("unique click", "is_unique", ""),
        ]
        rows = [(label, getattr(click, name) if click else "-", value) for label, name, value in compared]
        rows.insert(1, ("CTIT", "", self.ctit(conversion)))
        subs = ", ".join(filter(None, [getattr(click, f"sub{i}") for i in range(1, 6)])) if click else "-"
        rows.append(("sub ids", subs, ""))
        header = ["", f"click {click.click_id if click else '(none)'}", f"conversion ({conversion.channel})"]
        return html_table(header, rows, "<tr><th>{}</th><td>{}</td><td>{}</td></tr>")

    # Not `reward_explanation`: that is a Conversion field, and the admin would show the field instead.
    @admin.display(description="reward explanation")
    def reward_explained(self, conversion: Conversion) -> str:
        reward = reward_for_conversion(conversion.pk)
        if reward is not None:
            return json_block(reward.explanation)
        if conversion.status == Conversion.Status.SUSPICIOUS:
            return "No reward yet: screening held it before the reward rules ran. Approving runs them once."
        return json_block(conversion.reward_explanation) if conversion.reward_explanation else "No reward."

    @admin.action(description="Approve selected conversions", permissions=["review"])
    def approve_selected(self, request, queryset):
        return self._review(request, queryset, "Approve", ConversionApproveForm, conversion_approve)

    @admin.action(description="Reject selected conversions", permissions=["review"])
    def reject_selected(self, request, queryset):
        return self._review(request, queryset, "Reject", ConversionRejectForm, conversion_reject)

    def _review(self, request, queryset, verb: str, form_class, decide):
        conversions = list(queryset.select_related("offer", "partner__user"))

        def apply(data: dict) -> None:
            by_status, refused = defaultdict(list), []  # the external ids by new status; None: unchanged
            for conversion in conversions:
                # Each conversion is its own transaction in the service: one refusal stops no other.
                try:
                    decided = decide(conversion_id=conversion.pk, actor=request.user, **data)
                except ConversionTransitionNotAllowed as error:
                    refused.append(f"{conversion.external_id} ({error})")
                    continue
                by_status[None if decided.status == conversion.status else decided.status].append(decided.external_id)
            rejected, unchanged = by_status[Conversion.Status.REJECTED], len(by_status[None])
            if verb == "Approve":
                messages.success(request, f"Approved {len(by_status[Conversion.Status.ACCEPTED])} conversion(s).")
                if rejected:
                    because = "because no reward rule of the offer applies"
                    messages.warning(request, f"Rejected {len(rejected)} instead, {because}: " + ", ".join(rejected))
            else:
                messages.success(
                    request, f"Rejected {len(rejected)} conversion(s); their rewards, if any, are reversed."
                )
            if unchanged:
                done = "accepted" if verb == "Approve" else "rejected"
                messages.info(request, f"{unchanged} were already {done} and left as they were.")
            if refused:
                messages.error(request, f"Could not {verb.lower()} {len(refused)}: " + "; ".join(refused))

        context = {"title": f"{verb} conversions", "submit_label": verb}
        return confirmed_action(self, request, form_class, apply, conversions, template=REVIEW_TEMPLATE, **context)


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
