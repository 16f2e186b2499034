"""Spend limits hold when many workers process conversions at the same moment."""

import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from django.db import connection

from conversions.models import Conversion
from conversions.processing.pipeline import conversion_process
from rewards.ledger import partner_balance
from rewards.models import Reward, SpendCounter, SubscriptionInvoices
from tests.factories import RewardRuleFactory

pytestmark = pytest.mark.django_db(transaction=True)


def race(conversions) -> list[str]:
    start = threading.Barrier(len(conversions))

    def process(conversion_id):
        try:
            start.wait()
            return conversion_process(conversion_id=conversion_id)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=len(conversions)) as pool:
        return list(pool.map(process, [conversion.pk for conversion in conversions]))


def test_50_conversions_racing_a_cap_of_10_reward_exactly_10(offer, alice, conversion_for):
    RewardRuleFactory(offer=offer, value=Decimal("1.00"), spend_limit=Decimal("10.00"), spend_limit_period="day")
    conversions = [conversion_for(offer, alice) for _ in range(50)]

    statuses = race(conversions)

    assert statuses.count("accepted") == 10 and statuses.count("rejected") == 40
    assert Reward.objects.count() == 10
    assert SpendCounter.objects.get().spent == Decimal("10.00")
    assert partner_balance(partner=alice, kind="partner_pending", currency="USD") == Decimal("10.00")
    assert set(Conversion.objects.filter(status="rejected").values_list("status_reason", flat=True)) == {"cap_reached"}


def test_invoices_of_one_subscription_racing_a_first_only_rule_reward_one(offer, alice, conversion_for):
    RewardRuleFactory(offer=offer, recurring="first_only")
    invoices = [
        conversion_for(offer, alice, type="subscription", product_id="", subscription_id="sub-9") for _ in range(8)
    ]

    statuses = race(invoices)

    assert statuses.count("accepted") == 1 and Reward.objects.count() == 1
    assert SubscriptionInvoices.objects.get().invoices_seen == 8
