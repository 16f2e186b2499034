"""Suspending a partner, their fraud history, and the login IP that self-referral compares with."""

from datetime import timedelta

import pytest
from django.urls import reverse

from referrals.models import Partner
from tests.conversions.fraud.conftest import RESIDENTIAL_GB

pytestmark = pytest.mark.django_db

PARTNERS = reverse("admin:referrals_partner_changelist")


def test_staff_suspend_a_partner_with_a_reason_and_new_conversions_are_held(admin_client, alice, convert):
    before = convert()
    asked = admin_client.post(PARTNERS, {"action": "suspend_partners", "_selected_action": [alice.pk]})
    assert asked.status_code == 200 and "Suspend these 1 partner" in asked.content.decode()
    refused = admin_client.post(
        PARTNERS, {"action": "suspend_partners", "confirm": "yes", "_selected_action": [alice.pk], "reason": ""}
    )
    assert "This field is required." in refused.content.decode()
    alice.refresh_from_db()
    assert alice.status == "active"

    admin_client.post(
        PARTNERS,
        {"action": "suspend_partners", "confirm": "yes", "_selected_action": [alice.pk], "reason": "Cookie stuffing"},
    )

    alice.refresh_from_db()
    assert (alice.status, alice.suspended_reason) == ("suspended", "Cookie stuffing")
    after = convert()
    assert (after.status, after.status_reason) == ("suspicious", "partner_suspended")
    before.refresh_from_db()
    assert before.status == "accepted"  # what was decided before stays


def test_a_reinstated_partners_held_conversions_are_released_by_a_rescreen(admin_client, alice, convert):
    from django.core.management import call_command

    Partner.objects.filter(pk=alice.pk).update(status="suspended", suspended_reason="checking")
    held = convert()
    admin_client.post(PARTNERS, {"action": "reinstate_partners", "_selected_action": [alice.pk]})
    alice.refresh_from_db()
    assert alice.status == "active"
    call_command("rescreen_conversions")
    held.refresh_from_db()
    assert held.status == "accepted"


def test_the_partner_page_shows_their_fraud_history_and_a_link_to_their_queue(admin_client, alice, convert):
    convert()
    convert(click_age=timedelta(seconds=2))
    convert(click_age=timedelta(seconds=2), ip=RESIDENTIAL_GB, click_fields={"country": "US"})

    content = admin_client.get(reverse("admin:referrals_partner_change", args=[alice.pk])).content.decode()

    assert "Conversions by status: accepted 1, suspicious 2" in content
    assert "Fraud signals by check: ctit_too_short 2, country_mismatch 1" in content
    queue = reverse("admin:conversions_suspiciousconversion_changelist") + f"?partner__id__exact={alice.pk}"
    assert queue.replace("&", "&amp;") in content or queue in content
    assert "2 suspicious conversion(s) waiting for review" in content

    listed = admin_client.get(queue)
    assert listed.context["cl"].result_count == 2


def test_logging_in_records_the_partners_ip(client, alice):
    client.post("/accounts/login/", {"username": "alice", "password": "password"}, REMOTE_ADDR=RESIDENTIAL_GB)
    alice.refresh_from_db()
    assert alice.last_login_ip == RESIDENTIAL_GB
