"""Payout batches: the minimum per currency and per partner, the CSV, marking paid once."""

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from conversions.lifecycle import conversion_reject, conversion_validate
from conversions.processing.pipeline import conversion_process
from rewards.ledger import partner_balance
from rewards.models import PayoutProfile, Reward, Transaction
from rewards.payouts import csv_cell, payout_batch_create, payout_batch_csv, payout_batch_mark_paid
from tests.factories import RewardRuleFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 6, 30, 12, 0, tzinfo=UTC)


@pytest.fixture
def earn(offer, conversion_for):
    RewardRuleFactory(offer=offer, reward_type="percentage", value=Decimal("10"))

    def earn(partner, amount: str, *, approved_at=NOW):
        conversion = conversion_for(offer, partner, amount=amount)
        conversion_process(conversion_id=conversion.pk, now=approved_at)
        conversion_validate(conversion_id=conversion.pk, now=approved_at)
        return conversion

    return earn


def test_a_batch_pays_the_partners_at_or_above_the_minimum(earn, alice, bob, settings):
    settings.PAYOUT_MINIMUMS = {"USD": "50"}
    earn(alice, "300.00")
    earn(alice, "200.00")  # alice: 30 + 20 = 50.00, exactly the minimum
    earn(bob, "499.90")  # bob: 49.99, one cent short

    batch = payout_batch_create(currency="USD", period_end=NOW.date(), now=NOW)

    item = batch.items.get()
    assert item.partner == alice and item.amount == Decimal("50.00")
    assert Reward.objects.filter(partner=bob, payout_item__isnull=True, status="approved").count() == 1


def test_a_partners_own_minimum_overrides_the_setting(earn, bob, settings):
    settings.PAYOUT_MINIMUMS = {"USD": "50"}
    PayoutProfile.objects.create(partner=bob, method="paypal", paypal_email="bob@example.com", minimum_payout=10)
    earn(bob, "100.00")
    assert payout_batch_create(currency="USD", period_end=NOW.date(), now=NOW).items.get().amount == Decimal("10.00")


def test_the_period_end_leaves_later_approvals_for_the_next_batch(earn, alice, settings):
    settings.PAYOUT_MINIMUMS = {}
    earn(alice, "10.00")
    earn(alice, "20.00", approved_at=datetime(2025, 7, 1, 0, 0, tzinfo=UTC))
    assert payout_batch_create(currency="USD", period_end=NOW.date(), now=NOW).items.get().amount == Decimal("1.00")


def test_marking_paid_posts_the_ledger_once_and_marks_the_rewards_paid(earn, alice, settings):
    settings.PAYOUT_MINIMUMS = {}
    earn(alice, "100.00")
    batch = payout_batch_create(currency="USD", period_end=NOW.date(), now=NOW)

    payout_batch_mark_paid(batch_id=batch.pk, now=NOW)
    payout_batch_mark_paid(batch_id=batch.pk, now=NOW)

    assert Transaction.objects.filter(kind="payout").count() == 1
    assert Reward.objects.get().status == "paid"
    assert partner_balance(partner=alice, kind="partner_available", currency="USD") == 0
    assert partner_balance(partner=alice, kind="partner_paid", currency="USD") == Decimal("10.00")
    # A second batch finds nothing left to pay.
    assert not payout_batch_create(currency="USD", period_end=NOW.date(), now=NOW).items.exists()


def test_a_reward_reversed_while_its_batch_was_open_is_clawed_back_next_time(earn, alice, settings):
    settings.PAYOUT_MINIMUMS = {}
    conversion = earn(alice, "100.00")
    earn(alice, "50.00")
    batch = payout_batch_create(currency="USD", period_end=NOW.date(), now=NOW)
    conversion_reject(conversion_id=conversion.pk, reason="returned", remark="Returned.", now=NOW)
    payout_batch_mark_paid(batch_id=batch.pk, now=NOW)  # the bank file already said 15.00

    assert partner_balance(partner=alice, kind="partner_available", currency="USD") == Decimal("-10.00")
    earn(alice, "200.00")
    item = payout_batch_create(currency="USD", period_end=NOW.date(), now=NOW).items.get()
    assert (item.gross, item.clawback, item.amount) == (Decimal("20.00"), Decimal("10.00"), Decimal("10.00"))


def test_the_csv_has_a_line_per_partner_with_formula_cells_escaped(earn, alice, bob, settings):
    settings.PAYOUT_MINIMUMS = {}
    PayoutProfile.objects.create(
        partner=alice, method="bank", account_name="=HYPERLINK(1)", iban="DE89370400440532013000"
    )
    PayoutProfile.objects.create(partner=bob, method="paypal", paypal_email="bob@example.com")
    earn(alice, "100.00")
    earn(bob, "33.33")
    batch = payout_batch_create(currency="USD", period_end=NOW.date(), now=NOW)

    rows = list(csv.DictReader(io.StringIO(payout_batch_csv(batch))))

    assert [(row["partner"], row["method"], row["amount"]) for row in rows] == [
        ("alice", "bank", "10.00"),
        ("bob", "paypal", "3.33"),
    ]
    assert rows[0]["account_name"] == "'=HYPERLINK(1)" and rows[1]["paypal_email"] == "bob@example.com"


@pytest.mark.parametrize(
    ("value", "shown"), [("=1+1", "'=1+1"), ("+4", "'+4"), ("-2", "'-2"), ("@x", "'@x"), ("a", "a")]
)
def test_csv_cells_that_a_spreadsheet_would_run_are_escaped(value, shown):
    assert csv_cell(value) == shown
