"""The performance report from the rollups (by day, offer or sub1) and its daily chart."""

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import F, QuerySet, Sum
from django.db.models.functions import TruncDate

from conversions.models import ConversionStat, ConversionSub1Stat, PartnerConversionStat
from conversions.reports.periods import Period
from core.money import money_quantize
from referrals.models import ClickStat, ClickSub1Stat, Offer, Partner, PartnerClickStat

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
        """Earnings per click, per currency."""
        if not self.clicks:
            return []
        return [
            (currency, (amount / self.clicks).quantize(Decimal("0.0001")))
            for currency, amount in sorted(self.earnings.items())
            if amount
        ]

    @property
    def earnings_list(self) -> list[tuple[str, Decimal]]:
        """Per currency; a currency whose rewards were all reversed drops out."""
        return [
            (currency, money_quantize(amount, currency)) for currency, amount in sorted(self.earnings.items()) if amount
        ]


def rollup_rows(clicks: QuerySet, conversions: QuerySet, *, key) -> dict:
    """Rows by `key` (an expression on the rollups' columns) from click and conversion rollup rows."""
    clicks = clicks.annotate(key=key).values("key").order_by()
    conversions = conversions.annotate(key=key).values("key", "currency").order_by()
    rows: dict = {}
    for found in clicks.annotate(c=Sum("clicks"), u=Sum("unique_clicks")):
        row = rows.setdefault(found["key"], PerformanceRow(found["key"]))
        row.clicks, row.unique_clicks = found["c"], found["u"]
    for found in conversions.annotate(n=Sum("conversions"), e=Sum("earnings")):
        row = rows.setdefault(found["key"], PerformanceRow(found["key"]))
        row.conversions += found["n"]
        if found["currency"]:  # counts are on the row without a currency, earnings on one per currency
            row.earnings[found["currency"]] += found["e"]
    return rows


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
    # By sub1 needs the (bigger) sub1 rollups; days of all offers the per-partner sums, a row per quarter hour
    # however many offers the partner has; the rest the rollups per offer.
    if group_by == "sub1":
        click_model, conversion_model = ClickSub1Stat, ConversionSub1Stat
    elif group_by == "day" and offer is None:
        click_model, conversion_model = PartnerClickStat, PartnerConversionStat
    else:
        click_model, conversion_model = ClickStat, ConversionStat
    scope = {"partner": partner, "bucket__gte": period.utc_start, "bucket__lt": period.utc_end}
    if offer is not None:
        scope["offer"] = offer
    # Each bucket is a UTC quarter hour, which lies inside one local day in any real time zone.
    key = {"day": TruncDate("bucket", tzinfo=period.tz), "offer": F("offer_id")}.get(group_by, F("sub1"))
    rows = rollup_rows(click_model.objects.filter(**scope), conversion_model.objects.filter(**scope), key=key)
    if group_by == "day":
        ordered = day_rows(rows, period)
    else:
        names = dict(Offer.objects.filter(pk__in=list(rows)).values_list("pk", "name")) if group_by == "offer" else {}
        for row in rows.values():
            row.label = names.get(row.key, str(row.key)) if group_by == "offer" else row.key or "(none)"
        ordered = sorted(rows.values(), key=lambda r: (-r.clicks, r.label))

    return ordered, rows_total(ordered)


def daily_chart(rows: list[PerformanceRow], *, width: int = 720, height: int = 200) -> dict:
    """Bars for clicks and conversions per day, laid out for an inline SVG (heights from the axis up)."""
    top = max([row.clicks for row in rows] + [row.conversions for row in rows] + [1])
    slot = width / max(len(rows), 1)
    every = max(1, len(rows) // 10)
    bars = [
        {
            "row": row,
            "x": round(index * slot + slot * 0.1, 2),
            "conversions_x": round(index * slot + slot * 0.5, 2),
            "width": round(slot * 0.4, 2),
            "clicks_height": round(height * row.clicks / top, 2),
            "conversions_height": round(height * row.conversions / top, 2),
            "label": row.label[5:] if len(row.label) == 10 else row.label,
            "show_label": index % every == 0,
        }
        for index, row in enumerate(rows)
    ]
    return {"bars": bars, "width": width, "height": height, "top": top}
