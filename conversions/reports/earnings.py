"""The partner's earnings: rewards by status, and ledger balances by account."""

from collections import defaultdict
from decimal import Decimal

from django.db.models import Count, Sum

from conversions.reports.periods import Period
from core.money import money_quantize
from referrals.models import Partner
from rewards.models import Account, Entry, Reward


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
