"""Per-offer settings: flag, reject or record; off; thresholds; and which signal decides."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError

from conversions.models import FraudSetting, StatusChange
from rewards.models import Reward
from tests.conversions.fraud.conftest import RESIDENTIAL_GB, signal_of

pytestmark = pytest.mark.django_db


def test_a_check_set_to_reject_rejects_with_its_code_and_pays_nothing(convert, offer):
    FraudSetting.objects.create(offer=offer, check_code="ctit_too_short", action="reject")

    conversion = convert(click_age=timedelta(seconds=2))

    assert (conversion.status, conversion.status_reason) == ("rejected", "ctit_too_short")
    assert "click-to-conversion time too short" in conversion.status_remark
    assert not Reward.objects.exists()
    change = StatusChange.objects.filter(conversion=conversion).last()
    assert (change.from_status, change.to_status, change.channel, change.reason) == (
        "pending",
        "rejected",
        "fraud",
        "ctit_too_short",
    )


def test_a_flag_holds_for_staff_with_a_remark_that_gives_nothing_away(convert):
    conversion = convert(click_age=timedelta(seconds=2))
    assert conversion.status == "suspicious" and conversion.status_remark == "Held for review by the network."


def test_a_check_set_to_record_keeps_the_signal_and_rewards(convert, offer):
    FraudSetting.objects.create(offer=offer, check_code="ctit_too_short", action="record")

    conversion = convert(click_age=timedelta(seconds=2))

    assert conversion.status == "accepted" and Reward.objects.filter(conversion_id=conversion.pk).exists()
    assert signal_of(conversion, "ctit_too_short")["action"] == "record"
    assert conversion.fraud_score == 60


def test_a_disabled_check_says_nothing(convert, offer):
    FraudSetting.objects.create(offer=offer, check_code="ctit_too_short", enabled=False)
    conversion = convert(click_age=timedelta(seconds=2))
    assert conversion.status == "accepted" and conversion.fraud_signals == []


def test_a_threshold_set_on_the_offer_replaces_the_default(convert, offer):
    FraudSetting.objects.create(offer=offer, check_code="ctit_too_short", threshold=600)
    conversion = convert(click_age=timedelta(minutes=5))
    assert conversion.status_reason == "ctit_too_short"
    assert signal_of(conversion, "ctit_too_short")["evidence"]["threshold_seconds"] == 600


def test_settings_of_another_offer_do_not_apply(convert, offer, globex):
    from tests.factories import OfferFactory

    FraudSetting.objects.create(offer=OfferFactory(advertiser=globex), check_code="ctit_too_short", enabled=False)
    assert convert(click_age=timedelta(seconds=2)).status == "suspicious"


def test_the_highest_scoring_flag_names_the_reason_and_scores_add_up(convert):
    conversion = convert(click_age=timedelta(seconds=2), ip=RESIDENTIAL_GB, click_fields={"country": "US"})
    assert {s["code"] for s in conversion.fraud_signals} == {"ctit_too_short", "country_mismatch"}
    assert conversion.status_reason == "ctit_too_short" and conversion.fraud_score == 90


def test_a_reject_beats_a_higher_scoring_flag(convert, offer):
    FraudSetting.objects.create(offer=offer, check_code="country_mismatch", action="reject")
    conversion = convert(click_age=timedelta(seconds=2), ip=RESIDENTIAL_GB, click_fields={"country": "US"})
    assert (conversion.status, conversion.status_reason) == ("rejected", "country_mismatch")


@pytest.mark.parametrize(
    ("code", "threshold", "error"),
    [
        ("ctit_too_short", -1, "positive"),
        ("ctit_too_short", "soon", "number"),
        ("amount_outlier", {"sigma": 3}, "Unknown keys"),
        ("bot_user_agent", 5, "no threshold"),
    ],
)
def test_a_bad_threshold_is_refused_with_a_clear_error(offer, code, threshold, error):
    setting = FraudSetting(offer=offer, check_code=code, threshold=threshold)
    with pytest.raises(ValidationError, match=error):
        setting.full_clean()


def test_an_object_threshold_may_set_only_some_knobs(convert, offer, history):
    FraudSetting.objects.create(offer=offer, check_code="amount_outlier", threshold={"min_samples": 5})
    history(amounts=["50.00"] * 6, ctits=[timedelta(hours=1)] * 6)
    conversion = convert(amount="900.00")
    assert conversion.status_reason == "amount_outlier"
    assert signal_of(conversion, "amount_outlier")["evidence"]["samples"] == 6


def test_processing_twice_screens_once(convert):
    from conversions.processing.pipeline import conversion_process

    conversion = convert(click_age=timedelta(seconds=2))
    assert conversion_process(conversion_id=conversion.pk) == "suspicious"
    assert StatusChange.objects.filter(conversion=conversion, channel="fraud").count() == 1
