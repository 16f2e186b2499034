"""Rewards: grant one for a conversion's facts, approve, reverse, with their ledger postings.

The lifecycle of a reward: `pending` (in the offer's validation term) ->
`approved` (term over, or the advertiser validated) -> `paid` (a payout batch);
`pending` | `approved` | `paid` -> `reversed`. Every change posts a ledger
transaction (rewards/ledger.py); nothing is edited or deleted there.
"""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from django.db import IntegrityError, connection, transaction
from django.db.models import Q

from referrals.models import Offer
from referrals.money import money_quantize
from rewards.bulk import bulk_supported, ids_reserve, instance_new, rows_copy
from rewards.engine import ConversionFacts, reward_amount_compute, reward_rules_match
from rewards.errors import RewardError
from rewards.ledger import UnbalancedTransaction, account_get, ledger_post
from rewards.limits import (
    ChargeRequest,
    recurring_allows,
    spend_charge,
    spend_charges,
    spend_release,
    subscription_invoice_count,
    subscription_invoices_count,
)
from rewards.models import Account, Entry, Reward, RewardRule, SpendCounter, Transaction
from rewards.periods import validation_term_end
from rewards.rates import RateBook


class Outcome:
    """What processing a conversion's facts came to; the codes are the conversion's status_reason."""

    REWARDED = "rewarded"
    NO_MATCHING_RULE = "no_matching_rule"
    CAP_REACHED = "cap_reached"
    RECURRING_LIMIT_REACHED = "recurring_limit_reached"
    MISSING_EXCHANGE_RATE = "missing_exchange_rate"


@dataclass
class RewardDecision:
    outcome: str
    reward: Reward | None
    explanation: dict


@dataclass
class RewardContext:
    """What a batch of conversions shares: rules per offer, rates, ledger accounts, loaded once."""

    rules_by_offer: dict[int, list[RewardRule]] = field(default_factory=dict)
    rates: RateBook = field(default_factory=RateBook)
    accounts: dict[tuple, Account] = field(default_factory=dict)
    existing: dict[UUID, Reward] | None = None
    # A batch's rewards (reward_grants_decide), until `reward_grants_flush` writes them.
    to_create: list[Reward] = field(default_factory=list)

    @classmethod
    def for_batch(cls, *, offer_ids: set[int], facts: list[ConversionFacts], conversion_ids: list) -> "RewardContext":
        """One query for the rules of every offer in the batch, one for the rates, one for rewards already made.

        `conversion_ids` may be only those of the batch that have a reward (the caller knows it from its own
        query): the others have none.
        """
        context = cls()
        for offer_id in offer_ids:
            context.rules_by_offer[offer_id] = []
        for rule in RewardRule.objects.filter(offer_id__in=offer_ids, is_active=True):
            context.rules_by_offer[rule.offer_id].append(rule)
        currencies = {rule.currency for rules in context.rules_by_offer.values() for rule in rules}
        currencies |= {item.currency for item in facts}
        if facts:
            days = [item.occurred_at.date() for item in facts]
            context.rates.preload(currencies, min(days), max(days))
        rewarded = Reward.objects.filter(conversion_id__in=conversion_ids) if conversion_ids else []
        context.existing = {reward.conversion_id: reward for reward in rewarded}
        return context

    def rules_for(self, *, offer: Offer, partner_id: int) -> list[RewardRule]:
        if offer.pk not in self.rules_by_offer:
            self.rules_by_offer[offer.pk] = list(RewardRule.objects.filter(offer=offer, is_active=True))
        return [rule for rule in self.rules_by_offer[offer.pk] if rule.partner_id in (None, partner_id)]

    def rates_for(self, facts: ConversionFacts, rules: list[RewardRule]) -> tuple[dict, dict]:
        """The rates the engine may need for these facts, and how each was found (for the explanation)."""
        rates, shown = {}, {}
        for currency in {rule.currency for rule in rules} - {facts.currency}:
            found = self.rates.find(facts.currency, currency, facts.occurred_at.date())
            rates[(facts.currency, currency)] = found.rate if found else None
            if found:
                shown[f"{facts.currency}->{currency}"] = {
                    "rate": _plain(found.rate),
                    "date": found.date.isoformat(),
                    "inverse_of_stored_rate": found.inverse,
                }
        return rates, shown

    def account(self, **key) -> Account:
        cache_key = tuple(sorted(key.items()))
        if cache_key not in self.accounts:
            self.accounts[cache_key], _ = Account.objects.get_or_create(**key)
        return self.accounts[cache_key]

    def accounts_load(self, rewards: list[Reward]) -> None:
        """The accrual accounts of these rewards that exist, in one query (`account` creates the others)."""
        partner_ids = {reward.partner_id for reward in rewards}
        advertiser_ids = {reward.offer.advertiser_id for reward in rewards}
        found = Account.objects.filter(
            Q(kind=Account.Kind.PARTNER_PENDING, partner_id__in=partner_ids)
            | Q(kind=Account.Kind.ADVERTISER_PAYABLE, advertiser_id__in=advertiser_ids),
            currency__in={reward.currency for reward in rewards},
        )
        for account in found:
            owner = (
                {"partner_id": account.partner_id}
                if account.kind == Account.Kind.PARTNER_PENDING
                else {"advertiser_id": account.advertiser_id}
            )
            key = {"kind": account.kind, **owner, "currency": account.currency}
            self.accounts.setdefault(tuple(sorted(key.items())), account)

    def existing_reward(self, conversion_id) -> Reward | None:
        if self.existing is not None:
            return self.existing.get(conversion_id)
        return Reward.objects.filter(conversion_id=conversion_id).first()


def _plain(number) -> str:
    """A Decimal without trailing zeros or an exponent, for explanations: 151.3700000000 -> 151.37."""
    return f"{number.normalize():f}"


def reward_rules_for(*, offer: Offer, partner_id: int) -> list[RewardRule]:
    """The active rules that could apply to this partner's conversions on the offer."""
    return list(
        RewardRule.objects.filter(offer=offer, is_active=True).filter(
            Q(partner__isnull=True) | Q(partner_id=partner_id)
        )
    )


def reward_grant(
    *,
    conversion_id: UUID,
    offer: Offer,
    facts: ConversionFacts,
    now: datetime,
    context: RewardContext | None = None,
) -> RewardDecision:
    """Decide what the conversion earns; if anything, create the reward and post its accrual.

    Call inside the caller's transaction with the conversion locked. Idempotent
    per conversion: a second call returns the existing reward. A missing rate
    writes nothing (the conversion is decided when the rate arrives).
    """
    context = context or RewardContext()
    considered = _reward_consider(conversion_id, offer, facts, now, context)
    if isinstance(considered, RewardDecision):
        return considered
    try:
        with transaction.atomic():  # a savepoint: counters and reward commit together or not at all
            decision = _rewards_decide([considered], now=now, batch=False)[0]
            if decision.reward is not None:
                _reward_save(decision.reward, context, now=now)
            return decision
    except _AlreadyRewarded:
        # Another path rewarded this conversion first; our savepoint (counters included) is undone.
        reward = Reward.objects.get(conversion_id=conversion_id)
        return RewardDecision(outcome=Outcome.REWARDED, reward=reward, explanation=reward.explanation)


def reward_grants_decide(
    *, items: list[tuple[UUID, Offer, ConversionFacts]], now: datetime, context: RewardContext
) -> list[RewardDecision]:
    """`reward_grant` for a batch of (conversion_id, offer, facts), in order, writing nothing but counters.

    The decisions are the ones `reward_grant` would make one after another: invoices are numbered and
    spend limits charged in the batch's order (rewards/limits.py, a few statements for the batch). The
    rewards are kept in `context.to_create` for `reward_grants_flush`.
    """
    considered = [_reward_consider(*item, now, context) for item in items]
    pending = [item for item in considered if isinstance(item, _Pending)]
    decided = iter(_rewards_decide(pending, now=now, batch=bulk_supported()))
    decisions = [item if isinstance(item, RewardDecision) else next(decided) for item in considered]
    context.to_create.extend(
        decision.reward
        for item, decision in zip(considered, decisions, strict=True)
        if isinstance(item, _Pending) and decision.reward is not None
    )
    return decisions


class _AlreadyRewarded(Exception):
    pass


@dataclass
class _Pending:
    """A conversion whose rule is chosen; what it earns depends on its invoice count and spend limit."""

    conversion_id: UUID
    offer: Offer
    facts: ConversionFacts
    choice: object
    rates: dict
    rates_shown: dict
    explanation: dict
    computed: object = None


def _reward_consider(conversion_id, offer, facts, now, context) -> "RewardDecision | _Pending":
    """Everything decided without counters: an existing reward, the matching rule, a missing rate."""
    existing = context.existing_reward(conversion_id)
    if existing:
        return RewardDecision(outcome=Outcome.REWARDED, reward=existing, explanation=existing.explanation)
    rules = context.rules_for(offer=offer, partner_id=facts.partner_id)
    rates, rates_shown = context.rates_for(facts, rules)
    choice = reward_rules_match(rules, facts, rates)
    explanation = {
        "facts": facts.as_json(),
        "rules": choice.considered,
        "precedence": "partner override, then priority, then newest",
        "rates": rates_shown,
        "decided_at": now.isoformat(),
    }
    if choice.missing_rate:
        base, quote = choice.missing_rate
        explanation["outcome"] = Outcome.MISSING_EXCHANGE_RATE
        explanation["missing_rate"] = {"base": base, "quote": quote, "date": facts.occurred_at.date().isoformat()}
        return RewardDecision(outcome=Outcome.MISSING_EXCHANGE_RATE, reward=None, explanation=explanation)
    return _Pending(conversion_id, offer, facts, choice, rates, rates_shown, explanation)


def _rewards_decide(pending: list[_Pending], *, now: datetime, batch: bool) -> list[RewardDecision]:
    """Count invoices, apply recurring limits, compute amounts, charge spend limits: in order, for each.

    `batch` counts and charges the whole list with a few set-based statements (rewards/limits.py);
    otherwise each with its own single statement. Either way the outcome is the same.
    """
    subscriptions = [item for item in pending if item.facts.type == "subscription"]
    if batch:
        invoices = subscription_invoices_count([(item.offer.pk, item.facts) for item in subscriptions])
    else:
        invoices = [subscription_invoice_count(offer_id=item.offer.pk, facts=item.facts) for item in subscriptions]
    invoice_of = {id(item): invoice for item, invoice in zip(subscriptions, invoices, strict=True)}
    decisions: dict[int, RewardDecision] = {}
    to_charge = []
    for item in pending:
        rule, explanation = item.choice.rule, item.explanation
        if rule is None:
            explanation["outcome"] = Outcome.NO_MATCHING_RULE
            decisions[id(item)] = RewardDecision(outcome=Outcome.NO_MATCHING_RULE, reward=None, explanation=explanation)
            continue
        invoice = invoice_of.get(id(item))
        if invoice is not None:
            allowed, explanation["recurring"] = recurring_allows(rule, invoice, item.facts.occurred_at)
            if not allowed:
                explanation["outcome"] = Outcome.RECURRING_LIMIT_REACHED
                decisions[id(item)] = RewardDecision(
                    outcome=Outcome.RECURRING_LIMIT_REACHED, reward=None, explanation=explanation
                )
                continue
        item.computed = reward_amount_compute(rule, item.facts, item.rates)
        explanation["reward"] = _reward_explained(rule, item.computed)
        to_charge.append(item)
    requests = [
        ChargeRequest(
            rule=item.choice.rule,
            partner_id=item.facts.partner_id,
            amount=item.computed.amount,
            occurred_at=item.facts.occurred_at,
            time_zone=item.offer.advertiser.time_zone,
        )
        for item in to_charge
    ]
    if batch:
        charges = spend_charges(requests)
    else:
        charges = [spend_charge(**vars(request)) for request in requests]
    for item, charge in zip(to_charge, charges, strict=True):
        decisions[id(item)] = _reward_charged(item, charge, now=now)
    return [decisions[id(item)] for item in pending]


def _reward_explained(rule: RewardRule, computed) -> dict:
    return {
        "rule_id": rule.pk,
        "reward_type": rule.reward_type,
        "value": str(rule.value),
        "base_amount": None if computed.base_amount is None else _plain(computed.base_amount),
        "exchange_rate": None if computed.rate is None else _plain(computed.rate),
        "max_reward": None if rule.max_reward is None else str(rule.max_reward),
        "uncapped": str(computed.uncapped),
        "capped": computed.capped,
        "amount": str(computed.amount),
        "currency": computed.currency,
        "rounding": "ROUND_HALF_UP to the currency's minor unit, once",
    }


def _reward_charged(item: _Pending, charge, *, now: datetime) -> RewardDecision:
    """The reward (not saved) once its spend limit allowed it; or the cap reached."""
    explanation, facts, offer, rule, computed = (
        item.explanation,
        item.facts,
        item.offer,
        item.choice.rule,
        item.computed,
    )
    if charge.state:
        explanation["spend_limit"] = {**charge.state, "reached": not charge.allowed}
    if not charge.allowed:
        explanation["outcome"] = Outcome.CAP_REACHED
        return RewardDecision(outcome=Outcome.CAP_REACHED, reward=None, explanation=explanation)
    time_zone = offer.advertiser.time_zone
    approve_after = validation_term_end(facts.occurred_at, term_days=offer.validation_term_days, time_zone=time_zone)
    explanation["validation"] = {
        "term_days": offer.validation_term_days,
        "time_zone": time_zone,
        "approve_after": approve_after.isoformat(),
    }
    explanation["outcome"] = Outcome.REWARDED
    rate_used = item.rates_shown.get(f"{facts.currency}->{rule.currency}") if computed.rate is not None else None
    reward = instance_new(
        Reward,
        related={"offer": offer, "rule": rule},
        conversion_id=item.conversion_id,
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
    return RewardDecision(outcome=Outcome.REWARDED, reward=reward, explanation=explanation)


def _reward_save(reward: Reward, context: "RewardContext", *, now: datetime) -> None:
    try:
        with transaction.atomic():
            reward.save(force_insert=True)
    except IntegrityError:
        raise _AlreadyRewarded from None
    ledger_post(
        kind=Transaction.Kind.ACCRUAL,
        reward=reward,
        legs=_accrual_legs(reward, context),
        memo=f"reward for conversion {reward.conversion_id}",
        now=now,
        fresh=True,
    )


def _accrual_legs(reward: Reward, context: "RewardContext") -> list[tuple[Account, Decimal]]:
    payable = context.account(
        kind=Account.Kind.ADVERTISER_PAYABLE, advertiser_id=reward.offer.advertiser_id, currency=reward.currency
    )
    pending = context.account(kind=Account.Kind.PARTNER_PENDING, partner_id=reward.partner_id, currency=reward.currency)
    return [(payable, -reward.amount), (pending, reward.amount)]


def reward_grants_flush(*, context: "RewardContext", now: datetime, serialized: dict | None = None) -> int:
    """Write the rewards a batch decided, with their accruals: ids reserved in one query, then three COPYs.

    The batch holds every conversion's lock and knew their existing rewards, so
    a conflict here means something bypassed the locks: the unique constraints
    refuse it and the caller's transaction (the whole batch) rolls back.
    """
    rewards, context.to_create = context.to_create, []
    if not rewards:
        return 0
    context.accounts_load(rewards)
    postings = [
        (reward, f"reward for conversion {reward.conversion_id}", _accrual_legs(reward, context)) for reward in rewards
    ]
    if not bulk_supported():
        Reward.objects.bulk_create(rewards)
        made = Transaction.objects.bulk_create(
            Transaction(kind=Transaction.Kind.ACCRUAL, reward=reward, memo=memo, created_at=now)
            for reward, memo, _ in postings
        )
        Entry.objects.bulk_create(
            Entry(transaction=posted, account=account, amount=amount, currency=account.currency)
            for posted, (_, _, legs) in zip(made, postings, strict=True)
            for account, amount in legs
        )
        return len(rewards)
    ids = ids_reserve(len(rewards), Reward, Transaction)
    for reward, (reward_id, _) in zip(rewards, ids, strict=True):
        reward.pk = reward_id
        reward._state.adding, reward._state.db = False, "default"
    rows_copy(
        Reward,
        [*_REWARD_COLUMNS, "id"],
        ((*(getattr(reward, name) for name in _REWARD_COLUMNS), reward.pk) for reward in rewards),
        serialized=serialized,
    )
    rows_copy(
        Transaction,
        ["id", "kind", "reward_id", "memo", "created_at"],
        (
            (transaction_id, Transaction.Kind.ACCRUAL, reward.pk, memo, now)
            for (reward, memo, _), (_, transaction_id) in zip(postings, ids, strict=True)
        ),
    )
    rows_copy(
        Entry,
        ["transaction_id", "account_id", "amount", "currency"],
        (
            (transaction_id, account.pk, amount, account.currency)
            for (_, _, legs), (_, transaction_id) in zip(postings, ids, strict=True)
            for account, amount in legs
        ),
    )
    return len(rewards)


_REWARD_COLUMNS = [
    "conversion_id",
    "partner_id",
    "offer_id",
    "rule_id",
    "amount",
    "currency",
    "explanation",
    "exchange_rate",
    "rate_date",
    "occurred_at",
    "approve_after",
    "spend_counter_id",
    "created_at",
]


def _reward_locked(conversion_id=None, reward_id=None) -> Reward | None:
    query = Reward.objects.select_for_update(of=("self",)).select_related("offer__advertiser", "partner")
    return query.filter(**({"conversion_id": conversion_id} if conversion_id else {"pk": reward_id})).first()


def _approve(reward: Reward, *, now: datetime, memo: str) -> bool:
    if reward.status != Reward.Status.PENDING:
        return False
    pending = account_get(kind=Account.Kind.PARTNER_PENDING, partner=reward.partner, currency=reward.currency)
    available = account_get(kind=Account.Kind.PARTNER_AVAILABLE, partner=reward.partner, currency=reward.currency)
    ledger_post(
        kind=Transaction.Kind.APPROVAL,
        reward=reward,
        legs=[(pending, -reward.amount), (available, reward.amount)],
        memo=memo,
        now=now,
    )
    reward.status, reward.approved_at = Reward.Status.APPROVED, now
    reward.save(update_fields=["status", "approved_at"])
    return True


def reward_approve(*, conversion_id: UUID, now: datetime, memo: str = "validated by the advertiser") -> Reward | None:
    """Approve the conversion's pending reward before its term ends; a no-op for any other status."""
    with transaction.atomic():
        reward = _reward_locked(conversion_id=conversion_id)
        if reward is not None:
            _approve(reward, now=now, memo=memo)
        return reward


def rewards_approve_due(*, now: datetime, batch_size: int = 500) -> int:
    """Approve every pending reward whose validation term has ended; returns how many it approved.

    Rows another worker holds are skipped (SKIP LOCKED), so two runs at once
    share the work; each reward is re-checked under its lock, so a second run
    approves nothing twice.
    """
    approved = 0
    while True:
        with transaction.atomic():
            due = list(
                Reward.objects.select_for_update(of=("self",), skip_locked=True)
                .select_related("partner")
                .filter(status=Reward.Status.PENDING, approve_after__lte=now)
                .order_by("approve_after", "pk")[:batch_size]
            )
            for reward in due:
                approved += _approve(reward, now=now, memo="validation term ended")
        if len(due) < batch_size:
            return approved


# Where a reward's money sits in each status; a reversal takes it back from there.
_HELD_IN = {
    Reward.Status.PENDING: Account.Kind.PARTNER_PENDING,
    Reward.Status.APPROVED: Account.Kind.PARTNER_AVAILABLE,
    # Already paid out: the partner's available balance goes negative and the
    # next payout nets it off (a clawback).
    Reward.Status.PAID: Account.Kind.PARTNER_AVAILABLE,
}


def reward_reverse(*, conversion_id: UUID, reason: str, now: datetime) -> Reward | None:
    """Reverse the conversion's reward, if it has one not yet reversed, and post the reversal."""
    with transaction.atomic():
        reward = _reward_locked(conversion_id=conversion_id)
        if reward is None or reward.status == Reward.Status.REVERSED:
            return reward
        held = account_get(kind=_HELD_IN[reward.status], partner=reward.partner, currency=reward.currency)
        payable = account_get(
            kind=Account.Kind.ADVERTISER_PAYABLE, advertiser=reward.offer.advertiser, currency=reward.currency
        )
        ledger_post(
            kind=Transaction.Kind.REVERSAL,
            reward=reward,
            legs=[(held, -reward.amount), (payable, reward.amount)],
            memo=f"reversed: {reason}",
            now=now,
        )
        if reward.spend_counter_id:
            spend_release(counter_id=reward.spend_counter_id, amount=reward.amount)
        reward.reversed_from, reward.status, reward.reversed_at = reward.status, Reward.Status.REVERSED, now
        reward.save(update_fields=["status", "reversed_from", "reversed_at"])
        return reward


class RewardAdjustRefused(RewardError):
    code = "reward_adjust_refused"


def reward_amount_adjust(
    *, conversion_id: UUID, facts: ConversionFacts, now: datetime, memo: str = ""
) -> Reward | None:
    """Recompute the conversion's reward for its new facts (a new amount) and post the difference.

    The same rule and, across currencies, the same exchange rate as when it was
    granted, with the rule's cap; so only the amount moves. The difference goes
    from the advertiser's payable to the account where the reward's money sits
    (pending, or available once approved; a paid reward's difference lands in
    available, a top-up or clawback the next payout settles) as one balanced
    `adjustment` transaction, numbered per reward (`reference` 1, 2, ...).
    No reward, a reversed one, or an unchanged amount: nothing is posted.
    Call inside the caller's transaction; the reward row is locked.
    """
    with transaction.atomic():
        reward = _reward_locked(conversion_id=conversion_id)
        if reward is None or reward.status == Reward.Status.REVERSED or reward.rule is None:
            return reward
        rule = reward.rule
        rates = {(facts.currency, rule.currency): reward.exchange_rate} if facts.currency != rule.currency else {}
        computed = reward_amount_compute(rule, facts, rates)
        # Stored with four places; compared and shown in the currency's minor unit.
        old, new = money_quantize(reward.amount, reward.currency), computed.amount
        if new == old:
            return reward
        difference = new - old
        if reward.spend_counter_id:
            if difference > 0 and not _spend_charge_more(reward, difference):
                raise RewardAdjustRefused(
                    f"The new reward of {new} {reward.currency} would pass the rule's spend limit "
                    f"({rule.spend_limit} {rule.currency} per {rule.spend_limit_period})."
                )
            if difference < 0:
                spend_release(counter_id=reward.spend_counter_id, amount=-difference)
        held = account_get(kind=_HELD_IN[reward.status], partner=reward.partner, currency=reward.currency)
        payable = account_get(
            kind=Account.Kind.ADVERTISER_PAYABLE, advertiser=reward.offer.advertiser, currency=reward.currency
        )
        reference = str(reward.transactions.filter(kind=Transaction.Kind.ADJUSTMENT).count() + 1)
        posted = _adjustment_post(
            reward=reward,
            reference=reference,
            legs=[(payable, -difference), (held, difference)],
            memo=memo or f"amount changed: reward {old} -> {new} {reward.currency}",
            now=now,
        )
        explanation = dict(reward.explanation or {})
        explanation["adjustments"] = [
            *explanation.get("adjustments", []),
            {
                "at": now.isoformat(),
                "conversion_amount": str(facts.amount),
                "currency": facts.currency,
                "uncapped": str(computed.uncapped),
                "capped": computed.capped,
                "from": str(old),
                "to": str(new),
                "difference": str(difference),
                "held_in": _HELD_IN[reward.status],
                "transaction_id": posted.pk,
            },
        ]
        reward.amount, reward.explanation = new, explanation
        reward.save(update_fields=["amount", "explanation"])
        return reward


def _spend_charge_more(reward: Reward, amount: Decimal) -> bool:
    """Charge a raise to the counter the reward was charged to, if the rule's limit still allows it."""
    table = SpendCounter._meta.db_table
    limit = reward.rule.spend_limit
    with connection.cursor() as cursor:
        # The same conditional UPDATE as a grant (rewards/limits.py): no read-then-write to race.
        cursor.execute(
            f"UPDATE {table} SET spent = spent + %s WHERE id = %s AND (%s::numeric IS NULL OR spent + %s <= %s)",  # noqa: S608
            [amount, reward.spend_counter_id, limit, amount, limit],
        )
        return cursor.rowcount == 1


def _adjustment_post(*, reward: Reward, reference: str, legs, memo: str, now: datetime) -> Transaction:
    """One balanced adjustment; `ledger_post` keeps one transaction per kind, adjustments are numbered."""
    if sum(amount for _, amount in legs) != 0 or any(
        money_quantize(amount, account.currency) != amount for account, amount in legs
    ):
        raise UnbalancedTransaction(f"adjustment entries do not balance or are not rounded: {legs}")
    posted = Transaction.objects.create(
        kind=Transaction.Kind.ADJUSTMENT, reward=reward, reference=reference, memo=memo[:255], created_at=now
    )
    Entry.objects.bulk_create(
        Entry(transaction=posted, account=account, amount=amount, currency=account.currency) for account, amount in legs
    )
    return posted
