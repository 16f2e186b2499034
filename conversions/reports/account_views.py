"""The partner's profile (time zone, payout details) and API token."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from conversions.reports.forms import ProfileForm
from referrals.partner_access import partner_required
from referrals.partner_tokens import partner_token_live, partner_token_revoke, partner_token_rotate


@require_http_methods(["GET", "POST"])
@partner_required
def profile(request):
    partner = request.partner
    form = ProfileForm(request.POST or None, instance=partner)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Profile saved.")
        return redirect("dashboard:profile")
    return render(
        request,
        "dashboard/profile.html",
        {"form": form, "token": partner_token_live(partner=partner), "nav": "profile"},
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
