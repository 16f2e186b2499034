"""Spend limits per rule, partner and period, and recurring limits per subscription."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from conversions.lifecycle import conversion_reject
from conversions.models import Conversion
from conversions.processing.pipeline import conversion_process
from rewards.models import Reward, SpendCounter
from tests.factories import RewardRuleFactory

pytestmark = pytest.mark.django_db

MONDAY = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)


def process(conversion) -> Conversion:
    conversion_process(conversion_id=conversion.pk)
    conversion.refresh_from_db()
    return conversion


def test_a_daily_spend_limit_rejects_past_the_limit_with_cap_reached(offer, alice, bob, conversion_for):
    RewardRuleFactory(offer=offer, value=Decimal("4.00"), spend_limit=Decimal("10.00"), spend_limit_period="day")

    statuses = [process(conversion_for(offer, alice, occurred_at=MONDAY)).status for _ in range(3)]

    assert statuses == ["accepted", "accepted", "rejected"]
    capped = Conversion.objects.get(status="rejected")
    assert capped.status_reason == "cap_reached"
    assert capped.reward_explanation["spend_limit"] == {
        "limit": "10.0000",
        "period": "day",
        "period_start": "2025-06-02",
        "time_zone": "UTC",
        "amount": "4.00",
        "spent_before": "8.0000",
        "reached": True,
    }
    # Per partner: bob has his own 10.00 that day; and alice has a new 10.00 the next day.
    assert process(conversion_for(offer, bob, occurred_at=MONDAY)).status == "accepted"
    assert process(conversion_for(offer, alice, occurred_at=MONDAY + timedelta(days=1))).status == "accepted"


def test_a_reward_that_would_overshoot_the_limit_is_refused_whole(offer, alice, conversion_for):
    RewardRuleFactory(offer=offer, value=Decimal("6.00"), spend_limit=Decimal("10.00"), spend_limit_period="all_time")
    assert process(conversion_for(offer, alice)).status == "accepted"
    assert process(conversion_for(offer, alice, occurred_at=MONDAY + timedelta(days=400))).status == "rejected"
    assert Reward.objects.get().amount == Decimal("6.00")


@pytest.mark.parametrize(
    ("period", "second_at", "same_period"),
    [
        ("week", datetime(2025, 6, 8, 23, 0, tzinfo=UTC), True),  # Sunday of the same ISO week
        ("week", datetime(2025, 6, 9, 0, 0, tzinfo=UTC), False),  # the next Monday
        ("month", datetime(2025, 6, 30, 23, 59, tzinfo=UTC), True),
        ("month", datetime(2025, 7, 1, 0, 0, tzinfo=UTC), False),
    ],
)
def test_week_and_month_periods(offer, alice, conversion_for, period, second_at, same_period):
    RewardRuleFactory(offer=offer, value=Decimal("5.00"), spend_limit=Decimal("5.00"), spend_limit_period=period)
    process(conversion_for(offer, alice, occurred_at=MONDAY))
    second = process(conversion_for(offer, alice, occurred_at=second_at))
    assert second.status == ("rejected" if same_period else "accepted")


def test_the_period_is_the_advertisers_local_day(offer, alice, conversion_for):
    offer.advertiser.time_zone = "America/New_York"
    offer.advertiser.save()
    RewardRuleFactory(offer=offer, value=Decimal("5.00"), spend_limit=Decimal("5.00"), spend_limit_period="day")
    # 23:30 UTC on June 2 is 19:30 on June 2 in New York; 03:30 UTC on June 3 is still June 2 there.
    process(conversion_for(offer, alice, occurred_at=datetime(2025, 6, 2, 23, 30, tzinfo=UTC)))
    late = process(conversion_for(offer, alice, occurred_at=datetime(2025, 6, 3, 3, 30, tzinfo=UTC)))
    assert late.status == "rejected" and late.reward_explanation["spend_limit"]["period_start"] == "2025-06-02"


def test_a_reversed_reward_gives_its_room_back(offer, alice, conversion_for):
    RewardRuleFactory(offer=offer, value=Decimal("5.00"), spend_limit=Decimal("5.00"), spend_limit_period="day")
    first = process(conversion_for(offer, alice))
    conversion_reject(conversion_id=first.pk, reason="returned", remark="Returned.")
    assert SpendCounter.objects.get().spent == 0
    assert process(conversion_for(offer, alice)).status == "accepted"


def subscription(offer, partner, conversion_for, *, months_later=0, sub="sub-1"):
    when = datetime(2025, 1, 31, 10, 0, tzinfo=UTC)
    month = when.month + months_later
    when = when.replace(year=when.year + (month - 1) // 12, month=(month - 1) % 12 + 1, day=28)
    return process(
        conversion_for(offer, partner, type="subscription", product_id="", subscription_id=sub, occurred_at=when)
    )


def test_first_invoice_only(offer, alice, conversion_for):
    RewardRuleFactory(offer=offer, recurring="first_only")
    statuses = [subscription(offer, alice, conversion_for, months_later=n).status for n in range(3)]
    assert statuses == ["accepted", "rejected", "rejected"]
    rejected = Conversion.objects.filter(status="rejected").first()
    assert rejected.status_reason == "recurring_limit_reached"
    assert rejected.reward_explanation["recurring"]["recurring"] == "first_only"
    # Another subscription starts its own count.
    assert subscription(offer, alice, conversion_for, sub="sub-2").status == "accepted"


def test_first_n_invoices(offer, alice, conversion_for):
    RewardRuleFactory(offer=offer, recurring="first_n", recurring_count=3)
    statuses = [subscription(offer, alice, conversion_for, months_later=n).status for n in range(5)]
    assert statuses == ["accepted"] * 3 + ["rejected"] * 2


def test_invoices_within_n_months_of_the_first(offer, alice, conversion_for):
    RewardRuleFactory(offer=offer, recurring="within_months", recurring_count=12)
    # The first invoice is on Feb 28 2025 (see `subscription`); Feb 28 2026 is 12 months later and is out.
    statuses = [subscription(offer, alice, conversion_for, months_later=n).status for n in (1, 6, 12, 13)]
    assert statuses == ["accepted", "accepted", "accepted", "rejected"]


def test_every_invoice_pays_without_a_recurring_limit(offer, alice, conversion_for):
    RewardRuleFactory(offer=offer)
    assert {subscription(offer, alice, conversion_for, months_later=n).status for n in range(4)} == {"accepted"}
