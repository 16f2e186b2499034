"""The one processor, on a set of one conversion and on a set of many: each behaviour holds for both.

A set of one goes through the job for one conversion (`conversion_process`); a set of many through
one sweeper batch. Both are the same code (conversions/processing/pipeline.py); these tests say what
it does, whatever the size.
"""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db.models import Sum
from django.utils import timezone

from conversions.lifecycle import conversion_approve
from conversions.models import Conversion, ConversionStat, ConversionSub1Stat, PartnerPostback, PostbackDispatch
from conversions.processing.pipeline import conversion_process, conversions_process_pending
from conversions.rollups import rollup_conversions_rebuild
from referrals.models import Partner
from rewards.ledger import account_balance
from rewards.models import Account, Entry, Reward, SpendCounter, Transaction
from rewards.rates import exchange_rate_set
from tests.factories import PartnerFactory, RewardRuleFactory, UserFactory
from tests.rewards.conftest import make_conversion

pytestmark = pytest.mark.django_db

SIZES = pytest.mark.parametrize("size", [1, 30], ids=["one", "many"])


def process(conversions: list[Conversion], **options) -> None:
    """The set as the system processes it: the job for a single conversion, one sweeper batch for many."""
    if len(conversions) == 1 and not options:
        conversion_process(conversion_id=conversions[0].pk)
    else:
        conversions_process_pending(batch_size=len(conversions), **options)


def in_order(n: int) -> datetime:
    """A creation time n seconds after the first: the sweeper takes the oldest first."""
    return datetime(2025, 6, 2, 12, 0, tzinfo=UTC) + timedelta(seconds=n)


def statuses(conversions) -> list[tuple[str, str]]:
    found = dict(Conversion.objects.filter(pk__in=[c.pk for c in conversions]).values_list("pk", "status"))
    reasons = dict(Conversion.objects.filter(pk__in=[c.pk for c in conversions]).values_list("pk", "status_reason"))
    return [(found[c.pk], reasons[c.pk]) for c in conversions]


@SIZES
def test_each_conversion_is_rewarded_posted_balanced_and_accepted(offer, alice, size):
    RewardRuleFactory(offer=offer, reward_type="fixed", value=Decimal("7.50"))
    conversions = [make_conversion(offer, alice) for _ in range(size)]

    process(conversions)

    assert statuses(conversions) == [("accepted", "")] * size
    assert Reward.objects.filter(amount=Decimal("7.50"), status="pending", partner=alice).count() == size
    assert Transaction.objects.filter(kind="accrual").count() == size
    for transaction in Transaction.objects.prefetch_related("entries"):
        assert sum(entry.amount for entry in transaction.entries.all()) == 0
    pending = Account.objects.get(kind="partner_pending", partner=alice, currency="USD")
    payable = Account.objects.get(kind="advertiser_payable", advertiser=offer.advertiser, currency="USD")
    assert account_balance(pending) == Decimal("7.50") * size
    assert account_balance(payable) == Decimal("-7.50") * size
    for conversion in Conversion.objects.filter(pk__in=[c.pk for c in conversions]):
        reward = Reward.objects.get(conversion_id=conversion.pk)
        assert conversion.reward_explanation == reward.explanation
        assert reward.explanation["outcome"] == "rewarded"
        assert list(conversion.status_changes.values_list("to_status", "channel")) == [
            ("pending", "api"),
            ("accepted", "job"),
        ]


@SIZES
def test_a_percentage_is_capped_and_rounded_half_up_once(offer, alice, size):
    RewardRuleFactory(offer=offer, reward_type="percentage", value=Decimal("10"), max_reward=Decimal("50"))
    capped = [make_conversion(offer, alice, amount="900.00") for _ in range(size)]
    rounded = [make_conversion(offer, alice, amount="0.25") for _ in range(size)]

    for conversions in (capped, rounded):
        process(conversions)

    assert (
        sorted(Reward.objects.values_list("amount", flat=True)) == [Decimal("0.03")] * size + [Decimal("50.00")] * size
    )
    explanation = Reward.objects.filter(amount=Decimal("50")).first().explanation["reward"]
    assert explanation["uncapped"] == "90.00" and explanation["capped"] is True


@SIZES
def test_no_matching_rule_rejects_with_the_reason_and_posts_nothing(offer, alice, size):
    RewardRuleFactory(offer=offer, min_amount=Decimal("50"))
    conversions = [make_conversion(offer, alice, amount="10.00") for _ in range(size)]

    process(conversions)

    assert statuses(conversions) == [("rejected", "no_matching_rule")] * size
    conversion = Conversion.objects.get(pk=conversions[-1].pk)
    assert conversion.status_remark == "No reward rule of the offer applies to this conversion."
    assert conversion.reward_explanation["rules"][0]["reason"] == "amount 10 USD below 50.0000"
    assert not Reward.objects.exists() and not Entry.objects.exists()


@SIZES
def test_a_subscription_earns_on_its_first_two_invoices_only(offer, alice, size):
    RewardRuleFactory(
        offer=offer, conversion_type="subscription", value=Decimal("5"), recurring="first_n", recurring_count=2
    )
    invoices = [
        make_conversion(offer, alice, type="subscription", subscription_id="sub-1", created_at=in_order(n))
        for n in range(size)
    ]

    process(invoices)

    paid = min(size, 2)
    assert statuses(invoices) == [("accepted", "")] * paid + [("rejected", "recurring_limit_reached")] * (size - paid)
    numbers = [
        Conversion.objects.get(pk=invoice.pk).reward_explanation["recurring"]["invoice_number"] for invoice in invoices
    ]
    assert numbers == list(range(1, size + 1))


@SIZES
def test_a_spend_limit_pays_until_it_is_reached_in_the_sets_order(offer, alice, size):
    RewardRuleFactory(offer=offer, value=Decimal("7"), spend_limit=Decimal("20"), spend_limit_period="day")
    conversions = [make_conversion(offer, alice, created_at=in_order(n)) for n in range(size)]

    process(conversions)

    paid = min(size, 2)
    assert statuses(conversions) == [("accepted", "")] * paid + [("rejected", "cap_reached")] * (size - paid)
    assert SpendCounter.objects.get().spent == Decimal("7") * paid


@SIZES
def test_a_missing_rate_waits_and_the_retry_rewards_once_the_rate_is_there(offer, alice, size):
    RewardRuleFactory(offer=offer, reward_type="percentage", value=Decimal("10"), currency="EUR")
    conversions = [make_conversion(offer, alice, amount="50.00") for _ in range(size)]

    process(conversions)
    assert statuses(conversions) == [("pending", "missing_exchange_rate")] * size
    assert not Reward.objects.exists()

    exchange_rate_set(base="USD", quote="EUR", day=date(2025, 6, 2), rate=Decimal("0.9"))
    process(conversions, retry_missing_rates=True)

    assert statuses(conversions) == [("accepted", "")] * size
    assert set(Reward.objects.values_list("amount", "currency")) == {(Decimal("4.50"), "EUR")}


@SIZES
def test_fraud_screening_holds_before_any_reward_and_staff_approval_rewards_once(offer, size):
    RewardRuleFactory(offer=offer, value=Decimal("3.00"))
    carol = PartnerFactory(user=UserFactory(username="carol"), referral_code="CAROL")
    Partner.objects.filter(pk=carol.pk).update(
        status=Partner.Status.SUSPENDED, suspended_reason="chargebacks", suspended_at=timezone.now()
    )
    conversions = [make_conversion(offer, carol) for _ in range(size)]

    process(conversions)
    assert statuses(conversions) == [("suspicious", "partner_suspended")] * size
    assert not Reward.objects.exists()

    for conversion in conversions:
        conversion_approve(conversion_id=conversion.pk, remark="Checked by hand.")
        conversion_approve(conversion_id=conversion.pk, remark="Checked by hand.")

    assert statuses(conversions) == [("accepted", "")] * size
    assert Reward.objects.count() == size and Transaction.objects.count() == size
    assert set(Conversion.objects.values_list("status_remark", flat=True)) == {"Checked by hand."}


@SIZES
def test_each_status_change_is_dispatched_to_the_partners_postback(offer, alice, bob, size):
    RewardRuleFactory(offer=offer)
    PartnerPostback.objects.create(
        partner=alice, url="https://alice.example/pb", secret="s" * 32, created_at=timezone.now()
    )
    alices = [make_conversion(offer, alice) for _ in range(size)]
    bobs = [make_conversion(offer, bob) for _ in range(size)]

    process([*alices, *bobs])

    dispatched = PostbackDispatch.objects.values_list("conversion_id", "event", "status")
    assert sorted(dispatched) == sorted((c.pk, "status_changed", "accepted") for c in alices)
    payout = PostbackDispatch.objects.first().payload["payout"]
    assert payout == "5.00"  # the factory's fixed reward: the payload reads the written reward


@SIZES
def test_the_earnings_rollups_hold_what_a_rebuild_counts(offer, alice, bob, size):
    RewardRuleFactory(offer=offer, reward_type="percentage", value=Decimal("10"))
    conversions = [make_conversion(offer, alice if n % 3 else bob, amount="20.00") for n in range(size)]

    process(conversions)
    earned = (
        ConversionStat.objects.aggregate(total=Sum("earnings"))["total"],
        ConversionSub1Stat.objects.aggregate(total=Sum("earnings"))["total"],
    )
    rollup_conversions_rebuild()

    assert earned == (Decimal("2.00") * size, Decimal("2.00") * size)
    assert earned == (
        ConversionStat.objects.aggregate(total=Sum("earnings"))["total"],
        ConversionSub1Stat.objects.aggregate(total=Sum("earnings"))["total"],
    )


@SIZES
def test_processing_again_changes_nothing(offer, alice, size):
    RewardRuleFactory(offer=offer)
    conversions = [make_conversion(offer, alice) for _ in range(size)]

    process(conversions)
    for conversion in conversions:
        conversion_process(conversion_id=conversion.pk)
    conversions_process_pending(batch_size=size)

    assert Reward.objects.count() == size and Transaction.objects.count() == size
    assert Conversion.objects.filter(status_changes__to_status="accepted").count() == size


@SIZES
def test_the_database_links_each_reward_to_its_conversion(offer, alice, size):
    from django.db import IntegrityError, connection, transaction

    RewardRuleFactory(offer=offer)
    conversions = [make_conversion(offer, alice) for _ in range(size)]
    process(conversions)

    assert set(Reward.objects.values_list("conversion_id", flat=True)) == {c.pk for c in conversions}
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE rewards_reward SET conversion_id = gen_random_uuid()")
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


@SIZES
def test_a_job_for_a_list_processes_those_still_pending_as_one_set(offer, alice, size):
    from conversions.lifecycle import conversion_reject
    from conversions.processing.pipeline import conversions_process

    RewardRuleFactory(offer=offer, value=Decimal("2.00"), spend_limit=Decimal("2.00"), spend_limit_period="day")
    conversions = [make_conversion(offer, alice, created_at=in_order(n)) for n in range(size)]
    conversion_reject(conversion_id=conversions[-1].pk, reason="returned", remark="Returned.")

    counts = conversions_process(conversion_ids=[c.pk for c in conversions])
    again = conversions_process(conversion_ids=[c.pk for c in conversions])

    assert again == {}
    if size == 1:
        assert counts == {} and statuses(conversions) == [("rejected", "returned")]
    else:
        assert counts == {"rewarded": 1, "cap_reached": size - 2}
        assert statuses(conversions)[0] == ("accepted", "")
        assert statuses(conversions)[-1] == ("rejected", "returned")
