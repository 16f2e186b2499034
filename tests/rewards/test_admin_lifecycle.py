"""The staff pages for rates and payouts, through the real admin."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from conversions.lifecycle import conversion_validate
from conversions.processing.pipeline import conversion_process
from rewards.models import ExchangeRate, PayoutBatch, Transaction
from tests.factories import RewardRuleFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    user = UserFactory(username="staff", is_staff=True, is_superuser=True)
    client.force_login(user)
    return client


def test_staff_create_a_batch_download_its_csv_and_mark_it_paid(staff_client, offer, alice, conversion_for, settings):
    settings.PAYOUT_MINIMUMS = {"USD": "5"}
    RewardRuleFactory(offer=offer, value=Decimal("7.00"))
    conversion = conversion_for(offer, alice)
    now = datetime(2025, 6, 3, tzinfo=UTC)
    conversion_process(conversion_id=conversion.pk, now=now)
    conversion_validate(conversion_id=conversion.pk, now=now)

    response = staff_client.post(
        "/admin/rewards/payoutbatch/create/", {"currency": "USD", "period_end": "2025-06-30"}, follow=True
    )
    assert "1 partner(s) at or above their minimum payout" in response.content.decode()
    batch = PayoutBatch.objects.get()

    csv_text = staff_client.get(f"/admin/rewards/payoutbatch/{batch.pk}/csv/").content.decode()
    assert csv_text.splitlines()[1].startswith(f"affitrack-{batch.pk}-") and ",alice," in csv_text

    response = staff_client.post(
        "/admin/rewards/payoutbatch/", {"action": "mark_paid", "_selected_action": [batch.pk]}, follow=True
    )
    assert "1 batch(es) marked paid" in response.content.decode()
    assert Transaction.objects.filter(kind="payout").count() == 1


def test_a_rate_entered_in_the_admin_is_saved(staff_client):
    response = staff_client.post(
        "/admin/rewards/exchangerate/add/", {"base": "USD", "quote": "EUR", "date": "2025-06-02", "rate": "0.9"}
    )
    assert response.status_code == 302
    assert ExchangeRate.objects.get().date == date(2025, 6, 2)


def test_a_partner_cannot_reach_the_payout_pages(client, alice):
    client.force_login(alice.user)
    assert client.get("/admin/rewards/payoutbatch/create/").status_code == 302
    assert not PayoutBatch.objects.exists()


def test_a_rule_with_bad_conditions_and_half_a_limit_is_refused(offer):
    rule = RewardRuleFactory.build(
        offer=offer,
        conditions=[{"field": "colour", "operator": "eq", "value": "red"}],
        spend_limit=Decimal("10.001"),
        max_reward=Decimal("1.005"),
    )
    with pytest.raises(ValidationError) as error:
        rule.clean()
    assert set(error.value.message_dict) == {"conditions", "spend_limit_period", "spend_limit", "max_reward"}
