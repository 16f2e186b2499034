"""A click, a conversion through the API, a real RQ worker, the reward and the ledger."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db.models import F

from conversions.models import Conversion
from referrals.models import Click
from rewards.ledger import account_balance
from rewards.models import Account, Entry, Reward
from tests.factories import RewardRuleFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_click_to_reward_through_a_real_worker(write_conversions, client, acme_api, alice_link, queue, run_worker):
    RewardRuleFactory(offer=alice_link.offer, reward_type="percentage", value=Decimal("10"), max_reward=Decimal("50"))
    redirect = client.get("/c/alice-shoes", {"sub1": "spring"})
    click_id = redirect.cookies["atc_acme-shoes"].value
    # The buyer shops a few minutes: a purchase seconds after the click is held by fraud screening.
    Click.objects.filter(click_id=click_id).update(created_at=F("created_at") - timedelta(minutes=5))

    response = acme_api.post(
        "/v1/convert",
        {"type": "purchase", "click_id": click_id, "external_id": "order-77", "amount": "99.99", "product_id": "s1"},
        format="json",
    )
    assert response.status_code == 202 and response.json()["status"] == "pending"
    write_conversions()
    assert queue.count == 1  # enqueued once the request's transaction committed

    run_worker()

    conversion = Conversion.objects.get()
    assert conversion.status == "accepted"
    reward = Reward.objects.get(conversion_id=conversion.pk)
    assert reward.amount == Decimal("10.00") and reward.partner == alice_link.partner
    assert sum(Entry.objects.values_list("amount", flat=True)) == 0
    pending = Account.objects.get(kind="partner_pending", partner=alice_link.partner)
    assert account_balance(pending) == Decimal("10.00")
    assert queue.count == 0
