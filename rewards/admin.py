"""Staff screens for reward rules, rewards and the ledger.

Rules are configuration and editable. Rewards and the ledger are records: they
change only through the services, and the database refuses to change ledger
rows at all, so here they are read-only.
"""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import Sum
from django.urls import reverse
from django.utils.html import format_html

from referrals.admin_read_only import ReadOnlyAdmin, ReadOnlyInline, json_block
from rewards.engine import FACT_FIELDS, OPERATORS
from rewards.ledger import account_balance
from rewards.models import Account, Entry, Reward, RewardRule, Transaction

CONDITION_KEYS = {"field", "operator", "value"}
LIST_OPERATORS = ("in", "not_in")


def reward_rule_conditions_errors(conditions) -> list[str]:
    """What is wrong with a rule's `conditions`, as the engine reads them; empty when they are fine."""
    if not isinstance(conditions, list):
        return ['Conditions must be a list of {"field", "operator", "value"} objects.']
    errors = []
    for number, condition in enumerate(conditions, start=1):
        if not isinstance(condition, dict):
            errors.append(f'Condition {number} must be an object with "field", "operator" and "value".')
            continue
        if set(condition) != CONDITION_KEYS:
            errors.append(f'Condition {number} must have exactly the keys "field", "operator" and "value".')
            continue
        field, operator, value = condition["field"], condition["operator"], condition["value"]
        if not isinstance(field, str) or not (field in FACT_FIELDS or (field.startswith("meta.") and field != "meta.")):
            errors.append(f"Condition {number}: field {field!r} is not one of {', '.join(FACT_FIELDS)} or meta.<key>.")
        if operator not in OPERATORS:
            errors.append(f"Condition {number}: operator {operator!r} is not one of {', '.join(OPERATORS)}.")
        elif operator in LIST_OPERATORS and not isinstance(value, list):
            errors.append(f"Condition {number}: operator {operator!r} needs a list value.")
    return errors


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
            "reward_type",
            "value",
            "currency",
            "max_reward",
            "priority",
            "is_active",
            "active_from",
            "active_until",
            "spend_limit",
            "spend_limit_period",
            "recurring",
            "recurring_count",
        )

    def clean_conditions(self):
        conditions = self.cleaned_data["conditions"]
        if conditions is None:
            return []
        errors = reward_rule_conditions_errors(conditions)
        if errors:
            raise ValidationError(errors)
        return conditions


@admin.register(RewardRule)
class RewardRuleAdmin(admin.ModelAdmin):
    form = RewardRuleForm
    list_display = (
        "name",
        "offer",
        "partner",
        "conversion_type",
        "reward_type",
        "value",
        "currency",
        "max_reward",
        "priority",
        "is_active",
    )
    list_filter = ("is_active", "reward_type", "conversion_type", "currency", "offer")
    search_fields = ("name", "offer__public_id", "offer__name", "partner__referral_code")
    list_select_related = ("offer", "partner__user")
    raw_id_fields = ("offer", "partner")
    readonly_fields = ("created_at",)


class TransactionInline(ReadOnlyInline):
    model = Transaction
    fields = ("kind", "memo", "created_at")
    readonly_fields = fields
    show_change_link = True


@admin.register(Reward)
class RewardAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "conversion_id", "partner", "offer", "rule", "amount", "currency", "status")
    list_filter = ("status", "currency", "offer")
    search_fields = ("conversion__id", "partner__referral_code", "offer__public_id")
    list_select_related = ("partner__user", "offer", "rule__offer")
    raw_id_fields = ("partner", "offer", "rule")
    date_hierarchy = "created_at"
    fields = (
        "conversion_id",
        "partner",
        "offer",
        "rule",
        "amount",
        "currency",
        "status",
        "created_at",
        "explanation_pretty",
    )
    readonly_fields = fields
    inlines = (TransactionInline,)

    @admin.display(description="explanation")
    def explanation_pretty(self, reward: Reward) -> str:
        return json_block(reward.explanation)


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = ("kind", "advertiser", "partner", "currency", "balance_in_list")
    list_filter = ("kind", "currency")
    search_fields = ("advertiser__name", "partner__referral_code", "partner__user__username")
    list_select_related = ("advertiser", "partner__user")
    raw_id_fields = ("advertiser", "partner")
    fields = ("kind", "advertiser", "partner", "currency", "balance", "entries_link")
    readonly_fields = fields

    def get_queryset(self, request):
        # The list sums all accounts in one query; the detail page asks the ledger.
        return super().get_queryset(request).annotate(_balance=Sum("entries__amount"))

    @admin.display(description="balance", ordering="_balance")
    def balance_in_list(self, account: Account):
        return account._balance or 0

    @admin.display(description="balance")
    def balance(self, account: Account):
        return account_balance(account)

    @admin.display(description="entries")
    def entries_link(self, account: Account) -> str:
        url = reverse("admin:rewards_entry_changelist") + f"?account__id__exact={account.pk}"
        return format_html('<a href="{}">{} entries</a>', url, account.entries.count())


class EntryInline(ReadOnlyInline):
    model = Entry
    fields = ("account", "amount", "currency")
    readonly_fields = fields


@admin.register(Transaction)
class TransactionAdmin(ReadOnlyAdmin):
    list_display = ("id", "kind", "reward", "memo", "created_at")
    list_filter = ("kind",)
    search_fields = ("=id", "memo", "reward__conversion__id")
    list_select_related = ("reward__partner__user",)
    raw_id_fields = ("reward",)
    date_hierarchy = "created_at"
    fields = ("kind", "reward", "memo", "created_at")
    readonly_fields = fields
    inlines = (EntryInline,)


@admin.register(Entry)
class EntryAdmin(ReadOnlyAdmin):
    list_display = ("id", "transaction", "account", "amount", "currency")
    list_filter = ("currency", "account__kind", "transaction__kind")
    search_fields = ("=transaction__id", "transaction__reward__conversion__id")
    list_select_related = ("transaction", "account__advertiser", "account__partner__user")
    raw_id_fields = ("transaction", "account")
    fields = ("transaction", "account", "amount", "currency")
    readonly_fields = fields
