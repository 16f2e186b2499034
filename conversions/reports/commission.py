"""The commission of one conversion as the publisher's conversion page shows it: amount, status, dates, and in words
the explanations processing stored (the conversion's `attribution`, the reward's `explanation`: the same JSON the API
answers under `reward.explanation`). Nothing is decided again here; this only reads what was decided."""

import zoneinfo
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from conversions.models import Conversion
from core.money import money_display, money_quantize
from rewards.models import Reward
from rewards.selectors import reward_for_conversion

OUTCOMES = {  # an explanation's `outcome` when the conversion earned nothing
    "no_matching_rule": "No reward rule of the offer matches this sale, so it earns no commission.",
    "cap_reached": "No commission: the rule's spend limit for the period was reached.",
    "recurring_limit_reached": "No commission: the rule pays no more invoices of this subscription.",
}
RECURRING = {
    "first_only": "the rule pays the first invoice only",
    "first_n": "the rule pays the first {count} invoices",
    "within_months": "the rule pays invoices within {count} months of the first",
    "every": "the rule pays every invoice",
}


@dataclass
class Commission:
    amount: Decimal | None  # None: the conversion earned nothing (yet)
    currency: str
    status: str  # the reward's status, "" without a reward
    created_at: datetime | None = None
    approve_after: datetime | None = None
    approved_at: datetime | None = None
    paid_at: datetime | None = None
    reversed_at: datetime | None = None
    explanation: list[str] = field(default_factory=list)


def conversion_commission(*, conversion: Conversion, tz: zoneinfo.ZoneInfo) -> Commission:
    """What the conversion earns and why, in words, with times in the viewer's time zone."""
    reward = reward_for_conversion(conversion.pk)
    explanation = reward.explanation if reward is not None else conversion.reward_explanation or {}
    words = [*_attribution_words(conversion.attribution or {}, tz), *_reward_words(explanation, conversion)]
    if reward is None:
        if conversion.status == Conversion.Status.SUSPICIOUS:
            words.append("No commission yet: screening held the sale before the reward rules ran.")
        return Commission(amount=None, currency="", status="", explanation=words)
    return Commission(
        amount=money_quantize(reward.amount, reward.currency),
        currency=reward.currency,
        status=reward.status,
        created_at=reward.created_at,
        approve_after=reward.approve_after if reward.status == Reward.Status.PENDING else None,
        approved_at=reward.approved_at,
        paid_at=reward.paid_at,
        reversed_at=reward.reversed_at,
        explanation=words,
    )


def _local(moment: str | None, tz: zoneinfo.ZoneInfo) -> str:
    return datetime.fromisoformat(moment).astimezone(tz).strftime("%Y-%m-%d %H:%M") if moment else "?"


def _attribution_words(attribution: dict, tz: zoneinfo.ZoneInfo) -> list[str]:
    step = attribution.get("step")
    if step in ("click_id", "cookie"):
        how = "the click id the advertiser sent" if step == "click_id" else "the click cookie on the advertiser's site"
        age = timedelta(seconds=attribution.get("age_seconds", 0))
        inside = "inside" if attribution.get("within_window", True) else "outside"
        return [
            f"Click chosen: your click {attribution.get('click_id', '')} at {_local(attribution.get('click_at'), tz)}, "
            f"found by {how} (the last click wins); the sale came {_duration(age)} later, {inside} the offer's "
            f"{attribution.get('window_days')}-day cookie window."
        ]
    if step in ("referral_code", "coupon"):
        kind = "referral code" if step == "referral_code" else "coupon"
        return [f"No click: the sale was credited to you by your {kind} {attribution.get(step, '')}."]
    return []


def _duration(age: timedelta) -> str:
    if age.days >= 1:
        return f"{age.days} day{'s' if age.days != 1 else ''}"
    hours, minutes = divmod(int(age.total_seconds()) // 60, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


def _reward_words(explanation: dict, conversion: Conversion) -> list[str]:
    if not explanation:
        return []
    words = []
    rules = explanation.get("rules", [])
    won = next((rule for rule in rules if rule.get("won")), None)
    if won is not None:
        others = len(rules) - 1
        scope = "a rule for you alone" if won.get("scope") == "partner" else "the offer's rule"
        words.append(
            f"Rule matched: “{won.get('name')}”, {scope}"
            + (f"; {others} other rule{'s' if others != 1 else ''} considered did not decide." if others else ".")
        )
    outcome = explanation.get("outcome")
    if outcome == "missing_exchange_rate" and (missing := explanation.get("missing_rate")):
        words.append(
            f"Waiting for the {missing['base']} to {missing['quote']} exchange rate of {missing['date']}: "
            "the commission is decided as soon as it is loaded."
        )
    if reward := explanation.get("reward"):
        words.extend(_computation_words(reward, explanation, conversion))
    if recurring := explanation.get("recurring"):
        rule_says = RECURRING.get(recurring.get("recurring"), "").format(count=recurring.get("count"))
        words.append(f"Invoice {recurring.get('invoice_number')} of the subscription; {rule_says}.")
    if limit := explanation.get("spend_limit"):
        currency = (reward or {}).get("currency", "")
        period = "all time" if limit.get("period") == "all_time" else f"a {limit.get('period')}"
        if limit.get("reached"):
            words.append(
                f"The rule's spend limit of {money_display(limit['limit'], currency)} for {period} was reached."
            )
        else:
            words.append(
                f"Within the rule's spend limit of {money_display(limit['limit'], currency)} for {period} "
                f"({money_display(limit.get('spent_after'), currency)} of it used, this sale included)."
            )
    for change in explanation.get("adjustments", []):
        currency, sale = (
            (reward or {}).get("currency", ""),
            money_display(change["conversion_amount"], change["currency"]),
        )
        words.append(
            f"Adjusted on {change['at'][:10]}: the sale's amount became {sale}, so the commission went from "
            f"{money_display(change['from'], currency)} to {money_display(change['to'], currency)}."
        )
    if outcome in OUTCOMES:  # the conclusion, after the steps that led to it
        words.append(OUTCOMES[outcome])
    return words


def _computation_words(reward: dict, explanation: dict, conversion: Conversion) -> list[str]:
    currency = reward["currency"]
    words = []
    if reward.get("exchange_rate"):
        rate = explanation.get("rates", {}).get(f"{conversion.currency}->{currency}", {})
        on = f" (the rate of {rate['date']})" if rate.get("date") else ""
        words.append(
            f"Exchange rate: 1 {conversion.currency} = {reward['exchange_rate']} {currency}{on}, so the sale counts as "
            f"{money_display(reward['base_amount'], currency)}."
        )
    if reward.get("reward_type") == "percentage":
        value = Decimal(reward["value"]).normalize()
        words.append(
            f"Commission: {value:f}% of {money_display(reward['base_amount'], currency)} = "
            f"{money_display(reward['uncapped'], currency)}."
        )
    else:
        words.append(f"Commission: a fixed {money_display(reward['value'], currency)} a sale.")
    if reward.get("capped"):
        words.append(
            f"Cap applied: the rule pays at most {money_display(reward['max_reward'], currency)}, so the commission is "
            f"{money_display(reward['amount'], currency)}."
        )
    elif reward.get("max_reward") is not None:
        words.append(f"No cap applied: below the rule's maximum of {money_display(reward['max_reward'], currency)}.")
    else:
        words.append("No cap: the rule has no maximum.")
    return words
