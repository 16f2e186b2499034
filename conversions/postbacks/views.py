"""Partner postbacks: set them up, test them, rotate the secret, read the delivery log."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from conversions.models import PartnerPostback
from conversions.postbacks.forms import PostbackForm
from conversions.postbacks.services import (
    MACROS,
    SIGNATURE_HEADER,
    postback_create,
    postback_enable,
    postback_secret_rotate,
    postback_test_send,
    postback_update,
)
from referrals.partner_access import partner_required


def _own(request, postback_id: int) -> PartnerPostback:
    return get_object_or_404(PartnerPostback, pk=postback_id, partner=request.partner)


def _page(request, template: str, **context):
    # Every postback page explains the macros and the signature header.
    context = {"macros": MACROS, "signature_header": SIGNATURE_HEADER, "nav": "postbacks", **context}
    return render(request, f"dashboard/{template}.html", context)


@require_http_methods(["GET", "POST"])
@partner_required
def postbacks(request):
    form = PostbackForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        postback = postback_create(partner=request.partner, **form.cleaned_data)
        messages.success(request, "Postback added. Its signing secret is shown on its page.")
        return redirect("dashboard:postback", postback_id=postback.pk)
    return _page(request, "postbacks", form=form, postbacks=PartnerPostback.objects.filter(partner=request.partner))


@require_http_methods(["GET", "POST"])
@partner_required
def postback_detail(request, postback_id: int):
    postback = _own(request, postback_id)
    form = PostbackForm(request.POST or None, instance=postback)
    if request.method == "POST" and form.is_valid():
        postback_update(postback=postback, **form.cleaned_data)
        messages.success(request, "Postback saved.")
        return redirect("dashboard:postback", postback_id=postback.pk)
    deliveries = Paginator(postback.deliveries.all(), 25).get_page(request.GET.get("page"))
    return _page(request, "postback_detail", postback=postback, form=form, page=deliveries)


def _postback_action(service, done: str):
    """A button on the postback's page: run the service on the partner's postback, say so, show the page."""

    @require_POST
    @partner_required
    def action(request, postback_id: int):
        service(postback=_own(request, postback_id))
        messages.success(request, done)
        return redirect("dashboard:postback", postback_id=postback_id)

    return action


postback_rotate = _postback_action(
    postback_secret_rotate, "New secret made. The old one also signs for the next 24 hours."
)
postback_reenable = _postback_action(postback_enable, "Postback enabled again.")


@require_POST
@partner_required
def postback_test(request, postback_id: int):
    delivery = postback_test_send(postback=_own(request, postback_id))
    outcome = f"HTTP {delivery.status_code}" if delivery.status_code else delivery.error
    (messages.success if delivery.ok else messages.error)(request, f"Test sent: {outcome} in {delivery.latency_ms} ms.")
    return redirect("dashboard:postback", postback_id=postback_id)


@require_POST
@partner_required
def postback_delete(request, postback_id: int):
    _own(request, postback_id).delete()
    messages.success(request, "Postback deleted.")
    return redirect("dashboard:postbacks")


@require_GET
@partner_required
def postback_secret(request, postback_id: int):
    """The secret, on its own page, so that it is not in every page view of the postback."""
    return _page(request, "postback_secret", postback=_own(request, postback_id))
