"""Missing-conversion claims: the form, the list and one claim."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from conversions.claims.forms import ClaimForm
from conversions.claims.services import ClaimInvalid, claim_submit
from conversions.models import MissingConversionClaim
from referrals.partner_access import partner_required


@require_http_methods(["GET", "POST"])
@partner_required
def claims(request):
    partner = request.partner
    form = ClaimForm(request.POST or None, partner=partner)
    if request.method == "POST" and form.is_valid():
        try:
            claim = claim_submit(partner=partner, **form.cleaned_data)
        except ClaimInvalid as error:
            for name, problems in (error.fields or {"__all__": [error.message]}).items():
                form.add_error(name if name in form.fields else None, problems)
        else:
            messages.success(request, f"Claim for order {claim.order_id} submitted.")
            return redirect("dashboard:claim", claim_id=claim.pk)
    return render(
        request,
        "dashboard/claims.html",
        {
            "form": form,
            "claims": MissingConversionClaim.objects.filter(partner=partner).select_related("offer"),
            "nav": "claims",
        },
    )


@require_GET
@partner_required
def claim_detail(request, claim_id: int):
    claim = get_object_or_404(
        MissingConversionClaim.objects.select_related("offer"), pk=claim_id, partner=request.partner
    )
    return render(request, "dashboard/claim_detail.html", {"claim": claim, "nav": "claims"})
