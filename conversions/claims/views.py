"""Missing-conversion claims: the form, the list and one claim."""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from conversions.claims.services import ClaimInvalid, claim_submit
from conversions.models import MissingConversionClaim
from referrals.models import Partner
from referrals.partner_access import partner_offers, partner_required


class ClaimForm(forms.ModelForm):
    amount = forms.DecimalField(min_value=0, max_digits=18, decimal_places=4)

    class Meta:
        model = MissingConversionClaim
        fields = ["offer", "order_id", "purchase_date", "amount", "sub1", "remarks"]
        labels = {"order_id": "Order id", "sub1": "Sub ID 1"}
        widgets = {
            "purchase_date": forms.DateInput(attrs={"type": "date"}),
            "remarks": forms.Textarea(attrs={"rows": 3}),
        }

    def __init__(self, *args, partner: Partner, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["offer"].queryset = partner_offers(partner)
        self.fields["purchase_date"].help_text = f"Within the last {settings.CLAIM_MAX_AGE_DAYS} days."


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
    filed = MissingConversionClaim.objects.filter(partner=partner).select_related("offer")
    return render(request, "dashboard/claims.html", {"form": form, "claims": filed, "nav": "claims"})


@require_GET
@partner_required
def claim_detail(request, claim_id: int):
    claim = get_object_or_404(
        MissingConversionClaim.objects.select_related("offer"), pk=claim_id, partner=request.partner
    )
    return render(request, "dashboard/claim_detail.html", {"claim": claim, "nav": "claims"})
