"""Exchange rates: look them up for a conversion's date, load them from a CSV.

A rate is taken from the conversion's UTC date or, failing that, the latest
earlier day within EXCHANGE_RATE_MAX_AGE_DAYS (rates are not published on
weekends and holidays). `base -> quote` is used as stored; `quote -> base` is
its inverse. Nothing older counts: the conversion waits for a rate instead.
"""

import csv
import io
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction

from core.money import MoneyError, currency_is_known, decimal_parse
from rewards.errors import RewardError
from rewards.models import ExchangeRate
from rewards.signals import exchange_rates_changed


@dataclass(frozen=True)
class RateFound:
    rate: Decimal
    date: date
    inverse: bool


class RateBook:
    """Rates loaded once (per batch) and answered from memory."""

    def __init__(self) -> None:
        # (base, quote) -> {date: rate}
        self._rows: dict[tuple[str, str], dict[date, Decimal]] = {}
        self._loaded: set[tuple[str, date, date]] = set()

    @staticmethod
    def max_age() -> timedelta:
        return timedelta(days=settings.EXCHANGE_RATE_MAX_AGE_DAYS)

    def preload(self, currencies: set[str], first: date, last: date) -> None:
        """One query for every rate between these currencies that days from `first` to `last` may use."""
        currencies = set(currencies)
        if len(currencies) < 2:
            return
        rows = ExchangeRate.objects.filter(
            base__in=currencies, quote__in=currencies, date__gte=first - self.max_age(), date__lte=last
        ).values_list("base", "quote", "date", "rate")
        for base, quote, day, rate in rows:
            self._rows.setdefault((base, quote), {})[day] = rate
        for currency in currencies:
            self._loaded.add((currency, first, last))

    def _covered(self, currency: str, day: date) -> bool:
        return any(c == currency and first <= day <= last for c, first, last in self._loaded)

    def find(self, base: str, quote: str, day: date) -> RateFound | None:
        if base == quote:
            return RateFound(rate=Decimal(1), date=day, inverse=False)
        if not (self._covered(base, day) and self._covered(quote, day)):
            self.preload({base, quote}, day, day)
        for offset in range(self.max_age().days + 1):
            candidate = day - timedelta(days=offset)
            direct = self._rows.get((base, quote), {}).get(candidate)
            if direct is not None:
                return RateFound(rate=direct, date=candidate, inverse=False)
            inverse = self._rows.get((quote, base), {}).get(candidate)
            if inverse is not None:
                return RateFound(rate=Decimal(1) / inverse, date=candidate, inverse=True)
        return None


def exchange_rate_set(*, base: str, quote: str, day: date, rate: Decimal) -> ExchangeRate:
    """Create or correct one day's rate, and wake the conversions that waited for it."""
    _rate_check(base, quote, rate)
    with transaction.atomic():
        row, _ = ExchangeRate.objects.update_or_create(base=base, quote=quote, date=day, defaults={"rate": rate})
        transaction.on_commit(lambda: exchange_rates_changed.send(sender=ExchangeRate))
    return row


def _rate_check(base: str, quote: str, rate: Decimal) -> None:
    if not currency_is_known(base) or not currency_is_known(quote):
        raise RewardError("Unknown currency.", code="invalid_currency")
    if base == quote:
        raise RewardError("A rate needs two different currencies.", code="invalid_currency")
    if rate <= 0:
        raise RewardError("A rate must be more than zero.", code="invalid_rate")


@dataclass
class RatesLoaded:
    created: int
    updated: int
    errors: list[str]


RATE_COLUMNS = ("date", "base", "quote", "rate")


def exchange_rates_load(*, text: str) -> RatesLoaded:
    """Load `date,base,quote,rate` rows (ISO date, 1 base = rate quote); all or nothing.

    Every bad row is reported with its line number and nothing is written;
    a good file creates new days and corrects existing ones.
    """
    reader = csv.DictReader(io.StringIO(text))
    missing = [name for name in RATE_COLUMNS if name not in (reader.fieldnames or [])]
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
    created = updated = 0
    with transaction.atomic():
        for base, quote, day, rate in parsed:
            _, was_created = ExchangeRate.objects.update_or_create(
                base=base, quote=quote, date=day, defaults={"rate": rate}
            )
            created, updated = created + was_created, updated + (not was_created)
        if parsed:
            transaction.on_commit(lambda: exchange_rates_changed.send(sender=ExchangeRate))
    return RatesLoaded(created=created, updated=updated, errors=[])
