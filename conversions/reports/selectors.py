"""The publisher's reads: the conversion report (rows, filters, sorts, totals), rewards by status, ledger balances.
Every function takes the partner and filters by it first; nothing here can read another partner's rows."""

import uuid
from collections import defaultdict
from contextlib import suppress
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection
from django.db.models import F, OuterRef, Q, QuerySet, Subquery, Sum

from conversions.models import Conversion, PartnerConversionStat
from conversions.reports.periods import Period
from core.money import money_quantize
from referrals.models import Offer, Partner
from rewards.models import Account, Entry, Reward
from rewards.payouts import payout_minimum

SORTS = {  # the report's sortable columns: their column and their heading
    "time": ("created_at", "Local time"),
    "offer": ("offer__name", "Offer"),
    "external_id": ("external_id", "External id"),
    "amount": ("amount", "Amount"),
    "reward": ("reward_amount", "Reward"),
    "status": ("status", "Status"),
}
DEFAULT_SORT = "-time"  # newest first


@dataclass
class ConversionFilters:
    period: Period
    offer: Offer | None = None
    status: str = ""
    type: str = ""
    subs: dict = field(default_factory=dict)
    search: str = ""
    sort: str = DEFAULT_SORT
    # Invalid filters match nothing: rows under a form that looks applied must be the rows it asks for.
    matches_nothing: bool = False

    def lookups(self) -> dict:
        """The chosen equality filters (offer, status, type, sub ids); the search and the period are apart."""
        chosen = {"offer": self.offer, "status": self.status, "type": self.type, **self.subs}
        return {name: value for name, value in chosen.items() if value}


def _conversions_matching(*, partner: Partner, filters: ConversionFilters) -> QuerySet:
    if filters.matches_nothing:
        return Conversion.objects.none()
    period = filters.period
    rows = Conversion.objects.filter(
        partner=partner, created_at__gte=period.utc_start, created_at__lt=period.utc_end, **filters.lookups()
    )
    if filters.search:
        term = filters.search.strip()
        match = Q(external_id=term)
        with suppress(ValueError):
            match |= Q(pk=uuid.UUID(term))
        rows = rows.filter(match)
    return rows.order_by()


def conversion_report(*, partner: Partner, filters: ConversionFilters) -> QuerySet:
    """The ids of the partner's matching conversions, sorted: `conversion_rows` then loads one page (or export
    chunk) with offer, click and reward, so a deep page does not join rewards for every row it skips."""
    rows = _conversions_matching(partner=partner, filters=filters)
    sort = filters.sort if filters.sort.lstrip("-") in SORTS else DEFAULT_SORT
    descending, column = sort.startswith("-"), SORTS[sort.lstrip("-")][0]
    # Plain ASC/DESC, so that the default (newest first) walks the (partner, created_at) index; the reward is the
    # only column that can be empty, and conversions without one go last.
    nulls_last = None
    if column == "reward_amount":
        rows = rows.annotate(
            reward_amount=Subquery(Reward.objects.filter(conversion_id=OuterRef("pk")).values("amount")[:1])
        )
        nulls_last = True
    ordering = F(column).desc(nulls_last=nulls_last) if descending else F(column).asc(nulls_last=nulls_last)
    return rows.order_by(ordering, "-pk" if descending else "pk").values_list("pk", flat=True)


# Sorts whose next and previous pages seek from the row at the page's edge instead of skipping rows with OFFSET:
# plain columns of the conversion (the offer's name and the reward are another table's, and page by OFFSET).
KEYSET_SORTS = {"time", "external_id", "amount", "status"}


def conversion_keyset_page(
    ids: QuerySet, *, partner: Partner, filters: ConversionFilters, after: str = "", before: str = "", size: int
) -> list | None:
    """The ids of the page after the conversion `after` (or before `before`) in the report's order, by seeking in
    the index from that row; None when the sort or the row does not allow it (the caller pages by number)."""
    sort = filters.sort if filters.sort.lstrip("-") in SORTS else DEFAULT_SORT
    name, descending = sort.lstrip("-"), sort.startswith("-")
    edge = None
    with suppress(ValueError):
        edge = uuid.UUID(after or before)
    if name not in KEYSET_SORTS or edge is None:
        return None
    column = SORTS[name][0]
    found = Conversion.objects.filter(partner=partner, pk=edge).values_list(column, flat=True).first()
    if found is None:
        return None
    # Onwards in the page order: smaller when it descends; towards the page before, the other way.
    smaller = descending == bool(after)
    lookup = "lt" if smaller else "gt"
    # (column, id) past the edge row's, with a plain bound on the column first so the index scan starts there.
    past = Q(**{f"{column}__{lookup}": found}) | Q(**{column: found, f"pk__{lookup}": edge})
    rows = ids.filter(past, **{f"{column}__{lookup}e": found})
    if after:
        return list(rows[:size])
    return list(reversed(rows.reverse()[:size]))


def conversion_rows(ids: list) -> list[Conversion]:
    """The conversions with these ids, in this order, with offer, click and reward (`reward_amount`, ...)."""
    found = Conversion.objects.select_related("offer", "click").in_bulk(ids)
    rewards = Reward.objects.filter(conversion_id__in=ids).only("conversion_id", "amount", "currency", "status")
    by_conversion = {reward.conversion_id: reward for reward in rewards}
    rows = [found[pk] for pk in ids]
    for conversion in rows:
        reward = by_conversion.get(conversion.pk)
        conversion.reward_amount = reward.amount if reward else None
        conversion.reward_currency = reward.currency if reward else ""
        conversion.reward_status = reward.status if reward else ""
    return rows


@dataclass
class ReportTotals:
    conversions: int
    amounts: list[tuple[str, Decimal]]  # per conversion currency
    rewards: list[tuple[str, Decimal]]  # per reward currency, reversed rewards left out


def conversion_report_totals(*, partner: Partner, filters: ConversionFilters) -> ReportTotals:
    """The totals row: how many conversions, their amounts and their rewards, per currency. For a period alone, from
    the per-partner rollup; with any other filter, one pass over the matching conversions, their rewards joined."""
    if filters.matches_nothing:
        return ReportTotals(conversions=0, amounts=[], rewards=[])
    if not (filters.lookups() or filters.search):
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
    """The partner's ledger balances by account kind, per currency, and the minimum payout batches apply."""
    totals = (
        Entry.objects.filter(account__partner=partner, account__kind__in=list(LEDGER_KINDS))
        .values("account__kind", "currency")
        .annotate(total=Sum("amount"))
        .order_by("account__kind", "currency")
    )
    by_kind = {(row["account__kind"], row["currency"]): row["total"] for row in totals}
    balances = []
    for currency in sorted({currency for _, currency in by_kind}):
        amounts = {kind: money_quantize(by_kind.get((kind, currency), Decimal(0)), currency) for kind in LEDGER_KINDS}
        minimum = money_quantize(payout_minimum(partner=partner, currency=currency), currency)
        balances.append(
            {
                "currency": currency,
                "balances": [(label, amounts[kind]) for kind, label in LEDGER_KINDS.items()],
                "minimum": minimum,
                "reaches_minimum": amounts[Account.Kind.PARTNER_AVAILABLE] >= minimum,
            }
        )
    return balances
