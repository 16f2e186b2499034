"""Earnings: ledger balances, the minimum payout, and the reward history."""

from decimal import Decimal

from django.conf import settings
from django.core.paginator import Paginator
from django.shortcuts import render
from django.views.decorators.http import require_GET

from conversions.dashboard.access import partner_required
from conversions.reports import ledger_balances, rewards_by_status
from referrals.money import money_quantize
from rewards.models import Reward


@require_GET
@partner_required
def earnings(request):
    partner = request.partner
    minimum_currency = settings.PAYOUT_MINIMUM_CURRENCY
    minimum = money_quantize(Decimal(settings.PAYOUT_MINIMUM), minimum_currency)
    balances = ledger_balances(partner=partner)
    for balance in balances:
        balance["reaches_minimum"] = balance["currency"] == minimum_currency and balance["available"] >= minimum
    status = request.GET.get("status", "")
    history = Reward.objects.filter(partner=partner).select_related("offer").order_by("-created_at", "-pk")
    if status in Reward.Status.values:
        history = history.filter(status=status)
    return render(
        request,
        "dashboard/earnings.html",
        {
            "balances": balances,
            "by_status": rewards_by_status(partner=partner),
            "minimum": minimum,
            "minimum_currency": minimum_currency,
            "page": Paginator(history, 50).get_page(request.GET.get("page")),
            "status": status,
            "statuses": Reward.Status.choices,
            "nav": "earnings",
        },
    )
