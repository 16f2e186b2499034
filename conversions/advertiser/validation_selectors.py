"""Reads for the advertiser's validation page: which conversions the advertiser may decide, the rows with their
commission, and the totals of a filtered set."""

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, QuerySet, Sum

from conversions.models import Conversion
from core.money import money_quantize
from rewards.models import Reward
from rewards.selectors import rewards_by_conversion

# Screening held these for the network's staff to review: the advertiser sees them but does not decide them.
HELD_BY_THE_NETWORK = Conversion.Status.SUSPICIOUS


def conversions_decidable(conversions: QuerySet) -> QuerySet:
    """The conversions of the set the advertiser may approve or reject: all but those the network holds."""
    return conversions.exclude(status=HELD_BY_THE_NETWORK)


def validation_rows(conversions) -> list[Conversion]:
    """The conversions (one page, or an export chunk) with `reward` (or None) and `held`."""
    rows = list(conversions)
    rewards = rewards_by_conversion(conversion.pk for conversion in rows)
    for conversion in rows:
        conversion.reward = rewards.get(conversion.pk)
        conversion.held = conversion.status == HELD_BY_THE_NETWORK
    return rows


@dataclass
class CurrencyTotal:
    currency: str
    conversions: int = 0
    amount: Decimal = Decimal(0)
    commission: Decimal = Decimal(0)


def validation_totals(conversions: QuerySet) -> list[CurrencyTotal]:
    """Per currency: how many conversions, their amounts, and their commission (rewards not reversed, in the
    reward's currency), for the whole filtered set."""
    totals: dict[str, CurrencyTotal] = {}
    amounts = conversions.order_by().values("currency").annotate(n=Count("pk"), amount=Sum("amount"))
    for row in amounts:
        totals[row["currency"]] = CurrencyTotal(row["currency"], row["n"], row["amount"] or Decimal(0))
    commissions = (
        Reward.objects.filter(conversion_id__in=conversions.order_by().values("pk"))
        .exclude(status=Reward.Status.REVERSED)
        .values("currency")
        .annotate(amount=Sum("amount"))
        .order_by()
    )
    for row in commissions:
        totals.setdefault(row["currency"], CurrencyTotal(row["currency"])).commission = row["amount"]
    return [
        CurrencyTotal(
            total.currency,
            total.conversions,
            money_quantize(total.amount, total.currency),
            money_quantize(total.commission, total.currency),
        )
        for _, total in sorted(totals.items())
    ]
