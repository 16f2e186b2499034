"""Earnings: ledger balances, the minimum payout, and the reward history."""

from django.core.paginator import Paginator
from django.shortcuts import render
from django.views.decorators.http import require_GET

from conversions.reports.earnings import ledger_balances, rewards_by_status
from core.money import money_quantize
from referrals.partner_access import partner_required
from rewards.models import PayoutItem, Reward
from rewards.payouts import payout_minimum


@require_GET
@partner_required
def earnings(request):
    partner = request.partner
    balances = ledger_balances(partner=partner)
    # The minimum that payout batches apply (rewards.payouts), per currency and partner.
    for balance in balances:
        balance["minimum"] = money_quantize(
            payout_minimum(partner=partner, currency=balance["currency"]), balance["currency"]
        )
        balance["reaches_minimum"] = balance["available"] >= balance["minimum"]
    minimum_currency = balances[0]["currency"] if balances else "USD"
    minimum = balances[0]["minimum"] if balances else payout_minimum(partner=partner, currency=minimum_currency)
    status = request.GET.get("status", "")
    history = Reward.objects.filter(partner=partner).select_related("offer").order_by("-created_at", "-pk")
    if status in Reward.Status.values:
        history = history.filter(status=status)
    return render(
        request,
        "dashboard/earnings.html",
        {
            "balances": balances,
            "payouts": PayoutItem.objects.filter(partner=partner)
            .select_related("batch")
            .order_by("-batch__created_at"),
            "by_status": rewards_by_status(partner=partner),
            "minimum": minimum,
            "minimum_currency": minimum_currency,
            "page": Paginator(history, 50).get_page(request.GET.get("page")),
            "status": status,
            "statuses": Reward.Status.choices,
            "nav": "earnings",
        },
    )
