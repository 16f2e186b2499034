"""The review desk in the admin, through Django's test client, as staff would work it."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from conversions.models import Conversion, StatusChange
from rewards.models import Reward, Transaction
from tests.conversions.fraud.conftest import RESIDENTIAL_GB
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

QUEUE = reverse("admin:conversions_suspiciousconversion_changelist")
CONVERSIONS = reverse("admin:conversions_conversion_changelist")


def staff_client(username: str, *codenames: str) -> Client:
    user = UserFactory(username=username, is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="conversions", codename__in=codenames))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def reviewer():
    return staff_client("rita", "view_conversion", "review_conversion")


@pytest.fixture
def held(convert):
    """A conversion three seconds after its click, from a GB visitor on a US click."""
    return convert(click_age=timedelta(seconds=3), ip=RESIDENTIAL_GB, click_fields={"country": "US"})


@pytest.fixture
def fine(convert):
    return convert()


def confirm(client, url, name, conversions, **fields):
    data = {"action": name, "confirm": "yes", "_selected_action": [str(c.pk) for c in conversions], **fields}
    return client.post(url, data, follow=True)


def test_the_admin_home_points_staff_to_the_queue(reviewer, held):
    content = reviewer.get(reverse("admin:index")).content.decode()
    assert "1</strong> suspicious conversion waiting for review" in content and QUEUE in content


def test_the_queue_lists_held_conversions_with_score_signals_ctit_and_countries(reviewer, held, fine):
    response = reviewer.get(QUEUE)

    assert response.status_code == 200
    content = response.content.decode()
    assert held.external_id in content and fine.external_id not in content
    assert "ctit_too_short (60)" in content and "country_mismatch (30)" in content
    assert f'<td class="field-fraud_score">{held.fraud_score}</td>' in content
    assert "<strong>US → GB</strong>" in content
    assert "50 USD" in content
    assert " s</td>" in content  # CTIT in seconds


def test_the_detail_page_shows_both_sides_the_evidence_the_attribution_and_the_history(reviewer, held):
    response = reviewer.get(reverse("admin:conversions_suspiciousconversion_change", args=[held.pk]))

    assert response.status_code == 200
    content = response.content.decode()
    assert f"click {held.click.click_id}" in content and "conversion (api)" in content
    assert RESIDENTIAL_GB in content
    assert "&quot;threshold_seconds&quot;: 10" in content  # the evidence
    assert "&quot;step&quot;: &quot;click_id&quot;" in content  # the attribution
    assert "Approving runs them once" in content  # the reward, not yet granted
    history = response.context["inline_admin_formsets"][0].formset.queryset
    assert [(c.to_status, c.channel, c.reason) for c in history] == [
        ("pending", "api", ""),
        ("suspicious", "fraud", "ctit_too_short"),
    ]


def test_bulk_approve_rewards_exactly_once_even_when_clicked_twice(reviewer, held, convert):
    other = convert(click_age=timedelta(seconds=1))
    confirm(reviewer, QUEUE, "approve_selected", [held, other], remark="Phoned the buyers.")
    second = confirm(reviewer, QUEUE, "approve_selected", [held, other], remark="Phoned the buyers.")

    for conversion in (held, other):
        conversion.refresh_from_db()
        assert conversion.status == "accepted" and conversion.status_remark == "Phoned the buyers."
        assert Reward.objects.filter(conversion_id=conversion.pk).count() == 1
        assert Transaction.objects.filter(reward__conversion_id=conversion.pk).count() == 1
        assert StatusChange.objects.filter(conversion=conversion, to_status="accepted", channel="admin").count() == 1
    assert second.status_code == 200
    assert reviewer.get(QUEUE).context["cl"].result_count == 0


def test_bulk_reject_requires_a_reason_and_records_it_for_the_publisher(reviewer, held):
    refused = confirm(reviewer, QUEUE, "reject_selected", [held], reason="fraud", remark="")
    assert "This field is required." in refused.content.decode()
    held.refresh_from_db()
    assert held.status == "suspicious"

    confirm(reviewer, QUEUE, "reject_selected", [held], reason="fraud", remark="Bought by a script.")

    held.refresh_from_db()
    assert (held.status, held.status_reason, held.status_remark) == ("rejected", "fraud", "Bought by a script.")
    assert not Reward.objects.filter(conversion_id=held.pk).exists()


def test_rejecting_an_approved_conversion_reverses_its_reward(reviewer, held):
    confirm(reviewer, QUEUE, "approve_selected", [held], remark="")
    confirm(reviewer, CONVERSIONS, "reject_selected", [held], reason="fraud", remark="Chargeback.")

    held.refresh_from_db()
    reward = Reward.objects.get(conversion_id=held.pk)
    assert held.status == "rejected" and reward.status == "reversed"
    assert Transaction.objects.filter(reward=reward, kind="reversal").count() == 1


def test_a_non_staff_user_is_sent_to_log_in(held, alice):
    client = Client()
    client.force_login(alice.user)
    response = client.get(QUEUE)
    assert response.status_code == 302 and "/login/" in response["Location"]
    confirm(client, QUEUE, "approve_selected", [held], remark="")
    held.refresh_from_db()
    assert held.status == "suspicious"


def test_staff_without_conversion_permissions_are_refused(held):
    client = staff_client("stan")
    assert client.get(QUEUE).status_code == 403
    assert client.get(reverse("admin:conversions_suspiciousconversion_change", args=[held.pk])).status_code == 403


def test_staff_who_may_view_but_not_review_cannot_approve(held):
    client = staff_client("vera", "view_conversion")
    response = client.get(QUEUE)
    assert response.status_code == 200 and held.external_id in response.content.decode()
    assert "approve_selected" not in response.content.decode()

    confirm(client, QUEUE, "approve_selected", [held], remark="")

    held.refresh_from_db()
    assert held.status == "suspicious" and not Reward.objects.exists()


def test_the_conversion_list_shows_the_fraud_score(reviewer, held):
    content = reviewer.get(CONVERSIONS).content.decode()
    assert f'<td class="field-fraud_score">{held.fraud_score}</td>' in content
    assert Conversion.objects.get(pk=held.pk).fraud_score == 90
