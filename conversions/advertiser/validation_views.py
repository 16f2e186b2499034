"""The advertiser's validation page: conversions still inside their validation term, approved or rejected."""

import uuid

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone

from conversions.advertiser import forms, selectors
from conversions.advertiser.views import _cleaned, _form_errors, _page, advertiser_page, advertiser_view
from conversions.lifecycle import conversion_decide, validation_term_ends
from conversions.models import Conversion
from core.errors import DomainError


@advertiser_view("GET", "POST")
def validation(request):
    advertiser, now = request.advertiser, timezone.now()
    if request.method == "POST":
        action = forms.ValidationActionForm(request.POST)
        selected = request.POST.getlist("conversion")
        if not selected:
            messages.error(request, "Select at least one conversion.")
        elif action.is_valid():
            _validation_apply(request, selected, action.cleaned_data, now)
        else:
            _form_errors(request, action)
        return redirect(f"{reverse('advertiser:validation')}?{request.POST.get('query', '').removeprefix('?')}")

    filters = forms.ValidationFilterForm(request.GET or None, advertiser=advertiser)
    rows = selectors.conversions_in_validation(advertiser=advertiser, now=now, filters=_cleaned(filters))
    page = _page(request, rows)
    for conversion in page:
        conversion.term_ends = validation_term_ends(conversion)
    return advertiser_page(request, "validation", filters=filters, page=page, action=forms.ValidationActionForm())


def _validation_apply(request, selected: list[str], data: dict, now) -> None:
    # Only the advertiser's conversions: an id of another's is simply not found (404).
    try:
        selected = {str(uuid.UUID(value)) for value in selected}
    except ValueError:
        raise Http404("No such conversion.") from None
    conversions = Conversion.objects.filter(advertiser=request.advertiser, pk__in=selected).select_related("offer")
    if len(conversions) != len(selected):
        raise Http404("No such conversion.")
    changed, refused = 0, []
    for conversion in conversions:
        try:
            changed += conversion_decide(
                conversion=conversion, decision=data["decision"], remark=data["reason"], actor=request.user, now=now
            )
        except DomainError as error:
            refused.append(f"{conversion.external_id}: {error.message}")
    verb = "approved" if data["decision"] == "approve" else "rejected"
    messages.success(request, f"{changed} conversion(s) {verb}; {len(selected) - changed - len(refused)} already were.")
    for line in refused:
        messages.error(request, line)
