"""Each fraud check: a conversion that trips it (held, with the evidence stored) and one that does not."""

import hashlib
import random
from datetime import timedelta

import pytest

from conversions.models import Conversion, FraudSetting
from referrals.models import Partner
from referrals.request_metadata import country_for_ip
from rewards.models import Reward
from tests.conversions.fraud.conftest import CHROME, HEADLESS, HETZNER_DE, RESIDENTIAL_GB, signal_of

pytestmark = pytest.mark.django_db

SUSPICIOUS, ACCEPTED = Conversion.Status.SUSPICIOUS, Conversion.Status.ACCEPTED


def assert_held_by(conversion, code):
    assert conversion.status == SUSPICIOUS
    assert conversion.status_reason == code
    assert not Reward.objects.filter(conversion_id=conversion.pk).exists()
    signal = signal_of(conversion, code)
    assert signal is not None and signal["evidence"]
    assert conversion.fraud_score >= signal["score"] > 0
    return signal["evidence"]


def assert_clean(conversion):
    assert conversion.status == ACCEPTED, conversion.fraud_signals
    assert conversion.fraud_signals == [] and conversion.fraud_score == 0
    assert conversion.screened_at is not None


def test_a_conversion_seconds_after_its_click_is_held(convert):
    evidence = assert_held_by(convert(click_age=timedelta(seconds=3)), "ctit_too_short")
    assert 2 <= evidence["ctit_seconds"] < 10 and evidence["threshold_seconds"] == 10


def test_a_conversion_minutes_after_its_click_passes(convert):
    assert_clean(convert(click_age=timedelta(minutes=5)))


def test_a_long_click_to_conversion_time_is_ignored_by_default_and_held_when_enabled(convert, offer):
    offer.cookie_window_days = 90
    offer.save()
    assert_clean(convert(click_age=timedelta(days=40)))

    FraudSetting.objects.create(offer=offer, check_code="ctit_too_long", threshold=30)
    evidence = assert_held_by(convert(click_age=timedelta(days=40)), "ctit_too_long")
    assert evidence["ctit_days"] == pytest.approx(40, abs=0.01) and evidence["threshold_days"] == 30
    assert_clean(convert(click_age=timedelta(days=20)))


def test_the_sixth_conversion_from_one_visitor_ip_in_an_hour_is_held(convert):
    for _ in range(5):
        assert_clean(convert(ip=RESIDENTIAL_GB, user_agent=CHROME))
    evidence = assert_held_by(convert(ip=RESIDENTIAL_GB, user_agent=CHROME), "ip_velocity")
    assert evidence == {"ip": RESIDENTIAL_GB, "conversions_last_hour": 6, "limit_per_hour": 5}


def test_the_reporting_servers_own_ip_does_not_count_as_velocity(convert):
    # No visitor IP in the reports: the conversions carry the advertiser's server address, not evidence.
    for _ in range(8):
        assert_clean(convert())


def test_one_customer_converting_for_a_second_partner_is_held(convert, bob_link, alice):
    customer = {"customer_email_sha256": hashlib.sha256(b"carol@example.com").hexdigest()}
    assert_clean(convert(meta=customer))
    evidence = assert_held_by(convert(link=bob_link, meta=customer), "multi_partner")
    assert evidence["customer_other_partner_ids"] == [alice.pk]
    assert evidence["customer_key"] == "customer_email_sha256"


def test_different_customers_for_two_partners_pass(convert, bob_link):
    assert_clean(convert(meta={"customer_id": "c-1"}))
    assert_clean(convert(link=bob_link, meta={"customer_id": "c-2"}))


def test_a_crawler_click_or_a_headless_browser_is_held(convert):
    evidence = assert_held_by(convert(click_fields={"is_bot": True, "user_agent": "Googlebot/2.1"}), "bot_user_agent")
    assert evidence["reasons"] == ["click user agent is a bot or crawler"]
    evidence = assert_held_by(convert(user_agent=HEADLESS), "bot_user_agent")
    assert evidence["reasons"] == ["conversion user agent is a bot or crawler"]
    assert "HeadlessChrome" in evidence["conversion_user_agent"]


def test_an_ordinary_browser_passes(convert):
    assert_clean(convert(click_fields={"user_agent": CHROME}, user_agent=CHROME))


def test_a_conversion_from_a_hosting_network_is_held(convert):
    evidence = assert_held_by(convert(ip=HETZNER_DE, user_agent=CHROME), "datacenter_ip")
    assert evidence == {
        "side": "conversion",
        "ip": HETZNER_DE,
        "cidr": "5.9.0.0/16",
        "provider": "Hetzner",
        "ranges_source": "file",
    }


def test_a_residential_ip_passes_the_data_centre_check(convert):
    assert_clean(convert(ip=RESIDENTIAL_GB, click_fields={"ip": RESIDENTIAL_GB, "country": "GB"}))


def test_click_and_conversion_in_different_countries_are_held(convert):
    assert country_for_ip(RESIDENTIAL_GB) == "GB"
    evidence = assert_held_by(convert(ip=RESIDENTIAL_GB, click_fields={"country": "US"}), "country_mismatch")
    assert evidence == {"click_country": "US", "conversion_country": "GB"}


def test_a_country_the_offer_does_not_allow_is_held(convert, offer):
    offer.allowed_countries = "DE, fr\nAT"
    offer.save()
    evidence = assert_held_by(convert(click_fields={"country": "US"}), "country_not_allowed")
    assert evidence == {"countries": {"click": "US"}, "allowed": ["AT", "DE", "FR"]}
    assert_clean(convert(click_fields={"country": "FR"}))


def test_a_partner_converting_from_their_login_ip_or_with_their_email_is_held(convert, alice):
    alice.last_login_ip = RESIDENTIAL_GB
    alice.save()
    alice.user.email = "Alice@Example.com"
    alice.user.save()
    evidence = assert_held_by(convert(ip=RESIDENTIAL_GB), "self_referral")
    assert evidence == {"conversion_ip_is_partner_login_ip": RESIDENTIAL_GB}
    own_email = {"customer_email_sha256": hashlib.sha256(b"alice@example.com").hexdigest()}
    evidence = assert_held_by(convert(meta=own_email), "self_referral")
    assert evidence == {"customer_email_is_partner_email": True}


def test_a_stranger_from_another_ip_passes_the_self_referral_check(convert, alice):
    alice.last_login_ip = "203.0.113.7"
    alice.save()
    assert_clean(convert(ip=RESIDENTIAL_GB, meta={"customer_email_sha256": "0" * 64}))


def test_an_amount_far_above_the_offers_history_is_held(convert, history):
    rng = random.Random(5)
    history(amounts=[f"{rng.uniform(40, 60):.2f}" for _ in range(25)], ctits=[timedelta(hours=1)] * 25)
    evidence = assert_held_by(convert(amount="900.00"), "amount_outlier")
    assert evidence["samples"] == 25 and set(evidence["over"]) == {"mean_plus_sd", "median_multiple"}
    assert 40 < evidence["history_median"] < 60
    assert_clean(convert(amount="70.00"))


def test_an_amount_check_needs_enough_history(convert, history):
    history(amounts=["50.00"] * 10, ctits=[timedelta(hours=1)] * 10)
    assert_clean(convert(amount="5000.00"))


def test_a_suspended_partners_new_conversion_is_held(convert, alice):
    Partner.objects.filter(pk=alice.pk).update(status="suspended", suspended_reason="chargebacks")
    evidence = assert_held_by(convert(), "partner_suspended")
    assert evidence["suspended_reason"] == "chargebacks"
