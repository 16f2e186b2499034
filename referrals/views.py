from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import redirect
from django.views.decorators.http import require_safe

from referrals.models import Click, Offer
from referrals.request_metadata import request_metadata
from referrals.selectors import link_for_code
from referrals.services import SUB_IDS, ClickRequest, click_cookie_name, click_destination_url, click_record


@require_safe
def click_redirect(request, code: str):
    """`GET /c/<code>`: record a click (bots flagged) and redirect to the offer; `HEAD` records nothing.
    A paused offer sends visitors to its fallback URL without recording, or answers 404."""
    link = link_for_code(code)
    if link is None:
        raise Http404("No such link.")
    offer = link.offer
    if offer.status != Offer.Status.ACTIVE:
        if offer.fallback_url:
            return HttpResponseRedirect(offer.fallback_url)
        raise Http404("This offer is paused.")
    sub_ids = {name: request.GET.get(name, "")[:255] for name in SUB_IDS}
    if request.method == "HEAD":
        unrecorded = Click(click_id="", **sub_ids)
        return HttpResponseRedirect(click_destination_url(offer=offer, link=link, click=unrecorded))
    click = click_record(
        link=link,
        request=ClickRequest(
            metadata=request_metadata(request.META), referer=request.META.get("HTTP_REFERER", ""), sub_ids=sub_ids
        ),
    )
    destination = click_destination_url(offer=offer, link=link, click=click, deep_link=request.GET.get("url", ""))
    response = HttpResponseRedirect(destination)
    response.set_cookie(
        click_cookie_name(offer),
        click.click_id,
        max_age=offer.cookie_window_days * 24 * 3600,
        httponly=True,
        samesite="Lax",
        secure=request.is_secure(),
    )
    return response


@login_required
def home_for_role(request):
    """After login, send each user to their own pages: staff, partner or advertiser."""
    user = request.user
    if hasattr(user, "partner"):
        return redirect("/dashboard/")
    if user.advertisers.exists():
        return redirect("/advertiser/")
    if user.is_staff:
        return redirect("admin:index")
    raise Http404("This login has no partner or advertiser account.")
