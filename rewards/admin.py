"""Staff screens for reward rules, rates, rewards, the ledger and payouts; records that only services write
(rewards, the ledger, the limits' counters) are read-only."""

from django import forms
from django.contrib import admin, messages
from django.db.models import Sum
from django.http import HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from referrals.admin_read_only import NoAdd, NoChange, NoDelete, ReadOnlyAdmin, ReadOnlyInline, json_block
from referrals.models import CURRENCY_CHOICES
from rewards.conditions_form import ConditionsField
from rewards.models.ledger import Account, Entry, Transaction
from rewards.models.limits import ExchangeRate, SpendCounter, SubscriptionInvoices
from rewards.models.payouts import PayoutBatch, PayoutItem, PayoutProfile
from rewards.models.reward import Reward
from rewards.models.rules import RewardRule
from rewards.payouts import payout_batch_create, payout_batch_csv, payout_batch_mark_paid
from rewards.rates import exchange_rate_set

# What a rule pays and how it ranks: edited in the form, shown in the list.
RULE_TERMS = ("reward_type", "value", "currency", "max_reward", "priority", "is_active")


class RewardRuleForm(forms.ModelForm):
    """Every field staff set on a rule; the rule simulation uses the same form for its draft."""

    class Meta:
        model = RewardRule
        fields = (
            "offer",
            "partner",
            "name",
            "conversion_type",
            "min_amount",
            "max_amount",
            "conditions",
            *RULE_TERMS,
            "active_from",
            "active_until",
            "spend_limit",
            "spend_limit_period",
            "recurring",
            "recurring_count",
        )

    conditions = ConditionsField()  # rows, not JSON; RewardRule.clean checks them as the engine reads them


@admin.register(RewardRule)
class RewardRuleAdmin(admin.ModelAdmin):
    form = RewardRuleForm
    list_display = ("name", "offer", "partner", "conversion_type", *RULE_TERMS)
    list_filter = ("is_active", "reward_type", "conversion_type", "currency", "offer")
    search_fields = ("name", "offer__public_id", "offer__name", "partner__referral_code")
    list_select_related = ("offer", "partner__user")
    autocomplete_fields = ("offer", "partner")
    readonly_fields = ("created_at",)


class TransactionInline(ReadOnlyInline):
    model = Transaction
    fields = readonly_fields = ("kind", "memo", "created_at")
    show_change_link = True


@admin.register(Reward)
class RewardAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "conversion_id", "partner", "offer", "rule", "amount", "currency", "status")
    list_filter = ("status", "currency", "offer")
    search_fields = ("conversion__id", "partner__referral_code", "offer__public_id")
    list_select_related = ("partner__user", "offer", "rule__offer")
    raw_id_fields = ("partner", "offer", "rule")
    date_hierarchy = "created_at"
    fields = readonly_fields = (*list_display[1:], "created_at", "explanation_pretty")
    inlines = (TransactionInline,)

    @admin.display(description="explanation")
    def explanation_pretty(self, reward: Reward) -> str:
        return json_block(reward.explanation)


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = ("kind", "advertiser", "partner", "currency", "balance")
    list_filter = ("kind", "currency")
    search_fields = ("advertiser__name", "partner__referral_code", "partner__user__username")
    list_select_related = ("advertiser", "partner__user")
    raw_id_fields = ("advertiser", "partner")
    fields = readonly_fields = ("kind", "advertiser", "partner", "currency", "balance", "entries_link")

    def get_queryset(self, request):
        # A balance is the sum of the account's entries, in the query that reads the accounts (list or page).
        return super().get_queryset(request).annotate(_balance=Sum("entries__amount"))

    @admin.display(ordering="_balance")
    def balance(self, account: Account):
        return account._balance or 0

    @admin.display(description="entries")
    def entries_link(self, account: Account) -> str:
        url = reverse("admin:rewards_entry_changelist") + f"?account__id__exact={account.pk}"
        return format_html('<a href="{}">{} entries</a>', url, account.entries.count())


class EntryInline(ReadOnlyInline):
    model = Entry
    fields = readonly_fields = ("account", "amount", "currency")


@admin.register(Transaction)
class TransactionAdmin(ReadOnlyAdmin):
    list_display = ("id", "kind", "reward", "memo", "created_at")
    list_filter = ("kind",)
    search_fields = ("=id", "memo", "reward__conversion__id")
    list_select_related = ("reward__partner__user",)
    raw_id_fields = ("reward",)
    date_hierarchy = "created_at"
    fields = readonly_fields = ("kind", "reward", "memo", "created_at")
    inlines = (EntryInline,)


@admin.register(Entry)
class EntryAdmin(ReadOnlyAdmin):
    list_display = ("id", "transaction", "account", "amount", "currency")
    list_filter = ("currency", "account__kind", "transaction__kind")
    search_fields = ("=transaction__id", "transaction__reward__conversion__id")
    list_select_related = ("transaction", "account__advertiser", "account__partner__user")
    raw_id_fields = ("transaction", "account")
    fields = readonly_fields = ("transaction", "account", "amount", "currency")


@admin.register(ExchangeRate)
class ExchangeRateAdmin(admin.ModelAdmin):
    list_display = ["date", "base", "quote", "rate"]
    list_filter = ["base", "quote"]
    date_hierarchy = "date"

    def save_model(self, request, obj, form, change):
        # Through the service, so conversions waiting for this rate are processed.
        obj.pk = exchange_rate_set(base=obj.base, quote=obj.quote, day=obj.date, rate=obj.rate).pk


class CounterAdmin(NoAdd, NoChange, admin.ModelAdmin):
    """The limits' counters: only grants and reversals change them; staff may still delete one."""


@admin.register(SpendCounter)
class SpendCounterAdmin(CounterAdmin):
    list_display = ["rule", "partner", "period_start", "spent"]
    list_select_related = ["rule__offer", "partner__user"]
    raw_id_fields = ["rule", "partner"]
    search_fields = ["rule__name", "partner__referral_code"]


@admin.register(SubscriptionInvoices)
class SubscriptionInvoicesAdmin(CounterAdmin):
    list_display = ["subscription_id", "offer", "invoices_seen", "first_invoice_at"]
    list_select_related = ["offer"]
    search_fields = ["subscription_id"]


@admin.register(PayoutProfile)
class PayoutProfileAdmin(admin.ModelAdmin):
    list_display = ["partner", "method", "minimum_payout"]
    list_filter = ["method"]
    list_select_related = ["partner__user"]
    raw_id_fields = ["partner"]
    search_fields = ["partner__referral_code", "partner__user__username", "paypal_email"]


class PayoutItemInline(ReadOnlyInline):
    model = PayoutItem
    fields = readonly_fields = ["partner", "gross", "clawback", "amount", "currency"]


class PayoutBatchCreateForm(forms.Form):
    currency = forms.ChoiceField(choices=CURRENCY_CHOICES, initial="USD")
    period_end = forms.DateField(help_text="Rewards approved up to the end of this day (UTC).")


@admin.register(PayoutBatch)
class PayoutBatchAdmin(NoAdd, NoDelete, admin.ModelAdmin):
    """Made by the "Create a payout batch" page, which calls the service; its change form and list
    (templates/admin/rewards/payoutbatch/) link the CSV and that page."""

    list_display = ["pk", "currency", "period_end", "status", "created_at", "paid_at"]
    list_filter = ["status", "currency"]
    readonly_fields = ["currency", "period_end", "status", "created_by", "created_at", "paid_at"]
    inlines = [PayoutItemInline]
    actions = ["mark_paid"]

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
            batch = payout_batch_create(**form.cleaned_data, created_by=request.user, now=timezone.now())
            self.message_user(
                request,
                f"Batch {batch.pk}: {batch.items.count()} partner(s) at or above their minimum payout. "
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
