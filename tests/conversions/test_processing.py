from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from conversions.intake.recording import ConversionReport, conversion_record
from conversions.lifecycle import conversion_approve, conversion_reject
from conversions.models import Conversion, StatusChange
from conversions.processing.pipeline import conversion_process
from referrals.models import Click
from rewards.ledger import account_balance
from rewards.models import Account, Entry, Reward, Transaction
from tests.factories import RewardRuleFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def click(alice_link):
    return Click.objects.create(
        click_id="k" * 32,
        link=alice_link,
        offer=alice_link.offer,
        partner=alice_link.partner,
        created_at=timezone.now() - timedelta(minutes=5),
    )


def record(acme, **fields) -> Conversion:
    report = ConversionReport(
        **{
            "type": "purchase",
            "external_id": "o-1",
            "amount": Decimal("200.00"),
            "product_id": "sku",
            "click_id": "k" * 32,
            **fields,
        }
    )
    conversion, _ = conversion_record(advertiser=acme, report=report, channel="api")
    return conversion


def test_fixed_reward_is_posted_balanced_and_accepted(acme, offer, click):
    RewardRuleFactory(offer=offer, reward_type="fixed", value=Decimal("7.50"))
    conversion = record(acme)

    assert conversion_process(conversion_id=conversion.pk) == "accepted"

    reward = Reward.objects.get(conversion_id=conversion.pk)
    assert reward.amount == Decimal("7.50") and reward.status == "pending" and reward.partner == click.partner
    transaction = Transaction.objects.get(reward=reward)
    assert sum(entry.amount for entry in transaction.entries.all()) == 0
    pending = Account.objects.get(kind="partner_pending", partner=click.partner, currency="USD")
    assert account_balance(pending) == Decimal("7.50")
    payable = Account.objects.get(kind="advertiser_payable", advertiser=acme)
    assert account_balance(payable) == Decimal("-7.50")


def test_percentage_reward_is_capped_at_the_maximum(acme, offer, click):
    RewardRuleFactory(offer=offer, reward_type="percentage", value=Decimal("10"), max_reward=Decimal("15.00"))
    conversion = record(acme, amount=Decimal("200.00"))

    conversion_process(conversion_id=conversion.pk)

    reward = Reward.objects.get()
    assert reward.amount == Decimal("15.00")
    assert reward.explanation["reward"]["uncapped"] == "20.00" and reward.explanation["reward"]["capped"] is True


def test_percentage_reward_below_the_cap_rounds_half_up(acme, offer, click):
    RewardRuleFactory(offer=offer, reward_type="percentage", value=Decimal("10"), max_reward=Decimal("50"))
    conversion = record(acme, amount=Decimal("0.25"))

    conversion_process(conversion_id=conversion.pk)

    assert Reward.objects.get().amount == Decimal("0.03")  # 0.025 -> 0.03


def test_no_matching_rule_rejects_with_a_reason(acme, offer, click):
    RewardRuleFactory(offer=offer, conversion_type="subscription")
    conversion = record(acme)

    assert conversion_process(conversion_id=conversion.pk) == "rejected"

    conversion.refresh_from_db()
    assert conversion.status_reason == "no_matching_rule"
    assert not Reward.objects.exists() and not Entry.objects.exists()


@pytest.mark.parametrize(
    ("rule", "matches"),
    [
        ({"min_amount": Decimal("100")}, True),
        ({"min_amount": Decimal("300")}, False),
        ({"max_amount": Decimal("150")}, False),
        ({"conditions": [{"field": "category", "operator": "eq", "value": "shoes"}]}, True),
        ({"conditions": [{"field": "category", "operator": "eq", "value": "hats"}]}, False),
        ({"conditions": [{"field": "product_id", "operator": "in", "value": ["sku", "x"]}]}, True),
        ({"conditions": [{"field": "currency", "operator": "eq", "value": "EUR"}]}, False),
        ({"conditions": [{"field": "plan", "operator": "eq", "value": "pro"}]}, False),
        ({"conditions": [{"field": "meta.first_order", "operator": "eq", "value": "True"}]}, True),
    ],
)
def test_rules_match_by_amount_range_and_conditions(acme, offer, click, rule, matches):
    RewardRuleFactory(offer=offer, **rule)
    conversion = record(acme, category="shoes", meta={"first_order": True})

    status = conversion_process(conversion_id=conversion.pk)

    assert status == ("accepted" if matches else "rejected")


def test_partner_override_beats_a_higher_priority_offer_rule(acme, offer, click):
    RewardRuleFactory(offer=offer, value=Decimal("1.00"), priority=100)
    RewardRuleFactory(offer=offer, partner=click.partner, value=Decimal("9.00"), priority=0)

    conversion_process(conversion_id=record(acme).pk)

    assert Reward.objects.get().amount == Decimal("9.00")


def test_the_job_run_twice_rewards_once(acme, offer, click):
    RewardRuleFactory(offer=offer)
    conversion = record(acme)

    conversion_process(conversion_id=conversion.pk)
    conversion_process(conversion_id=conversion.pk)

    assert Reward.objects.count() == 1 and Transaction.objects.count() == 1
    assert StatusChange.objects.filter(conversion=conversion).count() == 2  # created, accepted


def test_reject_after_accept_reverses_the_reward_in_the_ledger(acme, offer, click):
    RewardRuleFactory(offer=offer, value=Decimal("5.00"))
    conversion = record(acme)
    conversion_process(conversion_id=conversion.pk)

    conversion_reject(conversion_id=conversion.pk, reason="returned", remark="The order was returned.")
    conversion_reject(conversion_id=conversion.pk, reason="returned", remark="The order was returned.")

    conversion.refresh_from_db()
    assert conversion.status == "rejected" and conversion.status_remark == "The order was returned."
    assert Reward.objects.get().status == "reversed"
    pending = Account.objects.get(kind="partner_pending", partner=click.partner)
    assert account_balance(pending) == 0
    assert Transaction.objects.filter(kind="reversal").count() == 1


def test_approve_a_suspicious_conversion_rewards_exactly_once(acme, offer, click):
    RewardRuleFactory(offer=offer)
    conversion = record(acme)
    Conversion.objects.filter(pk=conversion.pk).update(status="suspicious")

    conversion_approve(conversion_id=conversion.pk)
    conversion_approve(conversion_id=conversion.pk)

    conversion.refresh_from_db()
    assert conversion.status == "accepted"
    assert Reward.objects.count() == 1 and Transaction.objects.count() == 1


def test_the_ledger_refuses_updates_and_deletes(acme, offer, click):
    RewardRuleFactory(offer=offer)
    conversion_process(conversion_id=record(acme).pk)

    with pytest.raises(Exception, match="append-only"), connection.cursor() as cursor:
        cursor.execute("UPDATE rewards_entry SET amount = 0")
