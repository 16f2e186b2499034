"""The rule engine on plain facts: operators, precedence, dates, amount ranges, currencies."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from rewards.engine import (
    MISSING_RATE,
    ConversionFacts,
    condition_errors,
    condition_holds,
    reward_amount_compute,
    reward_rules_match,
)
from rewards.models import RewardRule

WHEN = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)


def facts(**fields) -> ConversionFacts:
    values = {
        "type": "purchase",
        "amount": Decimal("100.00"),
        "currency": "USD",
        "occurred_at": WHEN,
        "partner_id": 1,
        "product_id": "sku-1",
        "category": "shoes",
        "quantity": 3,
        "country": "DE",
        "source": "newsletter",
        "meta": {"first_order": True, "tags": ["sale", "vip"], "coupon": "SPRING"},
    }
    values.update(fields)
    return ConversionFacts(**values)


_ids = iter(range(1, 10_000))


def rule(**fields) -> RewardRule:
    values = {
        "name": "r",
        "reward_type": "fixed",
        "value": Decimal("5.00"),
        "currency": "USD",
        "priority": 0,
        "is_active": True,
        "created_at": WHEN - timedelta(days=10),
    }
    values.update(fields)
    made = RewardRule(**values)
    made.pk = values.get("pk") or next(_ids)
    return made


@pytest.mark.parametrize(
    ("field", "operator", "value", "holds"),
    [
        ("category", "eq", "shoes", True),
        ("category", "eq", "hats", False),
        ("category", "ne", "hats", True),
        ("category", "ne", "shoes", False),
        ("country", "in", ["DE", "AT"], True),
        ("country", "in", ["FR"], False),
        ("country", "not_in", ["FR"], True),
        ("country", "not_in", ["DE"], False),
        ("quantity", "gt", 2, True),
        ("quantity", "gt", 3, False),
        ("quantity", "gte", "3", True),
        ("quantity", "gte", 4, False),
        ("quantity", "lt", 4, True),
        ("quantity", "lt", 3, False),
        ("quantity", "lte", 3, True),
        ("quantity", "lte", "2.5", False),
        ("source", "contains", "letter", True),
        ("source", "contains", "banner", False),
        ("meta.tags", "contains", "vip", True),
        ("meta.tags", "contains", "gold", False),
        ("meta.first_order", "eq", "true", True),
        ("meta.first_order", "eq", True, True),
        ("meta.coupon", "in", ["SPRING", "FALL"], True),
        ("product_id", "eq", "sku-1", True),
        ("currency", "eq", "USD", True),
        ("plan", "eq", "pro", False),
        ("quantity", "eq", "3.0", True),
    ],
)
def test_each_operator(field, operator, value, holds):
    assert condition_holds({"field": field, "operator": operator, "value": value}, facts()) is holds


def test_a_missing_meta_key_satisfies_only_ne_and_not_in():
    missing = {"field": "meta.absent", "value": "x"}
    assert condition_holds({**missing, "operator": "ne"}, facts())
    assert condition_holds({**missing, "operator": "not_in", "value": ["x"]}, facts())
    for operator in ("eq", "in", "gt", "contains"):
        assert not condition_holds({**missing, "operator": operator}, facts())


def test_numeric_operators_never_compare_text():
    assert not condition_holds({"field": "category", "operator": "gt", "value": 1}, facts())


def test_condition_errors_name_the_bad_condition():
    assert condition_errors([{"field": "category", "operator": "eq", "value": "x"}]) == []
    errors = condition_errors(
        [{"field": "colour", "operator": "eq"}, {"field": "quantity", "operator": "gt", "value": "many"}, "x"]
    )
    assert errors[0].startswith("Condition 1: unknown field")
    assert errors[1] == "Condition 2: gt needs a number."
    assert errors[2].startswith("Condition 3 must be an object")


def test_all_conditions_must_hold():
    both = rule(
        conditions=[
            {"field": "category", "operator": "eq", "value": "shoes"},
            {"field": "country", "operator": "eq", "value": "FR"},
        ]
    )
    choice = reward_rules_match([both], facts())
    assert choice.rule is None and "country eq 'FR' fails" in choice.considered[0]["reason"]


def test_precedence_partner_override_then_priority_then_newest():
    offer_wide_high = rule(priority=100, name="offer-wide high")
    override_low = rule(partner_id=1, priority=0, name="override")
    other_partner = rule(partner_id=2, priority=1000, name="bob's")
    assert reward_rules_match([offer_wide_high, override_low, other_partner], facts()).rule is override_low

    older = rule(priority=5, created_at=WHEN - timedelta(days=3))
    newer = rule(priority=5, created_at=WHEN - timedelta(days=1))
    lower = rule(priority=4, created_at=WHEN - timedelta(hours=1))
    choice = reward_rules_match([older, lower, newer], facts())
    assert choice.rule is newer
    assert [line["rule_id"] for line in choice.considered] == [newer.pk, older.pk, lower.pk]
    assert choice.considered[1]["reason"] == "matches, but a rule of higher precedence decided"


def test_same_priority_and_time_is_decided_by_id():
    first, second = rule(pk=501), rule(pk=502)
    assert reward_rules_match([first, second], facts()).rule is second


def test_another_partners_override_is_not_even_listed():
    choice = reward_rules_match([rule(partner_id=2)], facts())
    assert choice.rule is None and choice.considered == []


def test_active_from_and_until_bound_the_conversion_time():
    starts_later = rule(active_from=WHEN + timedelta(seconds=1))
    ended = rule(active_until=WHEN)
    current = rule(active_from=WHEN, active_until=WHEN + timedelta(days=1))
    choice = reward_rules_match([starts_later, ended, current], facts())
    assert choice.rule is current
    reasons = {line["rule_id"]: line["reason"] for line in choice.considered}
    assert reasons[starts_later.pk].startswith("not active yet")
    assert reasons[ended.pk].startswith("no longer active")


def test_conversion_type_and_amount_range():
    subscription_only = rule(conversion_type="subscription")
    too_small = rule(min_amount=Decimal("100.01"))
    in_range = rule(min_amount=Decimal("100.00"), max_amount=Decimal("100.00"))
    assert reward_rules_match([subscription_only, too_small, in_range], facts()).rule is in_range


def test_a_percentage_in_another_currency_converts_at_the_days_rate():
    eur_rule = rule(reward_type="percentage", value=Decimal("10"), currency="EUR")
    rates = {("USD", "EUR"): Decimal("0.9")}
    choice = reward_rules_match([eur_rule], facts(amount=Decimal("123.45")), rates)
    computed = reward_amount_compute(choice.rule, facts(amount=Decimal("123.45")), rates)
    assert computed.amount == Decimal("11.11") and computed.currency == "EUR"  # 123.45 * 0.9 * 10% = 11.1105
    assert computed.rate == Decimal("0.9")


def test_the_deciding_rule_without_a_rate_means_missing_rate_not_a_lesser_rule():
    eur_rule = rule(reward_type="percentage", value=Decimal("10"), currency="EUR", priority=10)
    usd_fallback = rule(priority=0)
    choice = reward_rules_match([eur_rule, usd_fallback], facts(), {("USD", "EUR"): None})
    assert choice.rule is None and choice.missing_rate == ("USD", "EUR")
    assert choice.considered[0]["reason"] == "no USD->EUR rate for 2025-06-02"


def test_a_fixed_rule_in_another_currency_needs_no_rate():
    eur_fixed = rule(currency="EUR", value=Decimal("3.00"))
    choice = reward_rules_match([eur_fixed], facts(), {})
    assert choice.rule is eur_fixed
    assert reward_amount_compute(eur_fixed, facts(), {}).amount == Decimal("3.00")


def test_an_amount_range_in_another_currency_without_a_rate_waits():
    ranged = rule(currency="EUR", min_amount=Decimal("50"))
    assert reward_rules_match([ranged], facts(), {}).missing_rate == ("USD", "EUR")
    assert MISSING_RATE == "missing_exchange_rate"


def test_the_per_conversion_maximum_caps_the_reward():
    capped = rule(reward_type="percentage", value=Decimal("10"), max_reward=Decimal("7.00"))
    computed = reward_amount_compute(capped, facts(amount=Decimal("100.00")))
    assert computed.amount == Decimal("7.00") and computed.uncapped == Decimal("10.00") and computed.capped


def test_inactive_rules_never_match():
    assert reward_rules_match([rule(is_active=False)], facts()).rule is None
