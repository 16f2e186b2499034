"""One balance and rounding check for every ledger transaction, posted alone or with a batch of new rewards."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from rewards.ledger import UnbalancedTransaction, account_get, ledger_post, ledger_post_new
from rewards.models import Account, Entry, Transaction

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 6, 2, tzinfo=UTC)


@pytest.fixture
def accounts(acme, alice):
    payable = account_get(kind=Account.Kind.ADVERTISER_PAYABLE, advertiser=acme, currency="USD")
    pending = account_get(kind=Account.Kind.PARTNER_PENDING, partner=alice, currency="USD")
    return payable, pending


@pytest.mark.parametrize(
    "amounts",
    [(Decimal("-5.00"), Decimal("4.00")), (Decimal("-0.005"), Decimal("0.005")), ()],
    ids=["unbalanced", "not rounded", "no entries"],
)
def test_alone_or_in_a_batch_a_bad_transaction_is_refused_and_nothing_is_written(accounts, amounts):
    legs = list(zip(accounts, amounts, strict=False))

    with pytest.raises(UnbalancedTransaction):
        ledger_post(kind=Transaction.Kind.ACCRUAL, legs=legs, memo="alone", now=NOW)
    with pytest.raises(UnbalancedTransaction):
        good = [(accounts[0], Decimal("-1.00")), (accounts[1], Decimal("1.00"))]
        ledger_post_new(kind=Transaction.Kind.ACCRUAL, postings=[(None, "good", good), (None, "bad", legs)], now=NOW)

    assert not Transaction.objects.exists() and not Entry.objects.exists()
