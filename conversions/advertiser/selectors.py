"""Reads for the advertiser pages; every one is scoped to one advertiser."""

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db.models import Count, F, Q, QuerySet, Sum
from django.db.models.functions import TruncDate, TruncMonth

from conversions.models import (
    Conversion,
    ConversionStat,
    ConversionUpload,
    MissingConversionClaim,
    RequestLogEntry,
)
from conversions.reports.performance import PerformanceRow, day_rows, rollup_rows, rows_total
from conversions.reports.periods import Period
from core.money import money_quantize
from referrals.models import Advertiser, ClickStat, Offer, Partner
from rewards.models import Reward

CLAIM_OPEN = (MissingConversionClaim.Status.SUBMITTED, MissingConversionClaim.Status.UNDER_REVIEW)


def _matching(filters: dict, *names: str) -> dict:
    return {name: filters[name] for name in names if filters.get(name)}


def advertiser_for_user(user, advertiser_id: int | None = None) -> Advertiser | None:
    """The advertiser the user acts for: the chosen one if they are a member of it, else their first."""
    memberships = Advertiser.objects.filter(members=user).order_by("name", "pk")
    chosen = memberships.filter(pk=advertiser_id).first() if advertiser_id is not None else None
    return chosen or memberships.first()


def conversions_in_validation(*, advertiser: Advertiser, now: datetime, filters: dict) -> QuerySet:
    """The advertiser's conversions whose offer's validation term has not ended, newest first."""
    # Few offers per advertiser: one range per offer keeps this a plain indexed filter on created_at.
    inside = Q(pk__in=[])
    for offer in Offer.objects.filter(advertiser=advertiser).only("pk", "validation_term_days"):
        inside |= Q(offer_id=offer.pk, created_at__gt=now - timedelta(days=offer.validation_term_days))
    queryset = (
        Conversion.objects.filter(inside, advertiser=advertiser, **_matching(filters, "offer", "status", "type"))
        .select_related("offer", "partner__user")
        .order_by("-created_at", "pk")
    )
    tz = ZoneInfo(advertiser.time_zone)
    if filters.get("q"):
        queryset = queryset.filter(external_id__icontains=filters["q"].strip())
    if filters.get("created_from"):
        queryset = queryset.filter(created_at__gte=datetime.combine(filters["created_from"], time.min, tzinfo=tz))
    if filters.get("created_to"):
        end = datetime.combine(filters["created_to"] + timedelta(days=1), time.min, tzinfo=tz)
        queryset = queryset.filter(created_at__lt=end)
    return queryset


def uploads_of(advertiser: Advertiser) -> QuerySet:
    return ConversionUpload.objects.filter(advertiser=advertiser).select_related("offer", "uploaded_by")


def request_log_of(*, advertiser: Advertiser, filters: dict) -> QuerySet:
    """The advertiser's refused or duplicate ingestion requests, newest first (the index is on both)."""
    return RequestLogEntry.objects.filter(advertiser=advertiser, **_matching(filters, "reason", "channel")).order_by(
        "-created_at", "-pk"
    )


def claims_of(*, advertiser: Advertiser, status: str = "open") -> QuerySet:
    """Missing-conversion claims on the advertiser's offers: "open" (still to decide), one status, or "all"."""
    queryset = (
        MissingConversionClaim.objects.filter(offer__advertiser=advertiser)
        .select_related("offer", "partner__user", "conversion", "reviewed_by")
        .order_by("-created_at", "-pk")
    )
    if status == "open":
        return queryset.filter(status__in=CLAIM_OPEN)
    if status in MissingConversionClaim.Status.values:
        return queryset.filter(status=status)
    return queryset


# The home's figures: over the advertiser's own offers only ---------------------------------------


def _offer_ids(advertiser: Advertiser) -> list[int]:
    return list(Offer.objects.filter(advertiser=advertiser).values_list("pk", flat=True))


def _labels(group_by: str, keys) -> dict:
    """Offers and partners by their names (one query), for rows keyed by their ids."""
    if group_by == "offer":
        return dict(Offer.objects.filter(pk__in=list(keys)).values_list("pk", "name"))
    return {p.pk: p.display_name for p in Partner.objects.filter(pk__in=list(keys)).select_related("user")}


def _money_list(amounts: Counter) -> list[tuple[str, Decimal]]:
    return [(currency, money_quantize(amount, currency)) for currency, amount in sorted(amounts.items()) if amount]


def advertiser_performance(
    *, advertiser: Advertiser, period: Period, group_by: str = "day"
) -> tuple[list[PerformanceRow], PerformanceRow]:
    """Clicks, conversions and commission (rewards granted less reversals) on the advertiser's offers, by local day,
    offer or partner, from the rollups; and the total row. Rows by offer or partner come busiest first."""
    # The rollups' offer index finds the advertiser's rows; each quarter-hour bucket lies inside one local day.
    scope = {"offer_id__in": _offer_ids(advertiser), "bucket__gte": period.utc_start, "bucket__lt": period.utc_end}
    key = {"day": TruncDate("bucket", tzinfo=period.tz), "offer": F("offer_id"), "partner": F("partner_id")}[group_by]
    rows = rollup_rows([ClickStat.objects.filter(**scope)], [ConversionStat.objects.filter(**scope)], key=key)
    if group_by == "day":
        ordered = day_rows(rows, period)
    else:
        names = _labels(group_by, rows)
        for row in rows.values():
            row.label = names.get(row.key, str(row.key))
        ordered = sorted(rows.values(), key=lambda r: (-r.conversions, -r.clicks, r.label))

    return ordered, rows_total(ordered)


@dataclass
class ConversionTotals:
    """The period's conversions on the advertiser's offers: how many and their amounts, in all and per status."""

    count: int = 0
    amounts: list[tuple[str, Decimal]] = field(default_factory=list)  # per currency, rejected ones left out
    by_status: list[tuple[str, int, list[tuple[str, Decimal]]]] = field(default_factory=list)


def advertiser_conversion_totals(*, advertiser: Advertiser, period: Period) -> ConversionTotals:
    """From the conversions themselves (the rollups keep no amounts per offer), read by the (offer, created_at)
    index; every conversion counts, attributed or not."""
    rows = (
        Conversion.objects.filter(
            advertiser=advertiser,
            offer_id__in=_offer_ids(advertiser),
            created_at__gte=period.utc_start,
            created_at__lt=period.utc_end,
        )
        .values("status", "currency")
        .annotate(n=Count("pk"), amount=Sum("amount"))
        .order_by()
    )
    counts: Counter = Counter()
    amounts: dict[str, Counter] = defaultdict(Counter)
    for row in rows:
        counts[row["status"]] += row["n"]
        amounts[row["status"]][row["currency"]] += row["amount"]
    kept = Counter()
    for status, by_currency in amounts.items():
        if status != Conversion.Status.REJECTED:
            kept.update(by_currency)
    by_status = [
        (label, counts[value], _money_list(amounts[value]))
        for value, label in Conversion.Status.choices
        if counts[value]
    ]
    return ConversionTotals(count=sum(counts.values()), amounts=_money_list(kept), by_status=by_status)


COMMISSION_STATUSES = (Reward.Status.PENDING, Reward.Status.APPROVED, Reward.Status.PAID)


@dataclass
class CommissionRow:
    """Commission per status and currency: `owed` is pending and approved (not yet paid)."""

    key: object
    label: str = ""
    by_status: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))

    @property
    def pending(self) -> list[tuple[str, Decimal]]:
        return _money_list(self.by_status[Reward.Status.PENDING])

    @property
    def approved(self) -> list[tuple[str, Decimal]]:
        return _money_list(self.by_status[Reward.Status.APPROVED])

    @property
    def paid(self) -> list[tuple[str, Decimal]]:
        return _money_list(self.by_status[Reward.Status.PAID])

    @property
    def owed(self) -> list[tuple[str, Decimal]]:
        return _money_list(self.by_status[Reward.Status.PENDING] + self.by_status[Reward.Status.APPROVED])


def advertiser_commission(
    *, advertiser: Advertiser, period: Period, group_by: str
) -> tuple[list[CommissionRow], CommissionRow]:
    """Commission on the advertiser's offers for rewards made in the period (as the publisher's home counts them),
    by partner, offer or local month, largest owed first (months in order); and the total. Reversed rewards are
    owed to no one and left out."""
    rewards = Reward.objects.filter(
        offer_id__in=_offer_ids(advertiser),
        status__in=COMMISSION_STATUSES,
        created_at__gte=period.utc_start,
        created_at__lt=period.utc_end,
    )
    key = {"partner": F("partner_id"), "offer": F("offer_id"), "month": TruncMonth("created_at", tzinfo=period.tz)}
    rewards = rewards.annotate(key=key[group_by]).values("key", "status", "currency").order_by()
    rows: dict = {}
    total = CommissionRow(key=None, label="Total")
    for found in rewards.annotate(s=Sum("amount")):
        row = rows.setdefault(found["key"], CommissionRow(found["key"]))
        row.by_status[found["status"]][found["currency"]] += found["s"]
        total.by_status[found["status"]][found["currency"]] += found["s"]
    if group_by == "month":
        ordered = sorted(rows.values(), key=lambda r: r.key)
        for row in ordered:
            row.label = f"{row.key:%Y-%m}"
        return ordered, total
    names = _labels(group_by, rows)
    for row in rows.values():
        row.label = names.get(row.key, "")
    # Mixed currencies have no one order: largest first by the sum of the owed amounts' numbers, then by name.
    ordered = sorted(rows.values(), key=lambda r: (-sum(a for _, a in r.owed), r.label))
    return ordered, total
