"""Granting rewards: what each of a set of (locked) conversions earns, in order; a second grant returns the first.

Rules, rates and rewards are loaded once per set, limits charged in its order; rewards and accruals written by COPY.
"""

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.db.models import Q

from core.rows import JsonOnce, ids_reserve, instance_new, rows_copy
from referrals.models import Offer
from rewards.engine import ConversionFacts, RewardAmount, RuleChoice, reward_amount_compute, reward_rules_match
from rewards.ledger import Legs, ledger_post_new
from rewards.limits import ChargeRequest, SpendCharge, recurring_allows, spend_charges, subscription_invoices_count
from rewards.models import Account, Reward, RewardRule, Transaction
from rewards.periods import validation_term_end
from rewards.rates import RateBook


class Outcome:
    """What processing a conversion's facts came to; the codes are the conversion's status_reason."""

    REWARDED = "rewarded"
    NO_MATCHING_RULE = "no_matching_rule"
    CAP_REACHED = "cap_reached"
    RECURRING_LIMIT_REACHED = "recurring_limit_reached"
    MISSING_EXCHANGE_RATE = "missing_exchange_rate"


@dataclass(frozen=True)
class GrantRequest:
    conversion_id: UUID
    offer: Offer  # with its advertiser (the time zone of spend periods and validation terms)
    facts: ConversionFacts
    # False when the caller knows the conversion has no reward yet (its own query said so): no look-up for it.
    may_have_reward: bool = True


@dataclass
class RewardDecision:
    outcome: str
    reward: Reward | None
    explanation: dict


def _decided(outcome: str, explanation: dict, reward: Reward | None = None) -> RewardDecision:
    explanation["outcome"] = outcome
    return RewardDecision(outcome=outcome, reward=reward, explanation=explanation)


@dataclass
class _Pending:
    """A conversion whose rule is chosen; what it earns depends on its invoice count and spend limit."""

    request: GrantRequest
    choice: RuleChoice
    rates: dict
    rates_shown: dict
    explanation: dict
    computed: RewardAmount | None = None


class RuleBook:
    """Each offer's active rules and the rates they may need, for a set of (offer id, facts): two queries."""

    def __init__(self, items: list[tuple[int, ConversionFacts]], *, draft: RewardRule | None = None) -> None:
        # `draft` (the rule simulation's) takes the place of the rule it changes, or is added.
        self.rules_by_offer: dict[int, list[RewardRule]] = {offer_id: [] for offer_id, _ in items}
        for rule in RewardRule.objects.filter(offer_id__in=list(self.rules_by_offer), is_active=True):
            if draft is None or rule.pk != draft.pk:
                self.rules_by_offer[rule.offer_id].append(rule)
        if draft is not None and draft.offer_id in self.rules_by_offer:
            self.rules_by_offer[draft.offer_id].append(draft)
        currencies = {rule.currency for rules in self.rules_by_offer.values() for rule in rules}
        currencies |= {facts.currency for _, facts in items}
        self.rates = RateBook(currencies, [facts.occurred_at.date() for _, facts in items])

    def match(self, offer_id: int, facts: ConversionFacts) -> tuple[RuleChoice, dict, dict]:
        """The rule the conversion's facts match, the rates used and how they were found."""
        rules = [rule for rule in self.rules_by_offer[offer_id] if rule.partner_id in (None, facts.partner_id)]
        rates, rates_shown = self.rates.rates_for(facts, {rule.currency for rule in rules})
        return reward_rules_match(rules, facts, rates), rates, rates_shown


def rewards_grant(
    *, requests: list[GrantRequest], now: datetime, json_once: JsonOnce | None = None
) -> list[RewardDecision]:
    """Decide what each (locked) conversion earns and write the rewards with their accruals; a missing rate writes
    nothing. `json_once` writes each explanation's JSON once, for reward and conversion."""
    if not requests:
        return []
    book = RuleBook([(request.offer.pk, request.facts) for request in requests])
    maybe = [request.conversion_id for request in requests if request.may_have_reward]
    existing = {reward.conversion_id: reward for reward in Reward.objects.filter(conversion_id__in=maybe)}
    considered = []
    for request in requests:
        if reward := existing.get(request.conversion_id):
            considered.append(RewardDecision(outcome=Outcome.REWARDED, reward=reward, explanation=reward.explanation))
        else:
            considered.append(_reward_consider(request, *book.match(request.offer.pk, request.facts), now=now))
    decided = _rewards_decide([item for item in considered if isinstance(item, _Pending)], now=now)
    made = [decision.reward for decision in decided if decision.reward is not None]
    _rewards_write(made, now=now, json_once=json_once)
    in_order = iter(decided)
    return [next(in_order) if isinstance(item, _Pending) else item for item in considered]


def _reward_consider(
    request: GrantRequest, choice: RuleChoice, rates: dict, rates_shown: dict, *, now: datetime
) -> RewardDecision | _Pending:
    """Everything decided without counters: the matching rule, or a missing rate."""
    facts = request.facts
    explanation = {
        "facts": facts.as_json(),
        "rules": choice.considered,
        "precedence": "partner override, then priority, then newest",
        "rates": rates_shown,
        "decided_at": now.isoformat(),
    }
    if choice.missing_rate:
        decision = _decided(Outcome.MISSING_EXCHANGE_RATE, explanation)
        base, quote = choice.missing_rate
        explanation["missing_rate"] = {"base": base, "quote": quote, "date": facts.occurred_at.date().isoformat()}
        return decision
    return _Pending(request, choice, rates, rates_shown, explanation)


def _plain(number) -> str | None:
    """A Decimal without trailing zeros or an exponent, for explanations: 151.3700000000 -> 151.37."""
    return None if number is None else f"{number.normalize():f}"


def _rewards_decide(pending: list[_Pending], *, now: datetime) -> list[RewardDecision]:
    """Count invoices, apply recurring limits, compute amounts, charge spend limits: in order, for each."""
    subscriptions = [item for item in pending if item.request.facts.type == "subscription"]
    invoices = subscription_invoices_count([(item.request.offer.pk, item.request.facts) for item in subscriptions])
    invoice_of = {id(item): invoice for item, invoice in zip(subscriptions, invoices, strict=True)}
    decisions: dict[int, RewardDecision] = {}
    to_charge = []
    for item in pending:
        rule, explanation, facts = item.choice.rule, item.explanation, item.request.facts
        if rule is None:
            decisions[id(item)] = _decided(Outcome.NO_MATCHING_RULE, explanation)
            continue
        if (invoice := invoice_of.get(id(item))) is not None:
            allowed, explanation["recurring"] = recurring_allows(rule, invoice, facts.occurred_at)
            if not allowed:
                decisions[id(item)] = _decided(Outcome.RECURRING_LIMIT_REACHED, explanation)
                continue
        computed = item.computed = reward_amount_compute(rule, facts, item.rates)
        explanation["reward"] = {
            "rule_id": rule.pk,
            "reward_type": rule.reward_type,
            "value": str(rule.value),
            "base_amount": _plain(computed.base_amount),
            "exchange_rate": _plain(computed.rate),
            "max_reward": None if rule.max_reward is None else str(rule.max_reward),
            "uncapped": str(computed.uncapped),
            "capped": computed.capped,
            "amount": str(computed.amount),
            "currency": computed.currency,
            "rounding": "ROUND_HALF_UP to the currency's minor unit, once",
        }
        time_zone = item.request.offer.advertiser.time_zone
        to_charge.append((item, ChargeRequest(rule, facts.partner_id, computed.amount, facts.occurred_at, time_zone)))
    charges = spend_charges([charge_request for _, charge_request in to_charge])
    for (item, _), charge in zip(to_charge, charges, strict=True):
        decisions[id(item)] = _reward_charged(item, charge, now=now)
    return [decisions[id(item)] for item in pending]


def _reward_charged(item: _Pending, charge: SpendCharge, *, now: datetime) -> RewardDecision:
    """The reward (not saved) once its spend limit allowed it; or the cap reached."""
    explanation, rule, computed = item.explanation, item.choice.rule, item.computed
    facts, offer = item.request.facts, item.request.offer
    if charge.state:
        explanation["spend_limit"] = {**charge.state, "reached": not charge.allowed}
    if not charge.allowed:
        return _decided(Outcome.CAP_REACHED, explanation)
    time_zone = offer.advertiser.time_zone
    approve_after = validation_term_end(facts.occurred_at, term_days=offer.validation_term_days, time_zone=time_zone)
    explanation["validation"] = {
        "term_days": offer.validation_term_days,
        "time_zone": time_zone,
        "approve_after": approve_after.isoformat(),
    }
    rate_used = item.rates_shown.get(f"{facts.currency}->{rule.currency}") if computed.rate is not None else None
    reward = instance_new(
        Reward,
        related={"offer": offer, "rule": rule},
        conversion_id=item.request.conversion_id,
        partner_id=facts.partner_id,
        offer_id=offer.pk,
        rule_id=rule.pk,
        amount=computed.amount,
        currency=computed.currency,
        explanation=explanation,
        exchange_rate=computed.rate,
        rate_date=rate_used["date"] if rate_used else None,
        occurred_at=facts.occurred_at,
        approve_after=approve_after,
        spend_counter_id=charge.counter_id,
        created_at=now,
    )
    return _decided(Outcome.REWARDED, explanation, reward)


def _accrual_legs(rewards: list[Reward]) -> list[Legs]:
    """Each reward's accrual, from the advertiser's payable to the partner's pending: the accounts in one query."""
    payable, pending = Account.Kind.ADVERTISER_PAYABLE, Account.Kind.PARTNER_PENDING
    keys = [((payable, r.offer.advertiser_id, r.currency), (pending, r.partner_id, r.currency)) for r in rewards]
    found = Account.objects.filter(
        Q(kind=pending, partner_id__in={reward.partner_id for reward in rewards})
        | Q(kind=payable, advertiser_id__in={reward.offer.advertiser_id for reward in rewards}),
        currency__in={reward.currency for reward in rewards},
    )
    # An account has a partner or an advertiser, never both (a check constraint).
    accounts = {
        (account.kind, account.partner_id or account.advertiser_id, account.currency): account for account in found
    }
    for kind, owner, currency in {key for pair in keys for key in pair} - accounts.keys():
        # Rare (a partner's first reward in a currency); get_or_create settles a race on the unique constraint.
        owner_field = "partner_id" if kind == pending else "advertiser_id"
        accounts[(kind, owner, currency)], _ = Account.objects.get_or_create(
            kind=kind, currency=currency, **{owner_field: owner}
        )
    return [
        [(accounts[source], -reward.amount), (accounts[target], reward.amount)]
        for reward, (source, target) in zip(rewards, keys, strict=True)
    ]


def _rewards_write(rewards: list[Reward], *, now: datetime, json_once: JsonOnce | None) -> None:
    """The new rewards by COPY (ids reserved first), then their accruals; the unique constraint refuses a repeat."""
    if not rewards:
        return
    for reward, (reward_id,) in zip(rewards, ids_reserve(len(rewards), Reward), strict=True):
        reward.pk = reward_id
        reward._state.adding, reward._state.db = False, "default"
    columns = [field.attname for field in Reward._meta.concrete_fields]
    rows_copy(
        Reward, columns, (tuple(getattr(reward, name) for name in columns) for reward in rewards), json_once=json_once
    )
    ledger_post_new(
        kind=Transaction.Kind.ACCRUAL,
        postings=[
            (reward.pk, f"reward for conversion {reward.conversion_id}", legs)
            for reward, legs in zip(rewards, _accrual_legs(rewards), strict=True)
        ],
        now=now,
    )
