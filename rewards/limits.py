"""Spend and recurring limits, race-safe: in the rewards' transaction the counter rows are created if missing,
locked in id order (a concurrent set waits, then reads our total), counted on in the set's order, written back."""

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from django.db.models import F

from core.rows import rows_lock, rows_update
from rewards.engine import ConversionFacts
from rewards.models import Recurring, RewardRule, SpendCounter, SubscriptionInvoices
from rewards.periods import months_after, spend_period_start

# What a subscription's row holds before a batch counts its first invoice (invoices_seen is 0 then).
EPOCH_START = datetime(1970, 1, 1, tzinfo=UTC)


def spend_release(*, counter_id: int, amount: Decimal) -> None:
    """Give a reversed reward's amount back to its period's limit."""
    SpendCounter.objects.filter(pk=counter_id, spent__gte=amount).update(spent=F("spent") - amount)


@dataclass(frozen=True)
class Invoice:
    number: int  # 1 for the first invoice of the subscription processed, 2 for the next, ...
    first_invoice_at: datetime


def recurring_allows(rule: RewardRule, invoice: Invoice, occurred_at: datetime) -> tuple[bool, dict]:
    """Whether the rule pays this invoice of the subscription, and the state for the explanation."""
    state = {
        "recurring": rule.recurring or "every",
        "count": rule.recurring_count,
        "invoice_number": invoice.number,
        "first_invoice_at": invoice.first_invoice_at.isoformat(),
    }
    if rule.recurring == Recurring.FIRST_ONLY:
        return invoice.number == 1, state
    if rule.recurring == Recurring.FIRST_N:
        return invoice.number <= rule.recurring_count, state
    if rule.recurring == Recurring.WITHIN_MONTHS:
        until = months_after(invoice.first_invoice_at, rule.recurring_count)
        state["until"] = until.isoformat()
        return occurred_at < until, state
    return True, state


@dataclass(frozen=True)
class ChargeRequest:
    rule: RewardRule
    partner_id: int
    amount: Decimal
    occurred_at: datetime
    time_zone: str


@dataclass(frozen=True)
class SpendCharge:
    allowed: bool
    counter_id: int | None = None
    state: dict | None = None  # for the explanation; None when the rule has no limit


def spend_charges(requests: list[ChargeRequest]) -> list[SpendCharge]:
    """Charge each amount to its rule's spend limit for the partner's period, in order, if it fits (never overshot)."""
    keys = [
        None
        if request.rule.spend_limit is None
        else (
            request.rule.pk,
            request.partner_id,
            spend_period_start(
                request.occurred_at, period=request.rule.spend_limit_period, time_zone=request.time_zone
            ),
        )
        for request in requests
    ]
    counters = rows_lock(
        SpendCounter,
        ["rule_id", "partner_id", "period_start"],
        {key for key in keys if key is not None},
        fill={"spent": 0},
        read=["spent"],
    )
    charges, changed = [], {}
    for request, key in zip(requests, keys, strict=True):
        if key is None:
            charges.append(SpendCharge(allowed=True))
            continue
        counter, rule = counters[key], request.rule
        state = {
            "limit": str(rule.spend_limit),
            "period": rule.spend_limit_period,
            "period_start": key[2].isoformat(),
            "time_zone": request.time_zone,
            "amount": str(request.amount),
            "spent_before": str(counter.spent),
        }
        if counter.spent + request.amount > rule.spend_limit:
            charges.append(SpendCharge(allowed=False, state=state))
            continue
        counter.spent += request.amount
        changed[counter.pk] = counter
        charges.append(
            SpendCharge(allowed=True, counter_id=counter.pk, state={**state, "spent_after": str(counter.spent)})
        )
    rows_update(SpendCounter, ["spent"], changed.values())
    return charges


def subscription_invoices_count(items: list[tuple[int, ConversionFacts]]) -> list[Invoice]:
    """Number each (offer_id, facts) invoice of its subscription in order (none: invoice 1), and its earliest date."""
    keys = {(offer_id, facts.subscription_id) for offer_id, facts in items if facts.subscription_id}
    rows = rows_lock(
        SubscriptionInvoices,
        ["offer_id", "subscription_id"],
        keys,
        fill={"first_invoice_at": EPOCH_START, "invoices_seen": 0},
        read=["first_invoice_at", "invoices_seen"],
    )
    invoices = []
    for offer_id, facts in items:
        row = rows.get((offer_id, facts.subscription_id)) if facts.subscription_id else None
        if row is None:
            invoices.append(Invoice(number=1, first_invoice_at=facts.occurred_at))
            continue
        if row.invoices_seen == 0 or facts.occurred_at < row.first_invoice_at:
            row.first_invoice_at = facts.occurred_at
        row.invoices_seen += 1
        invoices.append(Invoice(number=row.invoices_seen, first_invoice_at=row.first_invoice_at))
    rows_update(SubscriptionInvoices, ["invoices_seen", "first_invoice_at"], rows.values())
    return invoices
