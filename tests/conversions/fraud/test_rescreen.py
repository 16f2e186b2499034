"""Re-screening after staff change an offer's settings: the command and the admin actions."""

from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from conversions.models import FraudSetting, StatusChange
from rewards.models import Reward

pytestmark = pytest.mark.django_db


def status_of(conversion) -> tuple[str, str]:
    conversion.refresh_from_db()
    return conversion.status, conversion.status_reason


def test_a_held_conversion_that_now_passes_is_rewarded(convert, offer, capsys):
    held = convert(click_age=timedelta(seconds=3))
    FraudSetting.objects.create(offer=offer, check_code="ctit_too_short", threshold=2)

    call_command("rescreen_conversions", "--offer", offer.public_id)

    assert status_of(held) == ("accepted", "")
    assert Reward.objects.filter(conversion_id=held.pk).count() == 1
    assert StatusChange.objects.filter(conversion=held).last().channel == "fraud"
    assert held.fraud_signals == [] and held.fraud_score == 0
    assert "Re-screened 1 conversion(s): released: 1" in capsys.readouterr().out


def test_a_rescreen_twice_rewards_once(convert, offer):
    held = convert(click_age=timedelta(seconds=3))
    FraudSetting.objects.create(offer=offer, check_code="ctit_too_short", enabled=False)
    call_command("rescreen_conversions")
    call_command("rescreen_conversions")
    assert status_of(held)[0] == "accepted" and Reward.objects.filter(conversion_id=held.pk).count() == 1


def test_a_held_conversion_whose_check_now_rejects_is_rejected(convert, offer):
    held = convert(click_age=timedelta(seconds=3))
    FraudSetting.objects.create(offer=offer, check_code="ctit_too_short", action="reject")
    call_command("rescreen_conversions")
    assert status_of(held) == ("rejected", "ctit_too_short")


def test_a_pending_conversion_is_held_and_a_passing_one_waits_for_its_job(convert, offer):
    fast = convert(click_age=timedelta(seconds=3), process=False)
    slow = convert(process=False)
    call_command("rescreen_conversions")
    assert status_of(fast) == ("suspicious", "ctit_too_short")
    assert status_of(slow) == ("pending", "")
    assert slow.screened_at is not None


def test_a_rescreen_never_touches_accepted_or_rejected_conversions(convert, offer):
    accepted = convert()
    FraudSetting.objects.create(offer=offer, check_code="ctit_too_short", action="reject")
    rejected = convert(click_age=timedelta(seconds=3))
    FraudSetting.objects.filter(offer=offer).update(threshold=3600, action="flag")

    call_command("rescreen_conversions")

    assert status_of(accepted) == ("accepted", "")
    assert status_of(rejected) == ("rejected", "ctit_too_short")
    assert StatusChange.objects.filter(conversion__in=[accepted, rejected], channel="fraud").count() == 1


def test_a_still_held_conversion_records_its_new_reason(convert, offer):
    held = convert(click_age=timedelta(seconds=3), ip="81.2.69.160", click_fields={"country": "US"})
    FraudSetting.objects.create(offer=offer, check_code="ctit_too_short", enabled=False)
    call_command("rescreen_conversions")
    assert status_of(held) == ("suspicious", "country_mismatch")
    change = StatusChange.objects.filter(conversion=held).last()
    assert (change.from_status, change.to_status, change.reason, change.channel) == (
        "suspicious",
        "suspicious",
        "country_mismatch",
        "fraud",
    )


def test_the_command_refuses_an_unknown_offer():
    with pytest.raises(CommandError, match="No offer 'nope'"):
        call_command("rescreen_conversions", "--offer", "nope")


def test_staff_rescreen_from_the_offer_and_the_setting_pages(admin_client, convert, offer):
    held = convert(click_age=timedelta(seconds=3))
    setting = FraudSetting.objects.create(offer=offer, check_code="ctit_too_short", threshold=2)

    response = admin_client.post(
        reverse("admin:referrals_offer_changelist"),
        {"action": "rescreen_conversions", "_selected_action": [offer.pk]},
        follow=True,
    )
    assert "Re-screened 1 pending or suspicious conversion(s): released: 1." in response.content.decode()
    assert status_of(held)[0] == "accepted"

    again = convert(click_age=timedelta(seconds=1))
    setting.threshold = None
    setting.save()
    admin_client.post(
        reverse("admin:conversions_fraudsetting_changelist"),
        {"action": "rescreen_offers", "_selected_action": [setting.pk]},
    )
    assert status_of(again) == ("suspicious", "ctit_too_short")


def test_the_offer_page_shows_the_checks_in_effect_and_edits_settings_inline(admin_client, offer):
    FraudSetting.objects.create(offer=offer, check_code="ip_velocity", threshold=20, action="reject")
    content = admin_client.get(reverse("admin:referrals_offer_change", args=[offer.pk])).content.decode()
    assert "<td>ip_velocity</td><td>on</td><td>20.0</td><td>reject</td><td>this offer</td>" in content
    assert "<td>ctit_too_long</td><td>off</td><td>30.0</td><td>flag</td><td>default</td>" in content
    assert "allowed_countries" in content
