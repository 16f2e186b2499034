"""Rule simulation: staff replay a changed or new rule over past conversions; nothing is written."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from conversions.processing.pipeline import conversion_process
from rewards.models import Reward, RewardRule, SpendCounter, Transaction
from tests.factories import RewardRuleFactory, UserFactory
from tests.rewards.conftest import make_conversion

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    client.force_login(UserFactory(username="staff", is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def history(offer, alice, bob):
    rule = RewardRuleFactory(offer=offer, name="ten percent", reward_type="percentage", value=Decimal("10"))
    recent = timezone.now() - timedelta(days=2)
    for partner, amount in ((alice, "100.00"), (alice, "50.00"), (bob, "200.00")):
        conversion_process(conversion_id=make_conversion(offer, partner, amount=amount, occurred_at=recent).pk)
    make_conversion(offer, alice, amount="999.00", occurred_at=timezone.now() - timedelta(days=40))  # out of window
    return rule


def form_data(rule, **changes) -> dict:
    data = {
        "offer": rule.offer_id,
        "partner": "",
        "name": rule.name,
        "conversion_type": rule.conversion_type,
        "reward_type": rule.reward_type,
        "value": str(rule.value),
        "currency": rule.currency,
        "priority": rule.priority,
        "is_active": "on",
        "spend_limit_period": "",
        "recurring": "",
        "days": 30,
    }
    data.update(changes)
    return data


def test_a_changed_rule_shows_the_difference_per_partner_and_in_total(staff_client, history, alice, bob):
    before = (Reward.objects.count(), Transaction.objects.count(), RewardRule.objects.get().value)

    response = staff_client.post(f"/admin/rewards/simulate/?rule={history.pk}", form_data(history, value="15"))

    assert response.status_code == 200
    result = response.context["result"]
    (total,) = result.totals
    assert (total.before, total.after, total.difference) == (Decimal("35.00"), Decimal("52.50"), Decimal("17.50"))
    per_partner = {line.partner_id: line.difference for line in result.lines}
    assert per_partner == {alice.pk: Decimal("7.50"), bob.pk: Decimal("10.00")}
    assert (Reward.objects.count(), Transaction.objects.count(), RewardRule.objects.get().value) == before


def test_a_new_partner_override_with_a_spend_limit(staff_client, history, alice, bob):
    data = form_data(
        history, name="alice flat", partner=alice.pk, reward_type="fixed", value="4.00", spend_limit="4.00"
    )
    data["spend_limit_period"] = "all_time"
    response = staff_client.post("/admin/rewards/simulate/", data)

    result = response.context["result"]
    per_partner = {line.partner_id: (line.before, line.after) for line in result.lines}
    # alice: the override wins both; the limit lets only the first 4.00 through.
    assert per_partner[alice.pk] == (Decimal("15.00"), Decimal("4.00"))
    assert per_partner[bob.pk] == (Decimal("20.00"), Decimal("20.00"))
    assert RewardRule.objects.count() == 1 and not SpendCounter.objects.exists()


def test_a_bad_draft_shows_the_form_errors(staff_client, history):
    response = staff_client.post(
        "/admin/rewards/simulate/",
        form_data(history, **{"conditions-field": "colour", "conditions-operator": "eq"}),
    )
    assert response.context["result"] is None and "conditions" in response.context["form"].errors


def test_only_staff_may_simulate(client, alice, history):
    client.force_login(alice.user)
    assert client.get("/admin/rewards/simulate/").status_code == 302
