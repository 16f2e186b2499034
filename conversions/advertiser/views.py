"""The advertiser's pages: home, validation, request log, claims, API keys, postback URL (uploads: upload_views.py).

Every view reads through `request.advertiser`, so another advertiser's ids answer 404.
"""

import json
import uuid
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils import timezone

from conversions.advertiser.access import SESSION_ADVERTISER, advertiser_page, advertiser_view
from conversions.advertiser.forms import (
    ApiKeyForm,
    ClaimDeclineForm,
    PostbackBuilderForm,
    RequestLogFilterForm,
    ValidationActionForm,
    ValidationFilterForm,
)
from conversions.advertiser.selectors import (
    CLAIM_OPEN,
    advertiser_for_user,
    claims_of,
    conversions_in_validation,
    request_log_of,
    uploads_of,
)
from conversions.claims.services import claim_approve, claim_decline
from conversions.lifecycle import conversion_decide, validation_term_ends
from conversions.models import Conversion, MissingConversionClaim
from core.errors import DomainError
from referrals.models import ApiKey, Offer
from referrals.services import api_key_create, api_key_revoke, postback_token_rotate

SESSION_SHOW_ONCE = "advertiser_show_once"


def _secret_once(request, label: str, value: str) -> None:
    """Keep a new secret for the next page only: it is shown once and then forgotten."""
    request.session[SESSION_SHOW_ONCE] = {"label": label, "value": value}


def _cleaned(form) -> dict:
    return form.cleaned_data if form.is_valid() else {}


def _page_and_query(request, rows) -> tuple:
    """A page of 50 rows, and the query string without the page number for the pager's links."""
    query = request.GET.copy()
    query.pop("page", None)
    return Paginator(rows, 50).get_page(request.GET.get("page")), query.urlencode()


def _form_errors(request, form) -> None:
    for errors in form.errors.values():
        messages.error(request, " ".join(errors))


@advertiser_view("GET")
def home(request):
    return advertiser_page(
        request,
        "home",
        advertisers=request.user.advertisers.order_by("name"),
        offers=Offer.objects.filter(advertiser=request.advertiser).order_by("-track_type", "name"),
        uploads=uploads_of(request.advertiser)[:5],
    )


@advertiser_view("POST")
def advertiser_switch(request):
    chosen = advertiser_for_user(request.user, int(request.POST.get("advertiser", "0") or 0))
    if chosen is None or str(chosen.pk) != request.POST.get("advertiser"):
        raise Http404("No such advertiser.")
    request.session[SESSION_ADVERTISER] = chosen.pk
    return redirect("advertiser:home")


@advertiser_view("GET", "POST")
def validation(request):
    advertiser, now = request.advertiser, timezone.now()
    if request.method == "POST":
        action = ValidationActionForm(request.POST)
        selected = request.POST.getlist("conversion")
        if not selected:
            messages.error(request, "Select at least one conversion.")
        elif action.is_valid():
            _validation_apply(request, selected, action.cleaned_data, now)
        else:
            _form_errors(request, action)
        return redirect(f"{reverse('advertiser:validation')}?{request.POST.get('query', '')}")

    filters = ValidationFilterForm(request.GET or None, advertiser=advertiser)
    rows = conversions_in_validation(advertiser=advertiser, now=now, filters=_cleaned(filters))
    page, query = _page_and_query(request, rows)
    for conversion in page:
        conversion.term_ends = validation_term_ends(conversion)
    return advertiser_page(
        request, "validation", filters=filters, page=page, action=ValidationActionForm(), query=query
    )


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
                conversion=conversion,
                decision=data["decision"],
                remark=data["reason"],
                actor=request.user,
                channel="advertiser",
                now=now,
            )
        except DomainError as error:
            refused.append(f"{conversion.external_id}: {error.message}")
    verb = "approved" if data["decision"] == "approve" else "rejected"
    messages.success(request, f"{changed} conversion(s) {verb}; {len(selected) - changed - len(refused)} already were.")
    for line in refused:
        messages.error(request, line)


@advertiser_view("GET")
def request_log(request):
    filters = RequestLogFilterForm(request.GET or None)
    page, query = _page_and_query(request, request_log_of(advertiser=request.advertiser, filters=_cleaned(filters)))
    for entry in page:
        # Rendered as text (autoescaped) in the page: a payload is whatever the caller sent.
        entry.payload_text = json.dumps(entry.payload, indent=2, ensure_ascii=False, sort_keys=True)
    return advertiser_page(
        request,
        "request_log",
        filters=filters,
        page=page,
        query=query,
        retention_days=settings.REQUEST_LOG_RETENTION_DAYS,
    )


@advertiser_view("GET")
def claims(request):
    status = request.GET.get("status", "open")
    return advertiser_page(
        request,
        "claims",
        page=Paginator(claims_of(advertiser=request.advertiser, status=status), 25).get_page(request.GET.get("page")),
        status=status,
        statuses=[("open", "To decide"), *MissingConversionClaim.Status.choices, ("all", "All")],
        decline=ClaimDeclineForm(),
        query=urlencode({"status": status}),
    )


@advertiser_view("POST")
def claim_decide(request, pk: int):
    # Only a claim on one of the advertiser's offers: another's id is not found.
    claim = get_object_or_404(claims_of(advertiser=request.advertiser, status="all"), pk=pk)
    back = f"{reverse('advertiser:claims')}?{urlencode({'status': request.POST.get('status', 'open')})}"
    if claim.status not in CLAIM_OPEN:
        messages.error(request, f"Claim for order {claim.order_id} is already {claim.get_status_display().lower()}.")
        return redirect(back)
    decision = request.POST.get("decision")
    try:
        if decision == "accept":
            claim = claim_approve(claim_id=claim.pk, actor=request.user)
            messages.success(request, f"Claim for order {claim.order_id} accepted; the conversion was added.")
        elif decision == "decline":
            form = ClaimDeclineForm(request.POST)
            if not form.is_valid():
                _form_errors(request, form)
                return redirect(back)
            claim_decline(claim_id=claim.pk, reason=form.cleaned_data["reason"], actor=request.user)
            messages.success(request, f"Claim for order {claim.order_id} declined; the partner sees your reason.")
        else:
            messages.error(request, "Choose to accept or decline the claim.")
    except DomainError as error:
        messages.error(request, f"Order {claim.order_id}: {error.message}")
    return redirect(back)


@advertiser_view("GET", "POST")
def api_keys(request):
    form = ApiKeyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        key, raw = api_key_create(advertiser=request.advertiser, name=form.cleaned_data["name"])
        _secret_once(request, f"API key “{key.name}”", raw)
        messages.success(request, f"Key “{key.name}” created. Copy it now: it is not shown again.")
        return redirect("advertiser:api_keys")
    keys = ApiKey.objects.filter(advertiser=request.advertiser).order_by("revoked_at", "-created_at")
    secret = request.session.pop(SESSION_SHOW_ONCE, None)
    return advertiser_page(request, "api_keys", form=form, keys=keys, secret=secret)


@advertiser_view("POST")
def api_key_revoke_view(request, pk: int):
    key = get_object_or_404(ApiKey, advertiser=request.advertiser, pk=pk)
    api_key_revoke(api_key=key)
    messages.success(request, f"Key “{key.name}” ({key.prefix}…) is revoked; requests with it now get 401.")
    return redirect("advertiser:api_keys")


@advertiser_view("GET", "POST")
def postback(request):
    advertiser = request.advertiser
    if request.method == "POST":
        _secret_once(request, "Postback token", postback_token_rotate(advertiser=advertiser))
        messages.success(request, "New postback token made; the old one no longer works. Copy it now.")
        return redirect("advertiser:postback")
    secret = request.session.pop(SESSION_SHOW_ONCE, None)
    form = PostbackBuilderForm(request.GET or None, advertiser=advertiser)
    data = _cleaned(form)
    params = {
        "token": secret["value"] if secret else "YOUR_POSTBACK_TOKEN",
        "click_id": data.get("click_id_macro") or "{click_id}",
        "external_id": data.get("external_id_macro") or "{order_id}",
        "type": data.get("type") or Conversion.Type.PURCHASE,
        "amount": data.get("amount_macro") or "{amount}",
    }
    if data.get("offer"):
        params["offer"] = data["offer"].public_id
    if data.get("currency"):
        params["currency"] = data["currency"].upper()
    # Macros stay readable: the advertiser's platform replaces them before calling us.
    url = f"{settings.SITE_URL}/v1/postback?{urlencode(params, safe='{}')}"
    return advertiser_page(
        request, "postback", form=form, url=url, secret=secret, has_token=bool(advertiser.postback_token_hash)
    )
