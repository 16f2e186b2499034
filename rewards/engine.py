"""The reward rule engine: plain facts in, the winning rule and an explanation out.

It reads no database and writes nothing, so it can run inside the processing
job, a batch, or a simulation alike.

Precedence among matching rules, one order with no ties: a partner's own rule
(an override) before an offer-wide rule, then higher `priority`, then the
newest (`created_at`, then id).
"""

from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import Decimal

from referrals.money import money_quantize

OPERATORS = ("eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "contains")
FACT_FIELDS = ("product_id", "category", "currency", "source", "plan", "quantity", "country", "type")
_NUMERIC_FIELDS = ("quantity",)
HUNDRED = Decimal(100)


@dataclass(frozen=True)
class ConversionFacts:
    type: str
    amount: Decimal
    currency: str
    occurred_at: datetime
    partner_id: int
    product_id: str = ""
    category: str = ""
    plan: str = ""
    quantity: int = 1
    source: str = ""
    country: str = ""
    subscription_id: str = ""
    meta: dict = field(default_factory=dict)

    def value_of(self, name: str):
        if name.startswith("meta."):
            return self.meta.get(name.removeprefix("meta."))
        if name in FACT_FIELDS:
            return getattr(self, name)
        raise KeyError(name)

    def as_json(self) -> dict:
        data = asdict(self)
        data["amount"] = str(self.amount)
        data["occurred_at"] = self.occurred_at.isoformat()
        return data


def _comparable(left, right):
    """Compare numbers as Decimals and everything else as strings, never as floats."""
    try:
        return Decimal(str(left)), Decimal(str(right))
    except Exception:
        return str(left), str(right)


def condition_holds(condition: dict, facts: ConversionFacts) -> bool:
    operator, expected = condition["operator"], condition.get("value")
    try:
        actual = facts.value_of(condition["field"])
    except KeyError:
        return False
    if actual is None:
        return operator in ("ne", "not_in")
    if operator == "eq":
        return str(actual) == str(expected)
    if operator == "ne":
        return str(actual) != str(expected)
    if operator in ("in", "not_in"):
        found = str(actual) in [str(item) for item in (expected or [])]
        return found if operator == "in" else not found
    if operator == "contains":
        return str(expected) in (actual if isinstance(actual, list) else str(actual))
    left, right = _comparable(actual, expected)
    if type(left) is not type(right):
        return False
    return {"gt": left > right, "gte": left >= right, "lt": left < right, "lte": left <= right}[operator]


def rule_mismatch_reason(rule, facts: ConversionFacts, now: datetime) -> str | None:
    """Why `rule` does not apply to `facts`, or None when it does."""
    if not rule.is_active:
        return "inactive"
    if rule.partner_id is not None and rule.partner_id != facts.partner_id:
        return "other_partner"
    if rule.conversion_type and rule.conversion_type != facts.type:
        return f"type is {facts.type}, rule wants {rule.conversion_type}"
    if rule.min_amount is not None and facts.amount < rule.min_amount:
        return f"amount {facts.amount} below {rule.min_amount}"
    if rule.max_amount is not None and facts.amount > rule.max_amount:
        return f"amount {facts.amount} above {rule.max_amount}"
    for condition in rule.conditions or []:
        if not condition_holds(condition, facts):
            return f"condition {condition['field']} {condition['operator']} {condition.get('value')!r} fails"
    if rule.reward_type == "percentage" and rule.currency != facts.currency:
        return f"percentage rule pays {rule.currency}, conversion is in {facts.currency}"
    return None


def rule_precedence(rule) -> tuple:
    return (rule.partner_id is not None, rule.priority, rule.created_at, rule.pk)


@dataclass
class RuleChoice:
    rule: object | None
    considered: list[dict]


def reward_rules_match(rules, facts: ConversionFacts, now: datetime) -> RuleChoice:
    """The winning rule by precedence, and a line for every rule considered."""
    considered, matching = [], []
    for rule in sorted(rules, key=rule_precedence, reverse=True):
        reason = rule_mismatch_reason(rule, facts, now)
        if reason == "other_partner":
            continue  # another partner's override is none of this conversion's business
        considered.append({"rule_id": rule.pk, "name": rule.name, "matched": reason is None, "reason": reason or ""})
        if reason is None:
            matching.append(rule)
    winner = matching[0] if matching else None
    for line in considered:
        line["won"] = winner is not None and line["rule_id"] == winner.pk
    return RuleChoice(rule=winner, considered=considered)


@dataclass(frozen=True)
class RewardAmount:
    amount: Decimal
    currency: str
    uncapped: Decimal
    capped: bool


def reward_amount_compute(rule, facts: ConversionFacts) -> RewardAmount:
    """Fixed: the rule's value. Percentage: value% of the amount. Then the per-conversion cap."""
    if rule.reward_type == "fixed":
        uncapped = money_quantize(rule.value, rule.currency)
    else:
        uncapped = money_quantize(facts.amount * rule.value / HUNDRED, rule.currency)
    amount = uncapped
    if rule.max_reward is not None and amount > rule.max_reward:
        amount = money_quantize(rule.max_reward, rule.currency)
    return RewardAmount(amount=amount, currency=rule.currency, uncapped=uncapped, capped=amount != uncapped)
