"""pending -> approved (term over, or validated) -> paid; reversals and clawbacks, in the ledger."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from conversions.errors import ConversionTransitionNotAllowed
from conversions.lifecycle import conversion_reject, conversion_validate
from conversions.processing.pipeline import conversion_process
from rewards.jobs import approve_due_rewards
from rewards.ledger import partner_balance
from rewards.lifecycle import rewards_approve_due
from rewards.models import Reward, Transaction
from rewards.payouts import payout_batch_create, payout_batch_mark_paid
from rewards.periods import validation_term_end
from tests.factories import RewardRuleFactory

pytestmark = pytest.mark.django_db


def balances(partner, currency="USD") -> dict[str, Decimal]:
    return {
        kind: partner_balance(partner=partner, kind=f"partner_{kind}", currency=currency)
        for kind in ("pending", "available", "paid")
    }


def test_the_term_ends_at_local_midnight_across_the_spring_dst_change():
    # New York, 10 days from March 1 2025: DST starts on March 9, so midnight is 04:00 UTC, not 05:00.
    end = validation_term_end(datetime(2025, 3, 1, 20, 0, tzinfo=UTC), term_days=10, time_zone="America/New_York")
    assert end == datetime(2025, 3, 12, 4, 0, tzinfo=UTC)
    assert end - datetime(2025, 3, 2, 5, 0, tzinfo=UTC) == timedelta(days=10, hours=-1)


def test_the_term_ends_at_local_midnight_across_the_autumn_dst_change():
    end = validation_term_end(datetime(2025, 10, 20, 12, 0, tzinfo=UTC), term_days=14, time_zone="Europe/Berlin")
    # Oct 20 + 14 days = Nov 3; the term ends at Nov 4 00:00 CET (UTC+1: summer time ended on Oct 26).
    assert end == datetime(2025, 11, 3, 23, 0, tzinfo=UTC)


def test_the_local_date_decides_the_first_day():
    # 02:00 UTC on March 2 is still March 1 in New York.
    end = validation_term_end(datetime(2025, 3, 2, 2, 0, tzinfo=UTC), term_days=10, time_zone="America/New_York")
    assert end == datetime(2025, 3, 12, 4, 0, tzinfo=UTC)


@pytest.fixture
def ny_offer(offer):
    offer.advertiser.time_zone = "America/New_York"
    offer.advertiser.save()
    offer.validation_term_days = 10
    offer.save()
    RewardRuleFactory(offer=offer, value=Decimal("5.00"))
    return offer


def test_the_scheduled_job_approves_when_the_term_ends_and_runs_twice_harmlessly(ny_offer, alice, conversion_for):
    conversion = conversion_for(ny_offer, alice, occurred_at=datetime(2025, 3, 1, 20, 0, tzinfo=UTC))
    conversion_process(conversion_id=conversion.pk)
    reward = Reward.objects.get()
    assert reward.approve_after == datetime(2025, 3, 12, 4, 0, tzinfo=UTC)

    assert rewards_approve_due(now=datetime(2025, 3, 12, 3, 59, 59, tzinfo=UTC)) == 0
    assert rewards_approve_due(now=datetime(2025, 3, 12, 4, 0, tzinfo=UTC)) == 1
    assert rewards_approve_due(now=datetime(2025, 3, 12, 4, 0, tzinfo=UTC)) == 0
    assert approve_due_rewards() == 0  # the job, now: nothing left

    reward.refresh_from_db()
    assert reward.status == "approved"
    assert Transaction.objects.filter(reward=reward, kind="approval").count() == 1
    assert balances(alice) == {"pending": 0, "available": Decimal("5.00"), "paid": 0}


def test_the_approval_job_on_a_real_worker(ny_offer, alice, conversion_for, queue, run_worker):
    conversion_process(conversion_id=conversion_for(ny_offer, alice).pk)
    queue.enqueue(approve_due_rewards)
    queue.enqueue(approve_due_rewards)
    run_worker()
    assert Reward.objects.get().status == "approved" and Transaction.objects.filter(kind="approval").count() == 1


def test_the_advertiser_validates_early(ny_offer, alice, conversion_for):
    conversion = conversion_for(ny_offer, alice)
    conversion_process(conversion_id=conversion.pk)

    conversion_validate(conversion_id=conversion.pk)
    conversion_validate(conversion_id=conversion.pk)

    assert Reward.objects.get().status == "approved"
    assert balances(alice)["available"] == Decimal("5.00")


def test_only_an_accepted_conversion_can_be_validated(ny_offer, alice, conversion_for):
    conversion = conversion_for(ny_offer, alice)
    with pytest.raises(ConversionTransitionNotAllowed):
        conversion_validate(conversion_id=conversion.pk)


def test_rejecting_an_approved_conversion_reverses_from_available(ny_offer, alice, conversion_for):
    conversion = conversion_for(ny_offer, alice)
    conversion_process(conversion_id=conversion.pk)
    conversion_validate(conversion_id=conversion.pk)

    conversion_reject(conversion_id=conversion.pk, reason="fraud", remark="Fraudulent order.")

    reward = Reward.objects.get()
    assert reward.status == "reversed" and reward.reversed_from == "approved"
    assert balances(alice) == {"pending": 0, "available": 0, "paid": 0}


def test_a_paid_reward_reversed_is_clawed_back_from_the_next_payout(ny_offer, alice, conversion_for, settings):
    settings.PAYOUT_MINIMUMS = {"USD": "0"}
    now = datetime(2025, 6, 1, tzinfo=UTC)
    first, second = conversion_for(ny_offer, alice), conversion_for(ny_offer, alice)
    conversion_process(conversion_id=first.pk, now=now)
    conversion_validate(conversion_id=first.pk, now=now)
    batch = payout_batch_create(currency="USD", period_end=now.date(), now=now)
    payout_batch_mark_paid(batch_id=batch.pk, now=now)
    assert balances(alice) == {"pending": 0, "available": 0, "paid": Decimal("5.00")}

    conversion_reject(conversion_id=first.pk, reason="chargeback", remark="Charged back.", now=now)
    assert balances(alice)["available"] == Decimal("-5.00")  # owed back
    # Nothing else earned yet: the next batch has no line for alice, the debt waits.
    assert not payout_batch_create(currency="USD", period_end=now.date(), now=now).items.exists()

    later = now + timedelta(days=1)
    for conversion in (second, conversion_for(ny_offer, alice)):
        conversion_process(conversion_id=conversion.pk, now=later)
        conversion_validate(conversion_id=conversion.pk, now=later)
    batch = payout_batch_create(currency="USD", period_end=later.date(), now=later)
    item = batch.items.get()
    assert (item.gross, item.clawback, item.amount) == (Decimal("10.00"), Decimal("5.00"), Decimal("5.00"))
    payout_batch_mark_paid(batch_id=batch.pk, now=later)
    assert balances(alice) == {"pending": 0, "available": 0, "paid": Decimal("10.00")}
