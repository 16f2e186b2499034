"""The learned baseline: click-to-conversion time far below the offer's own recent distribution."""

import math
import random
from datetime import timedelta

import pytest

from tests.conversions.fraud.conftest import signal_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def slow_offer_history(history):
    """80 accepted conversions whose buyers take about two hours (log-normal, as real CTITs are)."""
    rng = random.Random(42)
    ctits = [timedelta(seconds=math.exp(rng.gauss(math.log(7200), 0.6))) for _ in range(80)]
    history(amounts=["50.00"] * 80, ctits=ctits)


def test_a_one_minute_conversion_on_an_offer_whose_buyers_take_hours_is_held(convert, slow_offer_history):
    # One minute is well above the fixed 10-second floor: only the learned baseline sees it.
    conversion = convert(click_age=timedelta(minutes=1))
    assert conversion.status == "suspicious" and conversion.status_reason == "ctit_learned_baseline"
    assert signal_of(conversion, "ctit_too_short") is None
    evidence = signal_of(conversion, "ctit_learned_baseline")["evidence"]
    assert evidence["samples"] == 80 and evidence["robust_z"] < -3.5
    assert 3600 < evidence["baseline_median_seconds"] < 14400
    assert evidence["baseline_p1_seconds"] > 60


def test_a_conversion_inside_the_offers_usual_range_passes(convert, slow_offer_history):
    conversion = convert(click_age=timedelta(minutes=90))
    assert conversion.status == "accepted" and conversion.fraud_signals == []


def test_the_same_minute_is_normal_on_an_offer_whose_buyers_are_quick(convert, history):
    rng = random.Random(7)
    history(amounts=["50.00"] * 60, ctits=[timedelta(seconds=rng.uniform(30, 120)) for _ in range(60)])
    assert convert(click_age=timedelta(minutes=1)).status == "accepted"


def test_without_enough_history_the_baseline_says_nothing(convert, history):
    history(amounts=["50.00"] * 20, ctits=[timedelta(hours=2)] * 20)
    assert convert(click_age=timedelta(minutes=1)).status == "accepted"
