"""Property: whatever happens to conversions, in any order, the ledger stays true."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.db.models import Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conversions.errors import ConversionTransitionNotAllowed
from conversions.lifecycle import conversion_reject, conversion_validate
from conversions.models import Conversion
from conversions.processing.pipeline import conversion_process
from core.money import money_quantize
from rewards.lifecycle import rewards_approve_due
from rewards.models import Account, Entry, ExchangeRate, PayoutItem, Reward, SpendCounter, Transaction
from rewards.payouts import payout_batch_create, payout_batch_mark_paid
from tests.factories import RewardRuleFactory
from tests.rewards.conftest import make_conversion

pytestmark = pytest.mark.django_db

START = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)
ACTIONS = ("accept", "accept", "reject", "approve", "approve_due", "pay", "reverse_paid")

steps = st.lists(
    st.tuples(
        st.sampled_from(ACTIONS),
        st.integers(min_value=0, max_value=50),
        st.decimals(min_value=0, max_value=2000, places=2, allow_nan=False, allow_infinity=False),
    ),
    min_size=1,
    max_size=25,
)


class Rollback(Exception):
    pass


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=steps)
def test_any_sequence_keeps_the_ledger_balanced_capped_and_rounded(offer, alice, bob, steps):
    # Each example runs in a savepoint that is rolled back, so examples do not see each other's rows.
    try:
        with transaction.atomic():
            run(offer, alice, bob, steps)
            check_invariants()
            raise Rollback
    except Rollback:
        pass


def run(offer, alice, bob, steps) -> None:
    RewardRuleFactory(
        offer=offer,
        reward_type="percentage",
        value=Decimal("7.5"),
        max_reward=Decimal("40.00"),
        spend_limit=Decimal("100.00"),
        spend_limit_period="all_time",
    )
    # bob's override pays in yen: a rate, no minor unit, and its own cap.
    RewardRuleFactory(
        offer=offer,
        partner=bob,
        reward_type="percentage",
        value=Decimal("3"),
        currency="JPY",
        max_reward=Decimal("5000"),
        spend_limit=Decimal("12000"),
        spend_limit_period="day",
    )
    ExchangeRate.objects.create(base="USD", quote="JPY", date=date(2025, 6, 2), rate="151.37")
    conversions: list[Conversion] = []
    now = START
    for action, pick, amount in steps:
        now += timedelta(minutes=1)
        if action == "accept":
            partner = alice if pick % 2 else bob
            conversion = make_conversion(offer, partner, amount=str(amount), occurred_at=START)
            conversion_process(conversion_id=conversion.pk, now=now)
            conversions.append(conversion)
        elif action == "reject" and conversions:
            conversion_reject(conversion_id=conversions[pick % len(conversions)].pk, reason="r", remark="r", now=now)
        elif action == "approve" and conversions:
            try:
                conversion_validate(conversion_id=conversions[pick % len(conversions)].pk, now=now)
            except ConversionTransitionNotAllowed:
                pass
        elif action == "approve_due":
            rewards_approve_due(now=now + timedelta(days=365))
        elif action == "pay":
            for currency in ("USD", "JPY"):
                batch = payout_batch_create(currency=currency, period_end=now.date() + timedelta(days=400), now=now)
                payout_batch_mark_paid(batch_id=batch.pk, now=now)
        elif action == "reverse_paid":
            paid = list(Reward.objects.filter(status="paid").order_by("pk"))
            if paid:
                reward = paid[pick % len(paid)]
                conversion_reject(conversion_id=reward.conversion_id, reason="chargeback", remark="c", now=now)


def total(query) -> Decimal:
    return query.aggregate(total=Sum("amount"))["total"] or Decimal(0)


def check_invariants() -> None:
    # Every transaction sums to zero in each currency.
    for posted in Transaction.objects.all():
        per_currency: dict[str, Decimal] = {}
        for entry in posted.entries.all():
            per_currency[entry.currency] = per_currency.get(entry.currency, Decimal(0)) + entry.amount
        assert all(value == 0 for value in per_currency.values()), posted

    # Every amount is rounded to its currency.
    for entry in Entry.objects.all():
        assert money_quantize(entry.amount, entry.currency) == entry.amount
    for reward in Reward.objects.select_related("rule"):
        assert money_quantize(reward.amount, reward.currency) == reward.amount
        assert reward.rule.max_reward is None or reward.amount <= reward.rule.max_reward

    # No spend limit is exceeded, and each counter holds exactly its live rewards.
    for counter in SpendCounter.objects.select_related("rule"):
        assert counter.spent <= counter.rule.spend_limit
        live = Reward.objects.filter(spend_counter=counter).exclude(status="reversed")
        assert counter.spent == total(live)

    # Each balance is the sum of its entries, and agrees with the rewards' statuses.
    for account in Account.objects.all():
        balance = total(Entry.objects.filter(account=account))
        rewards = Reward.objects.filter(currency=account.currency)
        if account.kind == "partner_pending":
            assert balance == total(rewards.filter(partner=account.partner, status="pending"))
        elif account.kind == "partner_paid":
            assert balance == total(
                PayoutItem.objects.filter(partner=account.partner, currency=account.currency, batch__status="paid")
            )
        elif account.kind == "advertiser_payable":
            assert balance == -total(rewards.exclude(status="reversed"))
    for partner_id, currency in Reward.objects.values_list("partner_id", "currency").distinct():
        held = total(
            Entry.objects.filter(
                account__partner_id=partner_id,
                account__currency=currency,
                account__kind__in=["partner_pending", "partner_available", "partner_paid"],
            )
        )
        earned = total(Reward.objects.filter(partner_id=partner_id, currency=currency).exclude(status="reversed"))
        assert held == earned
