"""The rewards admin: rules are editable and validated; rewards and the ledger are read-only."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from conversions.intake.recording import ConversionReport, conversion_record
from conversions.processing.pipeline import conversion_process
from referrals.models import Click
from rewards.admin import RewardRuleForm
from rewards.ledger import account_balance
from rewards.models import Account, Entry, Reward, RewardRule, Transaction
from tests.factories import RewardRuleFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def rule(offer):
    return RewardRuleFactory(offer=offer, name="Ten percent", reward_type="percentage", value=Decimal("10"))


@pytest.fixture
def reward(acme, alice_link, rule):
    """A reward accrued through the real flow: a click, a conversion, its processing."""
    Click.objects.create(
        click_id="r" * 32,
        link=alice_link,
        offer=alice_link.offer,
        partner=alice_link.partner,
        created_at=timezone.now() - timedelta(minutes=5),
    )
    report = ConversionReport(
        type="purchase", external_id="o-9", amount=Decimal("123.40"), product_id="sku", click_id="r" * 32
    )
    conversion, _ = conversion_record(advertiser=acme, report=report, channel="api")
    conversion_process(conversion_id=conversion.pk)
    return Reward.objects.get(conversion_id=conversion.pk)


@pytest.fixture
def data(reward):
    pending = Account.objects.get(kind="partner_pending")
    transaction = Transaction.objects.get(reward=reward)
    return {
        "rewardrule": (reward.rule, "Ten percent"),
        "reward": (reward, str(reward.conversion_id)),
        "account": (pending, "partner_pending"),
        "transaction": (transaction, "reward for conversion"),
        "entry": (transaction.entries.first(), "accrual"),
    }


@pytest.mark.parametrize("model", ["rewardrule", "reward", "account", "transaction", "entry"])
def test_changelist_and_change_page_render_with_data(admin_client, data, model):
    obj, text = data[model]

    listing = admin_client.get(reverse(f"admin:rewards_{model}_changelist"))
    page = admin_client.get(reverse(f"admin:rewards_{model}_change", args=[obj.pk]))

    assert listing.status_code == 200 and text in listing.content.decode()
    assert page.status_code == 200 and text in page.content.decode()


@pytest.mark.parametrize(
    ("model", "query"),
    [("reward", "o-9"), ("reward", "not-a-uuid"), ("transaction", "12x"), ("entry", "abc"), ("account", "alice")],
)
def test_search_answers_any_term(admin_client, reward, model, query):
    assert admin_client.get(reverse(f"admin:rewards_{model}_changelist"), {"q": query}).status_code == 200


def test_reward_page_shows_the_explanation_pretty_printed(admin_client, reward):
    response = admin_client.get(reverse("admin:rewards_reward_change", args=[reward.pk]))

    content = response.content.decode()
    assert "<pre>{\n" in content
    assert "&quot;uncapped&quot;: &quot;12.34&quot;" in content
    assert 'name="_save"' not in content


@pytest.mark.parametrize("model", ["reward", "transaction", "entry", "account"])
def test_ledger_and_rewards_cannot_be_added_changed_or_deleted(admin_client, data, model):
    obj, _ = data[model]

    assert admin_client.get(reverse(f"admin:rewards_{model}_add")).status_code == 403
    assert admin_client.post(reverse(f"admin:rewards_{model}_change", args=[obj.pk]), {}).status_code == 403
    assert (
        admin_client.post(reverse(f"admin:rewards_{model}_delete", args=[obj.pk]), {"post": "yes"}).status_code == 403
    )
    assert type(obj).objects.filter(pk=obj.pk).exists()


def test_reward_amount_and_status_stay_as_they_were(admin_client, reward):
    admin_client.post(reverse("admin:rewards_reward_change", args=[reward.pk]), {"amount": "999", "status": "paid"})

    reward.refresh_from_db()
    assert (reward.amount, reward.status) == (Decimal("12.34"), "pending")


def test_account_shows_the_ledger_balance(admin_client, reward):
    pending = Account.objects.get(kind="partner_pending")
    payable = Account.objects.get(kind="advertiser_payable")

    listing = admin_client.get(reverse("admin:rewards_account_changelist"))
    page = admin_client.get(reverse("admin:rewards_account_change", args=[payable.pk]))

    balances = {row.pk: row._balance for row in listing.context["cl"].result_list}
    assert balances == {pending.pk: account_balance(pending), payable.pk: account_balance(payable)}
    assert balances[payable.pk] == Decimal("-12.34")
    assert "-12.3400" in page.content.decode()


def test_transaction_page_shows_its_entries(admin_client, reward):
    transaction = Transaction.objects.get(reward=reward)

    response = admin_client.get(reverse("admin:rewards_transaction_change", args=[transaction.pk]))

    formset = response.context["inline_admin_formsets"][0].formset
    assert sorted(e.amount for e in formset.queryset) == [Decimal("-12.34"), Decimal("12.34")]
    assert Entry.objects.count() == 2


def condition_rows(*conditions: tuple[str, str, str]) -> dict:
    """The rule form's condition rows as a browser posts them: (field, operator, value typed in the box)."""
    return {
        "conditions-field": [field for field, _, _ in conditions],
        "conditions-operator": [operator for _, operator, _ in conditions],
        "conditions-value": [value for _, _, value in conditions],
    }


def rule_post(offer, conditions=(("category", "eq", "shoes"),), **fields) -> dict:
    return {
        "offer": offer.pk,
        "partner": "",
        "name": "Shoes only",
        "conversion_type": "purchase",
        "min_amount": "",
        "max_amount": "",
        **condition_rows(*conditions),
        "reward_type": "fixed",
        "value": "3.00",
        "currency": "USD",
        "max_reward": "",
        "priority": "0",
        "is_active": "on",
        **fields,
    }


def test_a_rule_with_valid_conditions_is_saved(admin_client, offer):
    response = admin_client.post(reverse("admin:rewards_rewardrule_add"), rule_post(offer))

    assert response.status_code == 302
    rule = RewardRule.objects.get(name="Shoes only")
    assert rule.conditions == [{"field": "category", "operator": "eq", "value": "shoes"}]


def test_a_rule_with_a_bad_condition_is_refused(admin_client, offer):
    response = admin_client.post(
        reverse("admin:rewards_rewardrule_add"),
        rule_post(offer, conditions=[("password", "like", "x")]),
    )

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["conditions"]
    assert any("field 'password'" in error for error in errors)
    assert any("operator 'like'" in error for error in errors)
    assert not RewardRule.objects.filter(name="Shoes only").exists()


def test_a_rule_change_is_validated_too(admin_client, rule):
    url = reverse("admin:rewards_rewardrule_change", args=[rule.pk])

    response = admin_client.post(url, rule_post(rule.offer, name="Ten percent", conditions=[("quantity", "gt", "two")]))

    assert response.status_code == 200
    rule.refresh_from_db()
    assert rule.conditions == [] and rule.reward_type == "percentage"


@pytest.mark.parametrize(
    ("rows", "conditions"),
    [
        ([], []),
        ([("category", "eq", "shoes")], [{"field": "category", "operator": "eq", "value": "shoes"}]),
        ([("meta.coupon", "in", "A, B")], [{"field": "meta.coupon", "operator": "in", "value": ["A", "B"]}]),
        (
            [("quantity", "gte", "2"), ("country", "ne", "XX"), ("", "eq", "a blank field drops its row")],
            [
                {"field": "quantity", "operator": "gte", "value": "2"},
                {"field": "country", "operator": "ne", "value": "XX"},
            ],
        ),
    ],
)
def test_condition_rows_become_the_conditions_the_engine_reads(offer, rows, conditions):
    form = RewardRuleForm(data=rule_post(offer, conditions=rows))

    assert form.is_valid(), form.errors
    assert form.cleaned_data["conditions"] == conditions


def test_the_rule_form_shows_a_rules_conditions_as_rows_with_blank_rows_to_add(admin_client, offer):
    rule = RewardRuleFactory(offer=offer, conditions=[{"field": "meta.coupon", "operator": "in", "value": ["A", "B"]}])

    page = admin_client.get(reverse("admin:rewards_rewardrule_change", args=[rule.pk])).content.decode()

    assert 'name="conditions-field" value="meta.coupon"' in page and 'name="conditions-value" value="A, B"' in page
    assert '<option value="in" selected>is one of</option>' in page
    assert page.count('name="conditions-field"') == 4  # its row and three blank ones
    assert page.count('class="admin-autocomplete') == 2  # offer and partner found by search, not raw ids


@pytest.mark.parametrize(
    "conditions",
    [
        {"field": "category", "operator": "eq", "value": "shoes"},  # not a list
        ["category"],  # not an object
        [{"field": "category", "operator": "eq"}],  # no value
        [{"field": "category", "operator": "eq", "value": "x", "extra": 1}],  # an unknown key
        [{"field": "amount", "operator": "gt", "value": 5}],  # not a fact field (amounts have their own columns)
        [{"field": "meta.", "operator": "eq", "value": "x"}],  # meta without a key
        [{"field": "category", "operator": "like", "value": "x"}],  # an unknown operator
        [{"field": "category", "operator": "in", "value": "shoes"}],  # `in` needs a list
        [{"field": 3, "operator": "eq", "value": "x"}],  # a field that is not a string
    ],
)
def test_conditions_the_engine_cannot_read_are_refused(offer, conditions):
    rule = RewardRuleFactory.build(offer=offer, conditions=conditions)

    with pytest.raises(ValidationError) as refused:
        rule.clean()  # what the form calls; its rows cannot even post most of these shapes

    assert "conditions" in refused.value.message_dict


def test_staff_set_dates_spend_limits_and_recurring_on_a_rule_in_the_admin(admin_client, db):
    from referrals.models import Offer
    from rewards.models import RewardRule
    from tests.factories import OfferFactory

    offer = OfferFactory()
    form = {
        "offer": offer.pk,
        "name": "Capped",
        "conversion_type": "subscription",
        "conditions": "[]",
        "reward_type": "fixed",
        "value": "5.00",
        "currency": "USD",
        "priority": "0",
        "is_active": "on",
        "active_from_0": "2026-01-01",
        "active_from_1": "00:00:00",
        "spend_limit": "100.00",
        "spend_limit_period": "month",
        "recurring": "first_n",
        "recurring_count": "3",
    }

    incomplete = admin_client.post("/admin/rewards/rewardrule/add/", {**form, "spend_limit_period": ""})
    assert incomplete.status_code == 200 and not RewardRule.objects.exists()  # a limit needs its period

    saved = admin_client.post("/admin/rewards/rewardrule/add/", form)

    assert saved.status_code == 302
    rule = RewardRule.objects.get()
    assert (rule.spend_limit_period, rule.recurring, rule.recurring_count) == ("month", "first_n", 3)
    assert rule.active_from is not None and Offer.objects.count() == 1
