"""One rounding rule: ROUND_HALF_UP at the currency's minor unit, once, at the end."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from conversions.processing.pipeline import conversion_process
from core.money import money_quantize
from rewards.models import ExchangeRate, Reward
from tests.factories import RewardRuleFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("0.005", "USD", "0.01"),
        ("0.0049", "USD", "0.00"),
        ("2.675", "USD", "2.68"),  # a float would make this 2.67
        ("1.125", "EUR", "1.13"),
        ("0.5", "JPY", "1"),
        ("1.49", "JPY", "1"),
        ("2.5", "JPY", "3"),
        ("0.0005", "KWD", "0.001"),
        ("1.2344", "KWD", "1.234"),
    ],
)
def test_half_up_at_the_minor_unit(amount, currency, expected):
    assert str(money_quantize(Decimal(amount), currency)) == expected


@pytest.mark.parametrize(
    ("amount", "percent", "expected"),
    [("0.25", "10", "0.03"), ("0.15", "10", "0.02"), ("10.05", "5", "0.50"), ("33.33", "1.5", "0.50")],
)
def test_a_percentage_reward_rounds_half_up_once(offer, alice, conversion_for, amount, percent, expected):
    RewardRuleFactory(offer=offer, reward_type="percentage", value=Decimal(percent))
    conversion_process(conversion_id=conversion_for(offer, alice, amount=amount).pk)
    assert Reward.objects.get().amount == Decimal(expected)


def test_a_yen_reward_from_a_dollar_sale_has_no_decimals(offer, alice, conversion_for):
    RewardRuleFactory(offer=offer, reward_type="percentage", value=Decimal("3"), currency="JPY")
    ExchangeRate.objects.create(base="USD", quote="JPY", date=datetime(2025, 6, 2, tzinfo=UTC).date(), rate="151.37")
    conversion_process(conversion_id=conversion_for(offer, alice, amount="19.99").pk)

    reward = Reward.objects.get()
    # 19.99 USD * 151.37 = 3025.8863 JPY; 3% of it = 90.774589 -> 91 yen.
    assert reward.amount == Decimal("91") and reward.currency == "JPY"
    assert reward.exchange_rate == Decimal("151.37") and str(reward.rate_date) == "2025-06-02"
    assert reward.explanation["reward"]["base_amount"] == "3025.8863"


def test_rounding_happens_once_not_per_step(offer, alice, conversion_for):
    # 10.05 USD -> EUR at 0.5 = 5.025 (would round to 5.03), then 50% = 2.5125 -> 2.51.
    # Rounding the converted amount first would give 2.52 (5.03 * 50% = 2.515 -> 2.52).
    RewardRuleFactory(offer=offer, reward_type="percentage", value=Decimal("50"), currency="EUR")
    ExchangeRate.objects.create(base="USD", quote="EUR", date=datetime(2025, 6, 2, tzinfo=UTC).date(), rate="0.5")
    conversion_process(conversion_id=conversion_for(offer, alice, amount="10.05").pk)
    assert Reward.objects.get().amount == Decimal("2.51")
