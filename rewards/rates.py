"""Exchange rates, from the conversion's UTC date or the latest earlier day within EXCHANGE_RATE_MAX_AGE_DAYS
(none on weekends); `quote -> base` is the inverse of `base -> quote`. Nothing older: the conversion waits."""

import csv
import io
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction

from core.money import MoneyError, currency_is_known, decimal_parse
from rewards.engine import ConversionFacts
from rewards.errors import RewardError
from rewards.models import ExchangeRate
from rewards.signals import exchange_rates_changed


class RateBook:
    """The rates a set of conversions may use, loaded in one query and answered from memory."""

    def __init__(self, currencies: set[str], days: list[date]) -> None:
        self._rows: dict[tuple[str, str], dict[date, Decimal]] = defaultdict(dict)  # (base, quote) -> {date: rate}
        if len(currencies) < 2 or not days:
            return
        oldest = min(days) - timedelta(days=settings.EXCHANGE_RATE_MAX_AGE_DAYS)
        rows = ExchangeRate.objects.filter(
            base__in=currencies, quote__in=currencies, date__gte=oldest, date__lte=max(days)
        )
        for base, quote, day, rate in rows.values_list("base", "quote", "date", "rate"):
            self._rows[(base, quote)][day] = rate

    def rates_for(self, facts: ConversionFacts, currencies: set[str]) -> tuple[dict, dict]:
        """The rates from the conversion's currency the engine may need, and how each was found (for explanations)."""
        rates, shown = {}, {}
        for currency in currencies - {facts.currency}:
            rates[(facts.currency, currency)] = None
            for age in range(settings.EXCHANGE_RATE_MAX_AGE_DAYS + 1):
                day = facts.occurred_at.date() - timedelta(days=age)
                direct = self._rows[(facts.currency, currency)].get(day)
                inverse = self._rows[(currency, facts.currency)].get(day)
                if direct is not None or inverse is not None:
                    rate = rates[(facts.currency, currency)] = direct if direct is not None else Decimal(1) / inverse
                    shown[f"{facts.currency}->{currency}"] = {
                        "rate": f"{rate.normalize():f}",  # 151.3700000000 -> 151.37
                        "date": day.isoformat(),
                        "inverse_of_stored_rate": direct is None,
                    }
                    break
        return rates, shown


def _rate_check(base: str, quote: str, rate: Decimal) -> None:
    if not currency_is_known(base) or not currency_is_known(quote):
        raise RewardError("Unknown currency.", code="invalid_currency")
    if base == quote:
        raise RewardError("A rate needs two different currencies.", code="invalid_currency")
    if rate <= 0:
        raise RewardError("A rate must be more than zero.", code="invalid_rate")


def _rates_save(rows: list[tuple[str, str, date, Decimal]]) -> list[tuple[ExchangeRate, bool]]:
    """Create or correct each (base, quote, day, rate), and wake the conversions that waited for a rate."""
    with transaction.atomic():
        saved = [
            ExchangeRate.objects.update_or_create(base=base, quote=quote, date=day, defaults={"rate": rate})
            for base, quote, day, rate in rows
        ]
        if saved:
            transaction.on_commit(lambda: exchange_rates_changed.send(sender=ExchangeRate))
    return saved


def exchange_rate_set(*, base: str, quote: str, day: date, rate: Decimal) -> ExchangeRate:
    _rate_check(base, quote, rate)
    return _rates_save([(base, quote, day, rate)])[0][0]


@dataclass
class RatesLoaded:
    created: int
    updated: int
    errors: list[str]


def exchange_rates_load(*, text: str) -> RatesLoaded:
    """Load `date,base,quote,rate` rows (ISO date, 1 base = rate quote): all, or none and every bad line."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [name for name in ("date", "base", "quote", "rate") if name not in (reader.fieldnames or [])]
    if missing:
        return RatesLoaded(created=0, updated=0, errors=[f"line 1: missing column(s) {', '.join(missing)}"])
    parsed, errors = [], []
    for line, row in enumerate(reader, start=2):
        try:
            day = date.fromisoformat((row["date"] or "").strip())
            base, quote = (row["base"] or "").strip().upper(), (row["quote"] or "").strip().upper()
            rate = decimal_parse(row["rate"])
            _rate_check(base, quote, rate)
        except (ValueError, MoneyError, RewardError) as error:
            errors.append(f"line {line}: {getattr(error, 'message', error)}")
            continue
        parsed.append((base, quote, day, rate))
    if errors:
        return RatesLoaded(created=0, updated=0, errors=errors)
    created = sum(was_created for _, was_created in _rates_save(parsed))
    return RatesLoaded(created=created, updated=len(parsed) - created, errors=[])
