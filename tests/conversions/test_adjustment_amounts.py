"""A new amount in the adjustments CSV: the conversion and its reward change, the ledger balances."""

from decimal import Decimal

import pytest
from django.db.models import Sum

from conversions.models import Conversion
from rewards.ledger import partner_balance
from rewards.models import Entry, Reward, Transaction
from tests.conversions import test_advertiser_pages as pages
from tests.upload_helpers import csv_bytes

pytestmark = pytest.mark.django_db

travel_conversions = pages.travel_conversions  # the fixture: acc-1 (100.00, rewarded 4%), pend-1, sus-1, old-1
uploaded = pages.uploaded

HEADER = "external_id,status,reason,amount"


def reward_of(external_id: str) -> Reward:
    return Reward.objects.get(conversion_id=Conversion.objects.get(external_id=external_id).pk)


def assert_ledger_holds(partner):
    assert Entry.objects.aggregate(total=Sum("amount"))["total"] == 0
    held = partner_balance(partner=partner, kind="partner_pending", currency="USD") + partner_balance(
        partner=partner, kind="partner_available", currency="USD"
    )
    live = Reward.objects.filter(partner=partner).exclude(status="reversed").aggregate(total=Sum("amount"))["total"]
    assert held == (live or 0)


def test_a_lower_amount_lowers_the_reward_with_one_balanced_adjustment(acme_client, travel_conversions, alice):
    assert reward_of("acc-1").amount == Decimal("4.00")  # 4% of 100.00

    upload = uploaded(acme_client, csv_bytes(HEADER, "acc-1,approved,,75.00"), kind="adjustments")

    conversion = Conversion.objects.get(external_id="acc-1")
    reward = reward_of("acc-1")
    assert (upload.updated_count, upload.error_count) == (1, 0)
    assert conversion.amount == Decimal("75.00") and reward.amount == Decimal("3.00")
    assert reward.status == "approved"  # the advertiser approved it: approved at once, at the new amount
    adjustment = Transaction.objects.get(kind="adjustment")
    assert sorted(adjustment.entries.values_list("account__kind", "amount")) == [
        ("advertiser_payable", Decimal("1.00")),
        ("partner_pending", Decimal("-1.00")),
    ]
    assert reward.explanation["adjustments"][0]["from"] == "4.00"
    assert reward.explanation["adjustments"][0]["to"] == "3.00"
    assert conversion.status_changes.filter(reason="amount_changed").get().remark == "Amount 100.00 -> 75.00 USD"
    assert partner_balance(partner=alice, kind="partner_pending", currency="USD") == Decimal("0.00")
    assert partner_balance(partner=alice, kind="partner_available", currency="USD") == Decimal("3.00")
    assert_ledger_holds(alice)


def test_a_higher_amount_is_rounded_to_the_currency_and_raises_the_reward_up_to_the_cap(
    acme_client, travel_conversions, alice
):
    uploaded(acme_client, csv_bytes(HEADER, "acc-1,approved,,123.456"), kind="adjustments")

    assert Conversion.objects.get(external_id="acc-1").amount == Decimal("123.46")
    assert reward_of("acc-1").amount == Decimal("4.94")  # 4% of 123.46 = 4.9384, rounded once

    uploaded(acme_client, csv_bytes(HEADER, "acc-1,approved,,9000"), kind="adjustments")

    reward = reward_of("acc-1")
    assert reward.amount == Decimal("100.00")  # 360.00 capped by the rule's max_reward
    assert reward.explanation["adjustments"][-1]["capped"] is True
    assert list(Transaction.objects.filter(kind="adjustment").order_by("pk").values_list("reference", flat=True)) == [
        "1",
        "2",
    ]
    assert_ledger_holds(alice)


def test_the_same_amounts_file_uploaded_again_changes_nothing(acme_client, travel_conversions, alice):
    raw = csv_bytes(HEADER, "acc-1,approved,,80.00", "pend-1,approved,,50.00")
    first = uploaded(acme_client, raw, kind="adjustments")

    second = uploaded(acme_client, raw, kind="adjustments")

    assert first.error_count == 0 and first.updated_count == 2
    assert (second.updated_count, second.unchanged_count, second.error_count) == (0, 2, 0)
    assert Transaction.objects.filter(kind="adjustment").count() == 1
    assert reward_of("acc-1").amount == Decimal("3.20")
    assert_ledger_holds(alice)


def test_a_pending_conversion_without_a_reward_yet_just_takes_the_new_amount(acme_client, travel_conversions):
    uploaded(acme_client, csv_bytes(HEADER, "pend-1,rejected,Partly returned,30.00"), kind="adjustments")

    conversion = Conversion.objects.get(external_id="pend-1")
    assert conversion.amount == Decimal("30.00") and conversion.status == "rejected"
    assert not Transaction.objects.filter(kind="adjustment").exists()


def test_an_amount_outside_the_validation_term_is_refused_with_a_row_error(acme_client, travel_conversions):
    upload = uploaded(acme_client, csv_bytes(HEADER, "old-1,approved,,60.00"), kind="adjustments")

    error = upload.row_errors.get()
    assert (error.row, error.column) == (2, "amount") and "validation term ended" in error.reason
    assert Conversion.objects.get(external_id="old-1").amount == Decimal("100.00")


def test_rejecting_with_a_new_amount_reverses_the_adjusted_reward(acme_client, travel_conversions, alice):
    uploaded(acme_client, csv_bytes(HEADER, "acc-1,rejected,Returned,50.00"), kind="adjustments")

    reward = reward_of("acc-1")
    assert reward.status == "reversed" and reward.amount == Decimal("2.00")
    reversal = Transaction.objects.get(kind="reversal")
    assert reversal.entries.get(account__kind="advertiser_payable").amount == Decimal("2.00")
    assert_ledger_holds(alice)
