"""Reads for the publisher dashboard: periods in the partner's time zone, the conversion report,
the performance report from the rollups, the home summary and the earnings.

Every function takes the partner and filters by it first; nothing here can
read another partner's rows.
"""

import uuid
import zoneinfo
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db import connection
from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import TruncDate

from conversions.models import Conversion, ConversionStat, ConversionSub1Stat, PartnerConversionStat
from core.money import money_quantize
from referrals.models import ClickStat, ClickSub1Stat, Offer, Partner, PartnerClickStat
from rewards.models import Account, Entry, Reward

PRESETS = {
    "today": "Today",
    "yesterday": "Yesterday",
    "last_7": "Last 7 days",
    "last_30": "Last 30 days",
    "this_month": "This month",
    "last_month": "Last month",
    "custom": "Custom",
}
MAX_PERIOD_DAYS = 366


@dataclass(frozen=True)
class Period:
    """Whole local days, `start` to `end` inclusive, in a time zone."""

    start: date
    end: date
    tz: zoneinfo.ZoneInfo

    @property
    def utc_start(self) -> datetime:
        # combine() with a ZoneInfo gives local midnight with the offset of that date: DST is handled.
        return datetime.combine(self.start, time.min, tzinfo=self.tz)

    @property
    def utc_end(self) -> datetime:
        """Exclusive: the local midnight after the last day."""
        return datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=self.tz)

    def days(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days + 1)]


def partner_tz(partner: Partner) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(partner.time_zone or "UTC")


def partner_today(partner: Partner, now: datetime) -> date:
    return now.astimezone(partner_tz(partner)).date()


def period_for_preset(preset: str, *, today: date, tz: zoneinfo.ZoneInfo) -> Period:
    if preset == "today":
        return Period(today, today, tz)
    if preset == "yesterday":
        return Period(today - timedelta(days=1), today - timedelta(days=1), tz)
    if preset == "last_30":
        return Period(today - timedelta(days=29), today, tz)
    if preset == "this_month":
        return Period(today.replace(day=1), today, tz)
    if preset == "last_month":
        last_day = today.replace(day=1) - timedelta(days=1)
        return Period(last_day.replace(day=1), last_day, tz)
    # last_7, the default
    return Period(today - timedelta(days=6), today, tz)


# --- the conversion report ------------------------------------------------------------------------------------

SORTS = {
    "time": "created_at",
    "offer": "offer__name",
    "external_id": "external_id",
    "amount": "amount",
    "reward": "reward_amount",
    "status": "status",
}
SUB_FIELDS = ("sub1", "sub2", "sub3", "sub4", "sub5")


@dataclass
class ConversionFilters:
    period: Period
    offer: Offer | None = None
    status: str = ""
    type: str = ""
    subs: dict = field(default_factory=dict)
    search: str = ""
    sort: str = "-time"


def _conversions_matching(*, partner: Partner, filters: ConversionFilters) -> QuerySet:
    rows = Conversion.objects.filter(
        partner=partner, created_at__gte=filters.period.utc_start, created_at__lt=filters.period.utc_end
    )
    if filters.offer is not None:
        rows = rows.filter(offer=filters.offer)
    if filters.status:
        rows = rows.filter(status=filters.status)
    if filters.type:
        rows = rows.filter(type=filters.type)
    for name, value in filters.subs.items():
        if value:
            rows = rows.filter(**{name: value})
    if filters.search:
        term = filters.search.strip()
        match = Q(external_id=term)
        try:
            match |= Q(pk=uuid.UUID(term))
        except ValueError:
            pass
        rows = rows.filter(match)
    return rows.order_by()


def conversion_report(*, partner: Partner, filters: ConversionFilters) -> QuerySet:
    """The ids of the partner's conversions in the period that match the filters, sorted.

    Only ids: a page (or an export chunk) is then loaded with its offer, click
    and reward by `conversion_rows`, so a deep page does not join and look up
    rewards for every row it skips.
    """
    rows = _conversions_matching(partner=partner, filters=filters)
    sort = filters.sort if filters.sort.lstrip("-") in SORTS else "-time"
    column = SORTS[sort.lstrip("-")]
    if column == "reward_amount":  # the only column that can be empty: conversions without a reward go last
        reward = Reward.objects.filter(conversion_id=OuterRef("pk")).values("amount")[:1]
        rows = rows.annotate(reward_amount=Subquery(reward))
        ordering = F(column).desc(nulls_last=True) if sort.startswith("-") else F(column).asc(nulls_last=True)
    else:
        # Plain ASC/DESC, so that the default (newest first) walks the (partner, created_at) index.
        ordering = F(column).desc() if sort.startswith("-") else F(column).asc()
    return rows.order_by(ordering, "-pk" if sort.startswith("-") else "pk").values_list("pk", flat=True)


def conversion_rows(ids: list) -> list[Conversion]:
    """The conversions with these ids, in this order, with offer, click and reward (`reward_amount`, ...)."""
    found = Conversion.objects.select_related("offer", "click").in_bulk(ids)
    rewards = {
        reward.conversion_id: reward
        for reward in Reward.objects.filter(conversion_id__in=ids).only("conversion_id", "amount", "currency", "status")
    }
    rows = []
    for pk in ids:
        conversion = found[pk]
        reward = rewards.get(pk)
        conversion.reward_amount = reward.amount if reward else None
        conversion.reward_currency = reward.currency if reward else ""
        conversion.reward_status = reward.status if reward else ""
        rows.append(conversion)
    return rows


@dataclass
class ReportTotals:
    conversions: int
    amounts: list[tuple[str, Decimal]]  # per conversion currency
    rewards: list[tuple[str, Decimal]]  # per reward currency, reversed rewards left out


def conversion_report_totals(*, partner: Partner, filters: ConversionFilters) -> ReportTotals:
    """The totals row: how many conversions, their amounts and their rewards, per currency.

    For a period alone, the sums of the per-partner rollup (a row per quarter hour); with any other
    filter, one pass over the matching conversions with their rewards joined (a reward names its
    conversion by id only, so the join is written out here).
    """
    if not (filters.offer or filters.status or filters.type or filters.search or any(filters.subs.values())):
        return _period_totals(partner=partner, period=filters.period)
    return _matching_totals(partner=partner, filters=filters)


def _matching_totals(*, partner: Partner, filters: ConversionFilters) -> ReportTotals:
    matching = _conversions_matching(partner=partner, filters=filters).values("id", "currency", "amount")
    inner, params = matching.query.sql_with_params()
    reward_table = Reward._meta.db_table
    sql = (
        "SELECT c.currency, r.currency, COUNT(*), SUM(c.amount), "  # noqa: S608 (our own tables and query)
        f"SUM(r.amount) FILTER (WHERE r.status <> '{Reward.Status.REVERSED}') "
        # The partner's own rewards only (a reward's partner is its conversion's): the planner can then read
        # them by the partner index and hash-join, instead of one index probe per conversion.
        f"FROM ({inner}) c LEFT JOIN {reward_table} r ON r.conversion_id = c.id AND r.partner_id = %s GROUP BY 1, 2"
    )
    params = (*params, partner.pk)
    count, amounts, rewards = 0, defaultdict(Decimal), defaultdict(Decimal)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for currency, reward_currency, n, amount, reward in cursor.fetchall():
            count += n
            amounts[currency] += Decimal(amount)
            if reward_currency and reward is not None:
                rewards[reward_currency] += Decimal(reward)
    return ReportTotals(
        conversions=count,
        amounts=[(currency, money_quantize(total, currency)) for currency, total in sorted(amounts.items())],
        rewards=[(currency, money_quantize(total, currency)) for currency, total in sorted(rewards.items())],
    )


def _period_totals(*, partner: Partner, period: Period) -> ReportTotals:
    """The same totals from `PartnerConversionStat`: the period's bounds are local midnights, quarter hours in UTC."""
    rows = (
        PartnerConversionStat.objects.filter(partner=partner, bucket__gte=period.utc_start, bucket__lt=period.utc_end)
        .values("currency")
        .annotate(n=Sum("conversions"), priced=Sum("priced"), amount=Sum("amount"), earnings=Sum("earnings"))
        .order_by("currency")
    )
    count, amounts, rewards = 0, [], []
    for row in rows:
        count += row["n"]
        if row["priced"]:
            amounts.append((row["currency"], money_quantize(row["amount"], row["currency"])))
        # Earnings are rewards granted less reversals: a currency whose rewards were all reversed drops out.
        if row["currency"] and row["earnings"]:
            rewards.append((row["currency"], money_quantize(row["earnings"], row["currency"])))
    return ReportTotals(conversions=count, amounts=amounts, rewards=rewards)


# --- the performance report, from the rollups -------------------------------------------------------------------

GROUPINGS = {"day": "Day", "offer": "Offer", "sub1": "Sub ID 1"}


@dataclass
class PerformanceRow:
    key: object
    label: str
    clicks: int = 0
    unique_clicks: int = 0
    conversions: int = 0
    earnings: dict = field(default_factory=dict)  # currency -> Decimal

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
    clicks = click_model.objects.filter(partner=partner, bucket__gte=period.utc_start, bucket__lt=period.utc_end)
    conversions = conversion_model.objects.filter(
        partner=partner, bucket__gte=period.utc_start, bucket__lt=period.utc_end
    )
    if offer is not None:
        clicks, conversions = clicks.filter(offer=offer), conversions.filter(offer=offer)
    if group_by == "day":
        # Each bucket is a UTC quarter hour, which lies inside one local day in any real time zone.
        key = TruncDate("bucket", tzinfo=period.tz)
    elif group_by == "offer":
        key = F("offer_id")
    else:
        key = F("sub1")
    rows: dict = {}

    def row_for(value) -> PerformanceRow:
        if value not in rows:
            rows[value] = PerformanceRow(key=value, label=str(value))
        return rows[value]

    for found in clicks.annotate(key=key).values("key").annotate(c=Sum("clicks"), u=Sum("unique_clicks")):
        row = row_for(found["key"])
        row.clicks, row.unique_clicks = found["c"], found["u"]
    for found in (
        conversions.annotate(key=key).values("key", "currency").annotate(n=Sum("conversions"), e=Sum("earnings"))
    ):
        row = row_for(found["key"])
        row.conversions += found["n"]
        if found["currency"]:
            row.earnings[found["currency"]] = row.earnings.get(found["currency"], Decimal(0)) + found["e"]

    if group_by == "day":
        ordered = [rows.get(day) or PerformanceRow(key=day, label="") for day in period.days()]
        for row in ordered:
            row.label = row.key.isoformat()
    elif group_by == "offer":
        names = dict(Offer.objects.filter(pk__in=list(rows)).values_list("pk", "name"))
        for row in rows.values():
            row.label = names.get(row.key, str(row.key))
        ordered = sorted(rows.values(), key=lambda r: (-r.clicks, r.label))
    else:
        for row in rows.values():
            row.label = row.key or "(none)"
        ordered = sorted(rows.values(), key=lambda r: (-r.clicks, r.label))

    total = PerformanceRow(key=None, label="Total")
    for row in ordered:
        total.clicks += row.clicks
        total.unique_clicks += row.unique_clicks
        total.conversions += row.conversions
        for currency, amount in row.earnings.items():
            total.earnings[currency] = total.earnings.get(currency, Decimal(0)) + amount
    return ordered, total


# --- home and earnings ----------------------------------------------------------------------------------------


def rewards_by_status(*, partner: Partner, period: Period | None = None) -> dict[str, list[tuple[str, Decimal]]]:
    """Reward totals per status and currency, for rewards made in the period (or ever)."""
    rewards = Reward.objects.filter(partner=partner)
    if period is not None:
        rewards = rewards.filter(created_at__gte=period.utc_start, created_at__lt=period.utc_end)
    found: dict[str, list[tuple[str, Decimal]]] = defaultdict(list)
    for row in rewards.values("status", "currency").annotate(total=Sum("amount")).order_by("status", "currency"):
        found[row["status"]].append((row["currency"], money_quantize(row["total"], row["currency"])))
    return dict(found)


LEDGER_KINDS = {
    Account.Kind.PARTNER_PENDING: "Pending (in validation)",
    Account.Kind.PARTNER_AVAILABLE: "Approved (available)",
    Account.Kind.PARTNER_PAID: "Paid",
}


def ledger_balances(*, partner: Partner) -> list[dict]:
    """The partner's ledger balances by account kind and currency, summed from the entries."""
    totals = (
        Entry.objects.filter(account__partner=partner, account__kind__in=list(LEDGER_KINDS))
        .values("account__kind", "currency")
        .annotate(total=Sum("amount"), entries=Count("pk"))
        .order_by("account__kind", "currency")
    )
    by_kind = {(row["account__kind"], row["currency"]): row["total"] for row in totals}
    currencies = sorted({currency for _, currency in by_kind}) or []
    return [
        {
            "currency": currency,
            "balances": [
                (label, money_quantize(by_kind.get((kind, currency), Decimal(0)), currency))
                for kind, label in LEDGER_KINDS.items()
            ],
            "available": money_quantize(by_kind.get((Account.Kind.PARTNER_AVAILABLE, currency), Decimal(0)), currency),
        }
        for currency in currencies
    ]


@dataclass
class ChartBar:
    x: float
    conversions_x: float
    width: float
    clicks_y: float
    clicks_height: float
    conversions_y: float
    conversions_height: float
    label: str
    clicks: int
    conversions: int
    show_label: bool


def daily_chart(rows: list[PerformanceRow], *, width: int = 720, height: int = 200) -> dict:
    """Bars for clicks and conversions per day, laid out for an inline SVG."""
    top = max([row.clicks for row in rows] + [row.conversions for row in rows] + [1])
    slot = width / max(len(rows), 1)
    every = max(1, len(rows) // 10)
    bars = []
    for index, row in enumerate(rows):
        clicks_height = height * row.clicks / top
        conversions_height = height * row.conversions / top
        bars.append(
            ChartBar(
                x=round(index * slot + slot * 0.1, 2),
                conversions_x=round(index * slot + slot * 0.5, 2),
                width=round(slot * 0.4, 2),
                clicks_y=round(height - clicks_height, 2),
                clicks_height=round(clicks_height, 2),
                conversions_y=round(height - conversions_height, 2),
                conversions_height=round(conversions_height, 2),
                label=row.label[5:] if len(row.label) == 10 else row.label,
                clicks=row.clicks,
                conversions=row.conversions,
                show_label=index % every == 0,
            )
        )
    return {"bars": bars, "width": width, "height": height, "top": top}
