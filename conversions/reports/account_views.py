"""The partner's offers and links (with the link builder), earnings, profile and API token."""

from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from conversions.reports.forms import JoinOfferForm, LinkBuilderForm, ProfileForm
from conversions.reports.selectors import ledger_balances, rewards_by_status
from referrals.link_requests import LinkRequestNotAllowed, link_request_create
from referrals.models import Link, LinkRequest, Offer
from referrals.partner_access import partner_required
from referrals.partner_tokens import partner_token_live, partner_token_revoke, partner_token_rotate
from referrals.services import SUB_IDS
from rewards.models import PayoutItem, Reward
from rewards.payouts import payout_minimum


def link_url(link: Link, sub_ids: dict | None = None) -> str:
    query = urlencode({name: value for name, value in (sub_ids or {}).items() if value})
    return f"{settings.SITE_URL}/c/{link.code}" + (f"?{query}" if query else "")


@require_GET
@partner_required
def links(request):
    partner = request.partner
    joined = list(Link.objects.filter(partner=partner).select_related("offer").order_by("offer__name"))
    for link in joined:
        link.url = link_url(link)
    others = (
        Offer.objects.filter(status=Offer.Status.ACTIVE)
        .exclude(links__partner=partner)
        .prefetch_related(
            Prefetch("link_requests", queryset=LinkRequest.objects.filter(partner=partner), to_attr="my_requests")
        )
        .order_by("name")
    )
    return render(
        request,
        "dashboard/links.html",
        {"joined": joined, "others": others, "join_form": JoinOfferForm(), "nav": "links"},
    )


@require_POST
@partner_required
def offer_join(request, public_id: str):
    offer = get_object_or_404(Offer, public_id=public_id, status=Offer.Status.ACTIVE)
    form = JoinOfferForm(request.POST)
    message = form.cleaned_data["message"] if form.is_valid() else ""
    try:
        _, link = link_request_create(partner=request.partner, offer=offer, message=message)
    except LinkRequestNotAllowed as error:
        messages.error(request, str(error))
        return redirect("dashboard:links")
    if link is not None:
        messages.success(request, f"You have joined {offer.name}; your link is ready.")
        return redirect("dashboard:link_builder", link_id=link.pk)
    messages.success(request, f"Request to join {offer.name} sent; staff will review it.")
    return redirect("dashboard:links")


@require_GET
@partner_required
def link_builder(request, link_id: int):
    link = get_object_or_404(Link.objects.select_related("offer"), pk=link_id, partner=request.partner)
    form = LinkBuilderForm(request.GET or None, offer=link.offer)
    sub_ids = {}
    if form.is_valid():
        sub_ids = {name: form.cleaned_data[name] for name in SUB_IDS}
        sub_ids["url"] = form.cleaned_data.get("url", "")
    return render(
        request,
        "dashboard/link_builder.html",
        {"link": link, "form": form, "built_url": link_url(link, sub_ids), "nav": "links"},
    )


@require_GET
@partner_required
def earnings(request):
    partner = request.partner
    balances = ledger_balances(partner=partner)
    minimum_currency = balances[0]["currency"] if balances else "USD"
    minimum = balances[0]["minimum"] if balances else payout_minimum(partner=partner, currency=minimum_currency)
    status = request.GET.get("status", "")
    history = Reward.objects.filter(partner=partner).select_related("offer").order_by("-created_at", "-pk")
    if status in Reward.Status.values:
        history = history.filter(status=status)
    payouts = PayoutItem.objects.filter(partner=partner).select_related("batch").order_by("-batch__created_at")
    return render(
        request,
        "dashboard/earnings.html",
        {
            "balances": balances,
            "payouts": payouts,
            "by_status": rewards_by_status(partner=partner),
            "minimum": minimum,
            "minimum_currency": minimum_currency,
            "page": Paginator(history, 50).get_page(request.GET.get("page")),
            "status": status,
            "statuses": Reward.Status.choices,
            "nav": "earnings",
        },
    )


@require_http_methods(["GET", "POST"])
@partner_required
def profile(request):
    form = ProfileForm(request.POST or None, instance=request.partner)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Profile saved.")
        return redirect("dashboard:profile")
    return render(
        request,
        "dashboard/profile.html",
        {"form": form, "token": partner_token_live(partner=request.partner), "nav": "profile"},
    )


@require_POST
@partner_required
def api_token_rotate(request):
    """Make a new token (the old one stops working) and show it, this once."""
    token, raw = partner_token_rotate(partner=request.partner)
    form = ProfileForm(instance=request.partner)
    return render(request, "dashboard/profile.html", {"form": form, "token": token, "new_token": raw, "nav": "profile"})


@require_POST
@partner_required
def api_token_revoke(request):
    if partner_token_revoke(partner=request.partner):
        messages.success(request, "API token revoked.")
    return redirect("dashboard:profile")
