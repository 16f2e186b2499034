"""Admin for exchange rates, limits' counters and payouts (the reward rule and ledger admin is rewards/admin.py).

Actions call services and say what they did; money and statuses are read-only.
"""

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from referrals.models import CURRENCY_CHOICES
from rewards.models import ExchangeRate, PayoutBatch, PayoutItem, PayoutProfile, SpendCounter, SubscriptionInvoices
from rewards.payouts import payout_batch_create, payout_batch_csv, payout_batch_mark_paid
from rewards.rates import exchange_rate_set


@admin.register(ExchangeRate)
class ExchangeRateAdmin(admin.ModelAdmin):
    list_display = ["date", "base", "quote", "rate"]
    list_filter = ["base", "quote"]
    date_hierarchy = "date"
    ordering = ["-date", "base", "quote"]

    def save_model(self, request, obj, form, change):
        # Through the service, so conversions waiting for this rate are processed.
        saved = exchange_rate_set(base=obj.base, quote=obj.quote, day=obj.date, rate=obj.rate)
        obj.pk = saved.pk


@admin.register(SpendCounter)
class SpendCounterAdmin(admin.ModelAdmin):
    list_display = ["rule", "partner", "period_start", "spent"]
    list_select_related = ["rule__offer", "partner__user"]
    raw_id_fields = ["rule", "partner"]
    search_fields = ["rule__name", "partner__referral_code"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(SubscriptionInvoices)
class SubscriptionInvoicesAdmin(admin.ModelAdmin):
    list_display = ["subscription_id", "offer", "invoices_seen", "first_invoice_at"]
    list_select_related = ["offer"]
    search_fields = ["subscription_id"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(PayoutProfile)
class PayoutProfileAdmin(admin.ModelAdmin):
    list_display = ["partner", "method", "minimum_payout"]
    list_filter = ["method"]
    list_select_related = ["partner__user"]
    raw_id_fields = ["partner"]
    search_fields = ["partner__referral_code", "partner__user__username", "paypal_email"]


class PayoutItemInline(admin.TabularInline):
    model = PayoutItem
    fields = ["partner", "gross", "clawback", "amount", "currency"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class PayoutBatchCreateForm(forms.Form):
    currency = forms.ChoiceField(choices=CURRENCY_CHOICES, initial="USD")
    period_end = forms.DateField(help_text="Rewards approved up to the end of this day (UTC).")


@admin.register(PayoutBatch)
class PayoutBatchAdmin(admin.ModelAdmin):
    list_display = ["pk", "currency", "period_end", "status", "created_at", "paid_at"]
    list_filter = ["status", "currency"]
    readonly_fields = ["currency", "period_end", "status", "created_by", "created_at", "paid_at"]
    inlines = [PayoutItemInline]
    actions = ["mark_paid"]
    change_form_template = "admin/rewards/payoutbatch/change_form.html"
    change_list_template = "admin/rewards/payoutbatch/change_list.html"

    def has_add_permission(self, request):
        return False  # batches are made by the "Create a payout batch" page, which calls the service

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        return [
            path("create/", self.admin_site.admin_view(self.create_view), name="rewards_payoutbatch_create"),
            path("<int:batch_id>/csv/", self.admin_site.admin_view(self.csv_view), name="rewards_payoutbatch_csv"),
            *super().get_urls(),
        ]

    def create_view(self, request):
        if not self.has_view_permission(request) or not request.user.has_perm("rewards.change_payoutbatch"):
            return HttpResponseRedirect(reverse("admin:index"))
        form = PayoutBatchCreateForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            batch = payout_batch_create(
                currency=form.cleaned_data["currency"],
                period_end=form.cleaned_data["period_end"],
                created_by=request.user,
                now=timezone.now(),
            )
            count = batch.items.count()
            self.message_user(
                request,
                f"Batch {batch.pk}: {count} partner(s) at or above their minimum payout. "
                "Download the CSV, pay it, then mark the batch paid.",
                messages.SUCCESS,
            )
            return HttpResponseRedirect(reverse("admin:rewards_payoutbatch_change", args=[batch.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": "Create a payout batch",
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/rewards/payoutbatch/create.html", context)

    def csv_view(self, request, batch_id: int):
        batch = PayoutBatch.objects.filter(pk=batch_id).first()
        if batch is None or not self.has_view_permission(request, batch):
            return HttpResponseRedirect(reverse("admin:rewards_payoutbatch_changelist"))
        response = HttpResponse(payout_batch_csv(batch), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="payout-batch-{batch.pk}.csv"'
        return response

    @admin.action(description="Mark paid (posts the payouts to the ledger)")
    def mark_paid(self, request, queryset):
        paid = 0
        for batch in queryset.order_by("pk"):
            if batch.status != PayoutBatch.Status.PAID:
                payout_batch_mark_paid(batch_id=batch.pk, now=timezone.now())
                paid += 1
        self.message_user(request, f"{paid} batch(es) marked paid; {queryset.count() - paid} already were.")
