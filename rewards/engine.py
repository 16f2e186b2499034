"""The reward rule engine: plain facts in, the winning rule and an explanation out; no database.

Precedence: a partner's override, then higher `priority`, then the newest. A rule in another currency converts
the amount at the rate the caller gave; when the deciding rule lacks one, the answer is "missing rate".
"""

import copy
import operator as op
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from decimal import Decimal

from core.money import MoneyError, decimal_parse, money_quantize

OPERATORS = ("eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "contains")
FACT_FIELDS = ("product_id", "category", "currency", "source", "plan", "quantity", "country", "type")
CONDITION_KEYS = {"field", "operator", "value"}
MISSING_RATE = "missing_exchange_rate"
_COMPARISONS = {"gt": op.gt, "gte": op.ge, "lt": op.lt, "lte": op.le}

# (from currency, to currency) -> 1 unit of `from` in `to`, or None when no rate is known.
Rates = Mapping[tuple[str, str], Decimal | None]


@dataclass(frozen=True, slots=True)
class ConversionDetails:
    """What a conversion says was sold, as the advertiser reports it (intake's `ConversionReport`) and as reward
    rules match it (`ConversionFacts`)."""

    product_id: str = ""
    category: str = ""
    plan: str = ""
    quantity: int = 1
    source: str = ""
    subscription_id: str = ""
    meta: dict = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class ConversionFacts(ConversionDetails):
    type: str
    amount: Decimal
    currency: str
    occurred_at: datetime
    partner_id: int
    country: str = ""

    def value_of(self, name: str):
        if name.startswith("meta."):
            return self.meta.get(name.removeprefix("meta."))
        if name in FACT_FIELDS:
            return getattr(self, name)
        raise KeyError(name)

    def as_json(self) -> dict:
        # What dataclasses.asdict gives, without its generic deep copy of every field (a batch calls this per row).
        data = {name: getattr(self, name) for name in FACTS_NAMES}
        data["meta"] = copy.deepcopy(self.meta) if self.meta else {}
        data["amount"] = str(money_quantize(self.amount, self.currency))
        data["occurred_at"] = self.occurred_at.isoformat()
        return data


FACTS_NAMES = [item.name for item in fields(ConversionFacts)]


def _decimal(value) -> Decimal | None:
    try:
        return decimal_parse(value)
    except MoneyError:
        return None


def condition_holds(condition: dict, facts: ConversionFacts) -> bool:
    """One `{field, operator, value}` condition: eq/ne/in/not_in compare as strings (or numbers), gt/gte/lt/lte as
    Decimals, contains as substring or list membership; a missing fact satisfies only ne and not_in."""
    operator, expected = condition.get("operator"), condition.get("value")
    try:
        actual = facts.value_of(condition.get("field", ""))
    except KeyError:
        return False
    if actual is None or (actual == "" and condition.get("field", "").startswith("meta.")):
        return operator in ("ne", "not_in")
    if operator in ("eq", "ne", "in", "not_in"):
        options = expected if operator in ("in", "not_in") and isinstance(expected, list) else [expected]
        return any(_same(actual, option) for option in options) == (operator in ("eq", "in"))
    if operator == "contains":
        if isinstance(actual, list):
            return any(_same(item, expected) for item in actual)
        return str(expected).lower() in str(actual).lower()
    if operator in _COMPARISONS:
        left, right = _decimal(actual), _decimal(expected)
        return left is not None and right is not None and _COMPARISONS[operator](left, right)
    return False


def _same(actual, expected) -> bool:
    if isinstance(actual, bool) or isinstance(expected, bool):
        return str(actual).lower() == str(expected).lower()
    left, right = _decimal(actual), _decimal(expected)
    if left is not None and right is not None:
        return left == right  # "2" == 2 == "2.0"
    return str(actual) == str(expected)


def condition_errors(conditions) -> list[str]:
    """What is wrong with a rule's conditions, as the engine reads them; empty when they are fine."""
    if not isinstance(conditions, list):
        return ["Conditions must be a list."]
    errors = []
    for number, condition in enumerate(conditions, start=1):
        if not isinstance(condition, dict):
            errors.append(f"Condition {number} must be an object with field, operator and value.")
            continue
        name, operator, value = condition.get("field", ""), condition.get("operator"), condition.get("value")
        found = []
        if not isinstance(name, str) or not (name in FACT_FIELDS or (name.startswith("meta.") and len(name) > 5)):
            found.append(f"Condition {number}: unknown field {name!r}; use {', '.join(FACT_FIELDS)} or meta.<key>.")
        if operator not in OPERATORS:
            found.append(f"Condition {number}: operator {operator!r} is not one of {', '.join(OPERATORS)}.")
        elif operator in ("in", "not_in") and not isinstance(value, list):
            found.append(f"Condition {number}: {operator} needs a list value.")
        elif operator in _COMPARISONS and _decimal(value) is None:
            found.append(f"Condition {number}: {operator} needs a number.")
        if not found and set(condition) != CONDITION_KEYS:
            found.append(f"Condition {number} must have exactly the keys field, operator and value.")
        errors += found
    return errors


def amount_in_rule_currency(rule, facts: ConversionFacts, rates: Rates) -> tuple[Decimal | None, Decimal | None]:
    """The conversion amount in the rule's currency (not rounded: it is an input) and the rate used."""
    if rule.currency == facts.currency:
        return facts.amount, None
    rate = rates.get((facts.currency, rule.currency))
    return (None, None) if rate is None else (facts.amount * rate, rate)


def rule_mismatch_reason(rule, facts: ConversionFacts, rates: Rates) -> str | None:
    """Why `rule` does not apply to `facts`, or None when it does; MISSING_RATE when it cannot tell."""
    if not rule.is_active:
        return "inactive"
    if rule.partner_id is not None and rule.partner_id != facts.partner_id:
        return "other_partner"
    if rule.active_from is not None and facts.occurred_at < rule.active_from:
        return f"not active yet: from {rule.active_from.isoformat()}"
    if rule.active_until is not None and facts.occurred_at >= rule.active_until:
        return f"no longer active: until {rule.active_until.isoformat()}"
    if rule.conversion_type and rule.conversion_type != facts.type:
        return f"type is {facts.type}, rule wants {rule.conversion_type}"
    for condition in rule.conditions or []:
        if not condition_holds(condition, facts):
            return f"condition {condition.get('field')} {condition.get('operator')} {condition.get('value')!r} fails"
    ranged = rule.min_amount is not None or rule.max_amount is not None
    # A percentage or an amount range in another currency needs the conversion's amount converted.
    if ranged or rule.reward_type == "percentage":
        amount, _ = amount_in_rule_currency(rule, facts, rates)
        if amount is None:
            return MISSING_RATE
        shown = f"{amount.normalize():f} {rule.currency}"
        if rule.min_amount is not None and amount < rule.min_amount:
            return f"amount {shown} below {rule.min_amount}"
        if rule.max_amount is not None and amount > rule.max_amount:
            return f"amount {shown} above {rule.max_amount}"
    return None


def _precedence(rule) -> tuple:
    return (rule.partner_id is not None, rule.priority, rule.created_at, rule.pk or 0)


@dataclass
class RuleChoice:
    rule: object | None
    considered: list[dict]
    # Set when the deciding rule needs a rate we do not have: (from, to).
    missing_rate: tuple[str, str] | None = None


def reward_rules_match(rules, facts: ConversionFacts, rates: Rates | None = None) -> RuleChoice:
    """The winning rule by precedence, and a line for every rule considered."""
    considered, winner, missing = [], None, None
    for rule in sorted(rules, key=_precedence, reverse=True):
        reason = rule_mismatch_reason(rule, facts, rates or {})
        if reason == "other_partner":
            continue  # another partner's override is none of this conversion's business
        decided = winner is not None or missing is not None
        line = {
            "rule_id": rule.pk,
            "name": rule.name,
            "scope": "partner" if rule.partner_id else "offer",
            "priority": rule.priority,
            "matched": reason is None,
            "reason": reason or "",
        }
        if reason is None and not decided:
            winner = rule
        elif reason is None:
            line["reason"] = "matches, but a rule of higher precedence decided"
        elif reason == MISSING_RATE and not decided:
            missing = (facts.currency, rule.currency)
            line["reason"] = f"no {facts.currency}->{rule.currency} rate for {facts.occurred_at.date().isoformat()}"
        considered.append(line)
    for line in considered:
        line["won"] = winner is not None and line["rule_id"] == winner.pk
    return RuleChoice(rule=None if missing else winner, considered=considered, missing_rate=missing)


@dataclass(frozen=True)
class RewardAmount:
    amount: Decimal
    currency: str
    uncapped: Decimal
    capped: bool
    rate: Decimal | None = None
    base_amount: Decimal | None = None  # the conversion amount in the rule's currency, before rounding


def reward_amount_compute(rule, facts: ConversionFacts, rates: Rates | None = None) -> RewardAmount:
    """The rule's fixed value, or value% of the amount in its currency; capped. Rounded once (`money_quantize`)."""
    base, rate = amount_in_rule_currency(rule, facts, rates or {})
    if rule.reward_type == "fixed":
        uncapped = money_quantize(rule.value, rule.currency)
    elif base is None:
        raise ValueError(f"no {facts.currency}->{rule.currency} rate")
    else:
        uncapped = money_quantize(base * rule.value / 100, rule.currency)
    amount = uncapped
    if rule.max_reward is not None and amount > rule.max_reward:
        amount = money_quantize(rule.max_reward, rule.currency)
    return RewardAmount(amount, rule.currency, uncapped, amount != uncapped, rate, base)
