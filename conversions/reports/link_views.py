"""Offers and links: the joined ones, the others to ask for, and the link builder."""

from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from conversions.reports.forms import JoinOfferForm, LinkBuilderForm
from referrals.link_requests import LinkRequestNotAllowed, link_request_create
from referrals.models import Link, LinkRequest, Offer
from referrals.partner_access import partner_required
from referrals.services import SUB_IDS


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
