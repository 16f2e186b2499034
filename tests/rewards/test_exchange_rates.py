"""Dated exchange rates: a conversion waits for a missing rate and is processed when it arrives."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from conversions.models import Conversion
from conversions.processing.pipeline import conversion_process
from rewards.models import ExchangeRate, Reward
from rewards.rates import exchange_rate_set
from tests.factories import RewardRuleFactory

pytestmark = pytest.mark.django_db

SATURDAY = datetime(2025, 6, 7, 9, 0, tzinfo=UTC)


@pytest.fixture
def eur_rule(offer):
    return RewardRuleFactory(offer=offer, reward_type="percentage", value=Decimal("10"), currency="EUR")


def test_a_missing_rate_leaves_the_conversion_pending_with_a_reason(offer, alice, eur_rule, conversion_for):
    conversion = conversion_for(offer, alice, amount="50.00")

    assert conversion_process(conversion_id=conversion.pk) == "pending"

    conversion.refresh_from_db()
    assert conversion.status == "pending" and conversion.status_reason == "missing_exchange_rate"
    assert conversion.status_remark == "Waiting for the USD->EUR rate of 2025-06-02."
    assert conversion.reward_explanation["missing_rate"] == {"base": "USD", "quote": "EUR", "date": "2025-06-02"}
    assert not Reward.objects.exists()


def test_loading_the_rate_processes_the_waiting_conversion_on_a_worker(
    offer, alice, eur_rule, conversion_for, tmp_path, run_worker, queue, django_capture_on_commit_callbacks
):
    conversion = conversion_for(offer, alice, amount="50.00")
    conversion_process(conversion_id=conversion.pk)
    rates = tmp_path / "rates.csv"
    rates.write_text("date,base,quote,rate\n2025-06-02,EUR,USD,1.25\n")

    with django_capture_on_commit_callbacks(execute=True):
        call_command("load_exchange_rates", str(rates))
    assert queue.count == 1
    run_worker()

    conversion.refresh_from_db()
    assert conversion.status == "accepted" and conversion.status_reason == ""
    reward = Reward.objects.get()
    # The stored rate is EUR->USD 1.25; USD->EUR is its inverse, 0.8: 50 USD = 40 EUR, 10% = 4.00 EUR.
    assert reward.amount == Decimal("4.00") and reward.currency == "EUR"
    assert reward.exchange_rate == Decimal("0.8") and reward.rate_date == date(2025, 6, 2)
    assert reward.explanation["rates"]["USD->EUR"] == {
        "rate": "0.8",
        "date": "2025-06-02",
        "inverse_of_stored_rate": True,
    }


def test_a_rate_entered_by_staff_also_wakes_the_waiting_conversions(
    offer, alice, eur_rule, conversion_for, run_worker, django_capture_on_commit_callbacks
):
    conversion = conversion_for(offer, alice, amount="50.00")
    conversion_process(conversion_id=conversion.pk)
    with django_capture_on_commit_callbacks(execute=True):
        exchange_rate_set(base="USD", quote="EUR", day=date(2025, 6, 2), rate=Decimal("0.9"))
    run_worker()
    conversion.refresh_from_db()
    assert conversion.status == "accepted" and Reward.objects.get().amount == Decimal("4.50")


def test_a_weekend_conversion_uses_fridays_rate(offer, alice, eur_rule, conversion_for):
    ExchangeRate.objects.create(base="USD", quote="EUR", date=date(2025, 6, 6), rate="0.9")
    conversion = conversion_for(offer, alice, amount="10.00", occurred_at=SATURDAY)
    assert conversion_process(conversion_id=conversion.pk) == "accepted"
    assert Reward.objects.get().rate_date == date(2025, 6, 6)


def test_a_rate_older_than_the_allowed_age_is_not_used(offer, alice, eur_rule, conversion_for, settings):
    settings.EXCHANGE_RATE_MAX_AGE_DAYS = 0
    ExchangeRate.objects.create(base="USD", quote="EUR", date=date(2025, 6, 6), rate="0.9")
    conversion = conversion_for(offer, alice, amount="10.00", occurred_at=SATURDAY)
    assert conversion_process(conversion_id=conversion.pk) == "pending"


def test_the_rate_of_the_conversions_date_is_used_not_todays(offer, alice, eur_rule, conversion_for):
    ExchangeRate.objects.create(base="USD", quote="EUR", date=date(2025, 6, 2), rate="0.9")
    ExchangeRate.objects.create(base="USD", quote="EUR", date=date(2025, 6, 3), rate="0.5")
    conversion_process(conversion_id=conversion_for(offer, alice, amount="10.00").pk)
    assert Reward.objects.get().amount == Decimal("0.90")


def test_a_bad_rates_file_names_each_bad_line_and_loads_nothing(tmp_path):
    rates = tmp_path / "rates.csv"
    rates.write_text(
        "date,base,quote,rate\n2025-06-02,USD,EUR,0.9\n2025-13-01,USD,EUR,0.9\n2025-06-02,USD,XXX,1\n"
        "2025-06-02,USD,EUR,-1\n2025-06-02,USD,USD,1\n"
    )
    with pytest.raises(CommandError) as error:
        call_command("load_exchange_rates", str(rates))
    message = str(error.value)
    assert "line 3:" in message and "line 4: Unknown currency." in message
    assert "line 5: A rate must be more than zero." in message and "line 6: A rate needs two" in message
    assert "line 2" not in message
    assert not ExchangeRate.objects.exists()


def test_a_rates_file_without_the_columns_is_refused(tmp_path):
    rates = tmp_path / "rates.csv"
    rates.write_text("day,from,to\n")
    with pytest.raises(CommandError, match="missing column"):
        call_command("load_exchange_rates", str(rates))


def test_loading_again_corrects_a_day_and_creates_nothing_twice(tmp_path, capsys):
    rates = tmp_path / "rates.csv"
    rates.write_text("date,base,quote,rate\n2025-06-02,USD,EUR,0.9\n")
    call_command("load_exchange_rates", str(rates))
    rates.write_text("date,base,quote,rate\n2025-06-02,USD,EUR,0.91\n")
    call_command("load_exchange_rates", str(rates))
    assert ExchangeRate.objects.get().rate == Decimal("0.91")
    assert "Loaded 0 new and 1 corrected rates" in capsys.readouterr().out


def test_waiting_conversions_are_left_to_the_rate_path_by_the_sweeper(offer, alice, eur_rule, conversion_for):
    from conversions.processing.pipeline import conversions_process_pending

    waiting = conversion_for(offer, alice)
    conversion_process(conversion_id=waiting.pk)
    assert conversions_process_pending(batch_size=10).taken == 0
    ExchangeRate.objects.create(base="USD", quote="EUR", date=date(2025, 6, 2), rate="0.9")
    assert conversions_process_pending(batch_size=10, retry_missing_rates=True).counts == {"rewarded": 1}
    assert Conversion.objects.get().status == "accepted"
