"""Reads of rewards for the apps above (conversions' API and pages) and for the admin."""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from uuid import UUID

from django.utils import timezone

from referrals.models import Offer
from rewards.engine import ConversionFacts, reward_amount_compute
from rewards.grants import RuleBook
from rewards.limits import Invoice, recurring_allows
from rewards.models import Reward, RewardRule
from rewards.periods import spend_period_start


def reward_for_conversion(conversion_id: UUID) -> Reward | None:
    return Reward.objects.filter(conversion_id=conversion_id).first()


def rewards_by_conversion(conversion_ids: Iterable[UUID]) -> dict[UUID, Reward]:
    """The rewards of many conversions in one query, for list views."""
    return {reward.conversion_id: reward for reward in Reward.objects.filter(conversion_id__in=list(conversion_ids))}


@dataclass
class SimulatedConversion:
    """One past conversion as the simulation sees it: facts in, what it actually earned."""

    conversion_id: UUID
    offer: Offer
    facts: ConversionFacts
    actual_amount: Decimal  # 0 when it earned nothing or was reversed
    actual_currency: str


@dataclass
class SimulationLine:
    partner_id: int
    currency: str
    before: Decimal = Decimal(0)
    after: Decimal = Decimal(0)
    conversions: int = 0
    changed: int = 0

    @property
    def difference(self) -> Decimal:
        return self.after - self.before


@dataclass
class SimulationResult:
    lines: list[SimulationLine]
    totals: list[SimulationLine]  # partner_id 0: one line per currency
    examples: list[dict] = field(default_factory=list)  # a few changed conversions, explained
    waiting_for_rates: int = 0


def rule_simulate(*, draft: RewardRule, conversions: list[SimulatedConversion]) -> SimulationResult:
    """What the active rules with `draft` would have paid against what each conversion earned; writes nothing.
    Spend and recurring limits are replayed from zero over the conversions given."""
    if draft.created_at is None:
        draft.created_at = timezone.now()  # a new rule is the newest
    book = RuleBook([(item.offer.pk, item.facts) for item in conversions], draft=draft)
    lines: dict[tuple[int, str], SimulationLine] = {}
    spent: dict[tuple, Decimal] = defaultdict(Decimal)
    invoices: dict[tuple[int, str], list] = defaultdict(list)
    result = SimulationResult(lines=[], totals=[])
    for item in sorted(conversions, key=lambda c: c.facts.occurred_at):
        facts, offer = item.facts, item.offer
        choice, needed, _ = book.match(offer.pk, facts)
        after, currency, why = Decimal(0), item.actual_currency, "no rule"
        if choice.missing_rate:
            result.waiting_for_rates += 1
            why = "missing rate"
        elif rule := choice.rule:
            computed = reward_amount_compute(rule, facts, needed)
            currency, why = rule.currency, f"rule {rule.name}"
            allowed = True
            if facts.type == "subscription" and facts.subscription_id:
                seen = invoices[(offer.pk, facts.subscription_id)]
                seen.append(facts.occurred_at)
                allowed, _ = recurring_allows(rule, Invoice(len(seen), min(seen)), facts.occurred_at)
                why = why if allowed else "recurring limit"
            if allowed and rule.spend_limit is not None:
                time_zone = offer.advertiser.time_zone
                start = spend_period_start(facts.occurred_at, period=rule.spend_limit_period, time_zone=time_zone)
                key = (rule.pk, facts.partner_id, start)
                allowed = spent[key] + computed.amount <= rule.spend_limit
                spent[key] += computed.amount if allowed else 0
                why = why if allowed else "spend limit"
            after = computed.amount if allowed else Decimal(0)
        # A rule change may move a conversion's reward to another currency: before and after per currency.
        _line(lines, facts.partner_id, item.actual_currency).before += item.actual_amount
        line = _line(lines, facts.partner_id, currency)
        line.after += after
        changed = after != item.actual_amount or (after and currency != item.actual_currency)
        line.conversions += 1
        line.changed += bool(changed)
        if changed and len(result.examples) < 20:
            result.examples.append(
                {
                    "conversion_id": str(item.conversion_id),
                    "partner_id": facts.partner_id,
                    "amount": f"{facts.amount} {facts.currency}",
                    "before": f"{item.actual_amount} {item.actual_currency}",
                    "after": f"{after} {currency}",
                    "why": why,
                }
            )
    result.lines = sorted(lines.values(), key=lambda line: (line.partner_id, line.currency))
    totals: dict[tuple[int, str], SimulationLine] = {}
    for line in result.lines:
        total = _line(totals, 0, line.currency)
        for name in ("before", "after", "conversions", "changed"):
            setattr(total, name, getattr(total, name) + getattr(line, name))
    result.totals = sorted(totals.values(), key=lambda line: line.currency)
    return result


def _line(lines: dict[tuple[int, str], SimulationLine], partner_id: int, currency: str) -> SimulationLine:
    return lines.setdefault((partner_id, currency), SimulationLine(partner_id=partner_id, currency=currency))
