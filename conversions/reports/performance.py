"""The performance report from the rollups (by day, offer or sub1), its comparison with the period before, and
its daily chart."""

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal

from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import F, Q, QuerySet, Sum
from django.db.models.functions import TruncDate

from conversions.models import (
    ConversionDayStat,
    ConversionStat,
    ConversionSub1DayStat,
    ConversionSub1Stat,
    PartnerConversionStat,
    PartnerConversionSub1DayStat,
)
from conversions.reports.periods import Period
from core.money import CURRENCY_MINOR_UNITS, money_quantize
from referrals.models import (
    ClickDayStat,
    ClickStat,
    ClickSub1DayStat,
    ClickSub1Stat,
    Offer,
    Partner,
    PartnerClickStat,
    PartnerClickSub1DayStat,
)

GROUPINGS = {"day": "Day", "offer": "Offer", "sub1": "Sub ID 1"}


@dataclass
class PerformanceRow:
    key: object
    label: str = ""
    clicks: int = 0
    unique_clicks: int = 0
    conversions: int = 0
    earnings: Counter = field(default_factory=Counter)  # currency -> Decimal

    @property
    def conversion_rate(self) -> Decimal | None:
        if not self.clicks:
            return None
        return (Decimal(self.conversions) * 100 / self.clicks).quantize(Decimal("0.01"))

    @property
    def epc(self) -> list[tuple[str, Decimal]]:
        """Earnings per click, per currency, at the currency's minor unit like every amount on a page."""
        if not self.clicks:
            return []
        return [
            (currency, money_quantize(amount / self.clicks, currency))
            for currency, amount in sorted(self.earnings.items())
            if amount
        ]

    @property
    def earnings_list(self) -> list[tuple[str, Decimal]]:
        """Per currency; a currency whose rewards were all reversed drops out."""
        return [
            (currency, money_quantize(amount, currency)) for currency, amount in sorted(self.earnings.items()) if amount
        ]


def _summed_rows(part: QuerySet, *, key, keys: list[str], **sums) -> list[tuple]:
    """`part` grouped by `key` (and `keys`), with `sums`, as plain tuples: Django's converters on every value (an int()
    per count, a Decimal() per amount) were a third of the report's time for a partner with thousands of sub ids."""
    grouped = part.annotate(key=key).values("key", *keys).order_by().annotate(**sums)
    try:
        sql, params = grouped.query.get_compiler(using=grouped.db).as_sql()
    except EmptyResultSet:  # a filter that matches nothing (no offers): Django sends no query either
        return []
    with connections[grouped.db].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def rollup_rows(clicks: list[QuerySet], conversions: list[QuerySet], *, key) -> dict:
    """Rows by `key` (an expression on the rollups' columns) from click and conversion rollup rows, summed over the
    querysets of each kind (the parts of one period: its whole UTC days and its edges)."""
    rows: dict = {}
    # The sums of bigint columns come back as numeric (Decimal): int() keeps the counts ints, as the model's are.
    for part in clicks:
        for found_key, c, u in _summed_rows(part, key=key, keys=[], c=Sum("clicks"), u=Sum("unique_clicks")):
            row = rows.get(found_key)
            if row is None:
                row = rows[found_key] = PerformanceRow(found_key)
            row.clicks += int(c)
            row.unique_clicks += int(u)
    for part in conversions:
        summed = _summed_rows(part, key=key, keys=["currency"], n=Sum("conversions"), e=Sum("earnings"))
        for found_key, currency, n, e in summed:
            row = rows.get(found_key)
            if row is None:
                row = rows[found_key] = PerformanceRow(found_key)
            row.conversions += int(n)
            if currency:  # counts are on the row without a currency, earnings on one per currency
                row.earnings[currency] += e
    return rows


def _utc_midnight(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def rollup_parts(quarter_model, day_model, *, period: Period, **scope) -> list[QuerySet]:
    """The rollup rows of `period` (and `scope`): its whole UTC days from the day-grain model, and from the
    quarter-hour model only its edges, the quarter hours between a local midnight and a UTC one."""
    start, end = period.utc_start, period.utc_end
    first_day, last_day = _utc_midnight(start), _utc_midnight(end)  # whole UTC days: first_day <= day < last_day
    if first_day < start:
        first_day += timedelta(days=1)
    if first_day >= last_day:  # no whole UTC day inside: quarter hours only
        return [quarter_model.objects.filter(bucket__gte=start, bucket__lt=end, **scope)]
    parts = [day_model.objects.filter(bucket__gte=first_day, bucket__lt=last_day, **scope)]
    if start < first_day or last_day < end:
        edges = Q(bucket__gte=start, bucket__lt=first_day) | Q(bucket__gte=last_day, bucket__lt=end)
        parts.append(quarter_model.objects.filter(edges, **scope))
    return parts


def day_rows(rows: dict, period: Period) -> list[PerformanceRow]:
    """A row for every day of the period, in order; a day without clicks or conversions is a row of zeros."""
    ordered = [rows.get(day) or PerformanceRow(day) for day in period.days()]
    for row in ordered:
        row.label = row.key.isoformat()
    return ordered


def rows_total(rows: list[PerformanceRow]) -> PerformanceRow:
    total = PerformanceRow(key=None, label="Total")
    for row in rows:
        total.clicks += row.clicks
        total.unique_clicks += row.unique_clicks
        total.conversions += row.conversions
        total.earnings.update(row.earnings)
    return total


def performance_report(
    *, partner: Partner, period: Period, group_by: str = "day", offer: Offer | None = None
) -> tuple[list[PerformanceRow], PerformanceRow]:
    """Clicks, conversions and earnings grouped by local day, offer or sub1; and the total row."""
    scope = {"partner": partner} if offer is None else {"partner": partner, "offer": offer}
    if group_by == "day":
        # Local days: quarter hours, each of which lies inside one local day in any real time zone. Days of all
        # offers from the per-partner sums, a row per quarter hour however many offers the partner has.
        models = (PartnerClickStat, PartnerConversionStat) if offer is None else (ClickStat, ConversionStat)
        in_period = {"bucket__gte": period.utc_start, "bucket__lt": period.utc_end, **scope}
        clicks, conversions = ([model.objects.filter(**in_period)] for model in models)
        key = TruncDate("bucket", tzinfo=period.tz)
    else:
        # By offer or sub1 the day-grain rollups serve the whole UTC days (a month is 30 rows per offer and sub1,
        # not 2,880), quarter hours the edges; by sub1 needs the (bigger) sub1 rollups, and of all offers their sums
        # over offers (a row per day and sub1, not one per offer too).
        sub1 = group_by == "sub1"
        if not sub1:
            click_models, conversion_models = (ClickStat, ClickDayStat), (ConversionStat, ConversionDayStat)
        elif offer is None:
            click_models = (ClickSub1Stat, PartnerClickSub1DayStat)
            conversion_models = (ConversionSub1Stat, PartnerConversionSub1DayStat)
        else:
            click_models = (ClickSub1Stat, ClickSub1DayStat)
            conversion_models = (ConversionSub1Stat, ConversionSub1DayStat)
        clicks = rollup_parts(*click_models, period=period, **scope)
        conversions = rollup_parts(*conversion_models, period=period, **scope)
        key = F("sub1") if sub1 else F("offer_id")
    rows = rollup_rows(clicks, conversions, key=key)
    if group_by == "day":
        ordered = day_rows(rows, period)
    else:
        names = dict(Offer.objects.filter(pk__in=list(rows)).values_list("pk", "name")) if group_by == "offer" else {}
        for row in rows.values():
            row.label = names.get(row.key, str(row.key)) if group_by == "offer" else row.key or "(none)"
        ordered = sorted(rows.values(), key=lambda r: (-r.clicks, r.label))

    return ordered, rows_total(ordered)


def period_before(period: Period) -> Period:
    """The period of equal length that ends the day before `period` starts: what its figures are compared with."""
    length = period.end - period.start + timedelta(days=1)
    return Period(period.start - length, period.start - timedelta(days=1), period.tz)


@dataclass(frozen=True)
class Change:
    """One headline figure (in one currency, for amounts) in this period and in the period before."""

    current: Decimal | int | None
    previous: Decimal | int | None
    currency: str = ""

    @property
    def percent(self) -> Decimal | None:
        """The change in whole percent; None when the period before had nothing to compare with."""
        if self.current is None or not self.previous:
            return None
        change = (Decimal(self.current) - Decimal(self.previous)) * 100 / Decimal(self.previous)
        return change.quantize(Decimal(1), rounding=ROUND_HALF_UP)

    @property
    def direction(self) -> str:
        now, before = self.current or 0, self.previous or 0
        return "up" if now > before else "down" if now < before else "same"


@dataclass(frozen=True)
class Headline:
    key: str  # the page's data-stat name
    name: str
    kind: str  # "count", "percent" or "money"
    changes: list[Change]


@dataclass(frozen=True)
class Comparison:
    """The headline figures of a period beside those of the period of equal length before it."""

    period: Period
    previous_period: Period
    headlines: list[Headline]

    @property
    def span(self) -> str:
        """How the pages name the period before: "previous day", "previous 7 days"."""
        days = len(self.period.days())
        return "previous day" if days == 1 else f"previous {days} days"


def _by_currency(current: list[tuple[str, Decimal]], previous: list[tuple[str, Decimal]]) -> list[Change]:
    # A currency earned in only one of the two periods is zero in the other, so a drop to nothing still shows.
    now, before = dict(current), dict(previous)
    zero = Decimal(0)
    return [
        Change(now.get(code, money_quantize(zero, code)), before.get(code, zero), code)
        for code in sorted({*now, *before})
    ]


def performance_compare(
    *, partner: Partner, period: Period, total: PerformanceRow, offer: Offer | None = None
) -> Comparison:
    """`total` (the report's total row for `period`) beside the same report's total for the period before."""
    before = period_before(period)
    _, previous = performance_report(partner=partner, period=before, group_by="day", offer=offer)
    headlines = [
        Headline("clicks", "Clicks", "count", [Change(total.clicks, previous.clicks)]),
        Headline("unique_clicks", "Unique clicks", "count", [Change(total.unique_clicks, previous.unique_clicks)]),
        Headline("conversions", "Conversions", "count", [Change(total.conversions, previous.conversions)]),
        Headline("cr", "Conversion rate", "percent", [Change(total.conversion_rate, previous.conversion_rate)]),
        Headline("epc", "EPC", "money", _by_currency(total.epc, previous.epc)),
        Headline("earnings", "Earnings", "money", _by_currency(total.earnings_list, previous.earnings_list)),
    ]
    return Comparison(period=period, previous_period=before, headlines=headlines)


# The daily chart: stacked panels on one time axis, each with its own scale (clicks outnumber conversions a
# hundredfold, and amounts in two currencies cannot share an axis). Laid out for two inline SVGs: the plot,
# stretched to the page's width, and beside it the axis labels at their real size, so text never distorts.
PANEL_GAP = 26  # above each panel: its name
SLOT = 10  # the plot's width per day, in viewBox units; a bar takes the middle 60%
AXIS_WIDTH = 64


def axis_ticks(highest: Decimal | int, *, unit: Decimal = Decimal(1), steps: int = 4) -> list[Decimal]:
    """Round ticks from 0 to at least `highest`: about `steps` steps of 1, 2, 2.5 or 5 times a power of ten,
    never finer than `unit` (one click, one cent)."""
    highest = Decimal(highest)
    if highest <= 0:
        return [Decimal(0), unit]
    rough = max(highest / steps, unit)
    power = Decimal(10) ** rough.adjusted()  # the power of ten of its first digit
    step = next(
        size
        for size in (power * factor for factor in (1, 2, Decimal("2.5"), 5, 10))
        if size >= rough and size % unit == 0
    )
    count = int((highest / step).to_integral_value(rounding=ROUND_CEILING))
    return [step * n for n in range(count + 1)]


def _tick_label(tick: Decimal) -> str:
    return f"{tick.normalize():,f}" if tick else "0"


def _panel(name: str, values: list, *, top: float, height: int, unit: Decimal = Decimal(1), series: str) -> dict:
    ticks = axis_ticks(max([*values, 0]), unit=unit)
    scale = height / float(ticks[-1])
    bottom = top + height
    bars = []
    for index, value in enumerate(values):
        size = round(max(float(value), 0.0) * scale, 2)  # a net reversal draws no bar; its title says so
        bars.append({"x": index * SLOT + SLOT * 0.2, "y": round(bottom - size, 2), "height": size})
    return {
        "name": name,
        "series": series,
        "name_y": top - 9,
        "bars": bars,
        "ticks": [{"y": round(bottom - float(tick) * scale, 2), "label": _tick_label(tick)} for tick in ticks],
    }


def _day(row) -> date | None:
    key = getattr(row, "key", None)
    if isinstance(key, date):
        return key
    try:
        return date.fromisoformat(row.label)
    except (TypeError, ValueError):
        return None


def daily_chart(rows: list[PerformanceRow], *, earnings_name: str = "Earnings", labels: int = 7) -> dict:
    """Clicks, conversions and earnings (one panel per currency) per day, laid out for `_chart.html`.

    `rows` are PerformanceRow-like: `label` (an ISO day), `clicks`, `conversions`, `earnings` (currency -> amount)."""
    currencies = sorted({code for row in rows for code, amount in row.earnings.items() if amount})
    panels, top = [], PANEL_GAP
    series = [
        ("Clicks", "clicks", [row.clicks for row in rows], 110, Decimal(1)),
        ("Conversions", "conversions", [row.conversions for row in rows], 80, Decimal(1)),
    ]
    for code in currencies:  # an axis step is never finer than the currency's minor unit
        minor = Decimal(1).scaleb(-CURRENCY_MINOR_UNITS.get(code, 2))
        series.append((f"{earnings_name} ({code})", "earnings", [row.earnings.get(code, 0) for row in rows], 80, minor))
    for name, kind, values, height, unit in series:
        panels.append(_panel(name, values, top=top, height=height, unit=unit, series=kind))
        top += height + PANEL_GAP
    if not currencies:  # the series is still there, flat on its zero line, and says why
        flat = _panel(f"{earnings_name} (none in this period)", [0] * len(rows), top=top, height=40, series="earnings")
        flat["ticks"] = flat["ticks"][:1]
        panels.append(flat)
        top += 40 + PANEL_GAP
    every = max(1, -(-len(rows) // labels))
    days = []
    for index, row in enumerate(rows):
        day = _day(row)
        days.append(
            {
                "row": row,
                "x": index * SLOT,
                "date": day,
                # Counted back from the last day, so that the latest (often today) always has its date.
                "label": (f"{day:%b} {day.day}" if day else row.label) if (len(rows) - 1 - index) % every == 0 else "",
                "earnings": [(code, row.earnings.get(code, Decimal(0))) for code in currencies],
            }
        )
    height = top - PANEL_GAP
    return {
        "panels": panels,
        "days": days,
        "width": max(len(rows), 1) * SLOT,
        "slot": SLOT,
        "bar_width": SLOT * 0.6,
        "height": height,
        "axis_width": AXIS_WIDTH,
        "currencies": currencies,
        "earnings_name": earnings_name,
    }
