"""The advertiser's pages: home, validation, request log, claims, API keys, postback URL.
Every view reads through `request.advertiser`, so another advertiser's ids answer 404."""

import json
from functools import wraps
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_http_methods

from conversions.advertiser import forms, selectors
from conversions.claims.services import claim_approve, claim_decline
from conversions.models import Conversion, MissingConversionClaim
from conversions.reports.performance import daily_chart
from conversions.uploads.progress import uploads_with_progress
from core.database_routing import reads_from_replica
from core.errors import DomainError
from referrals.models import ApiKey, Offer
from referrals.services import api_key_create, api_key_revoke, postback_token_rotate

SESSION_ADVERTISER = "advertiser_id"
SESSION_SHOW_ONCE = "advertiser_show_once"  # a new secret, kept for the next page only: shown once, then forgotten


def advertiser_view(*methods: str):
    """Only these HTTP methods, log-in required; `request.advertiser` is the user's advertiser, or the page is 404.
    Times render in the advertiser's time zone."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            advertiser = selectors.advertiser_for_user(request.user, request.session.get(SESSION_ADVERTISER))
            if advertiser is None:
                raise Http404("This login has no advertiser account.")
            request.advertiser = advertiser
            # Every time on the advertiser's pages renders in its zone (the header says which).
            timezone.activate(ZoneInfo(advertiser.time_zone))
            try:
                return view(request, *args, **kwargs)
            finally:
                timezone.deactivate()

        return require_http_methods(methods)(login_required(wrapped))

    return decorator


def advertiser_page(request, name: str, **context):
    return render(request, f"advertiser/{name}.html", {"advertiser": request.advertiser, **context})


def _cleaned(form) -> dict:
    return form.cleaned_data if form.is_valid() else {}


def _page(request, rows, per_page: int = 50):
    return Paginator(rows, per_page).get_page(request.GET.get("page"))


def _form_errors(request, form) -> None:
    for errors in form.errors.values():
        messages.error(request, " ".join(errors))


TOP_ROWS = 10  # top partners and offers on the home


@advertiser_view("GET")
@reads_from_replica
def home(request):
    advertiser = request.advertiser
    form = forms.AdvertiserPeriodForm(request.GET or None, advertiser=advertiser)
    offers = Offer.objects.filter(advertiser=advertiser).order_by("-track_type", "name")
    context = {"form": form, "offers": offers, "uploads": uploads_with_progress(selectors.uploads_of(advertiser)[:5])}
    # A period that does not parse shows its error and no figures, never another period's under the form.
    if not form.is_bound or form.is_valid():
        context.update(_workspace(advertiser, form.period()))
    return advertiser_page(request, "home", **context)


def _workspace(advertiser, period) -> dict:
    figures = {"period": period}
    days, figures["total"] = selectors.advertiser_performance(advertiser=advertiser, period=period, group_by="day")
    figures["days"], figures["chart"] = days, daily_chart(days, earnings_name="Commission")
    figures["conversions"] = selectors.advertiser_conversion_totals(advertiser=advertiser, period=period)
    for group_by in ("partner", "offer"):
        rows, _ = selectors.advertiser_performance(advertiser=advertiser, period=period, group_by=group_by)
        figures[f"top_{group_by}s"] = rows[:TOP_ROWS]
    for group_by in ("partner", "offer", "month"):
        rows, figures["commission"] = selectors.advertiser_commission(
            advertiser=advertiser, period=period, group_by=group_by
        )
        figures[f"commission_by_{group_by}"] = rows
    return figures


@advertiser_view("GET", "POST")
def advertiser_settings(request):
    form = forms.AdvertiserSettingsForm(request.POST or None, instance=request.advertiser)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, f"Times are now shown in {form.instance.time_zone}.")
        return redirect("advertiser:settings")
    return advertiser_page(request, "settings", form=form)


@advertiser_view("POST")
def advertiser_switch(request):
    chosen = selectors.advertiser_for_user(request.user, int(request.POST.get("advertiser", "0") or 0))
    if chosen is None or str(chosen.pk) != request.POST.get("advertiser"):
        raise Http404("No such advertiser.")
    request.session[SESSION_ADVERTISER] = chosen.pk
    return redirect("advertiser:home")


@advertiser_view("GET")
def request_log(request):
    filters = forms.RequestLogFilterForm(request.GET or None)
    rows = selectors.request_log_of(advertiser=request.advertiser, filters=_cleaned(filters))
    page = _page(request, rows)
    for entry in page:
        # Rendered as text (autoescaped) in the page: a payload is whatever the caller sent.
        entry.payload_text = json.dumps(entry.payload, indent=2, ensure_ascii=False, sort_keys=True)
    return advertiser_page(
        request, "request_log", filters=filters, page=page, retention_days=settings.REQUEST_LOG_RETENTION_DAYS
    )


@advertiser_view("GET")
def claims(request):
    status = request.GET.get("status", "open")
    page = _page(request, selectors.claims_of(advertiser=request.advertiser, status=status), 25)
    for claim in page:
        # The evidence keeps ISO times (UTC); parsed, the page shows them in the advertiser's zone.
        claim.evidence_clicks = [
            {**click, "at": parse_datetime(click.get("at") or "")} for click in claim.evidence.get("clicks", [])[:5]
        ]
    statuses = [("open", "To decide"), *MissingConversionClaim.Status.choices, ("all", "All")]
    return advertiser_page(
        request, "claims", page=page, status=status, statuses=statuses, decline=forms.ClaimDeclineForm()
    )


@advertiser_view("POST")
def claim_decide(request, pk: int):
    # Only a claim on one of the advertiser's offers: another's id is not found.
    claim = get_object_or_404(selectors.claims_of(advertiser=request.advertiser, status="all"), pk=pk)
    back = f"{reverse('advertiser:claims')}?{urlencode({'status': request.POST.get('status', 'open')})}"
    if claim.status not in selectors.CLAIM_OPEN:
        messages.error(request, f"Claim for order {claim.order_id} is already {claim.get_status_display().lower()}.")
        return redirect(back)
    decision = request.POST.get("decision")
    try:
        if decision == "accept":
            claim = claim_approve(claim_id=claim.pk, actor=request.user)
            messages.success(request, f"Claim for order {claim.order_id} accepted; the conversion was added.")
        elif decision == "decline":
            form = forms.ClaimDeclineForm(request.POST)
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
    form = forms.ApiKeyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        key, raw = api_key_create(advertiser=request.advertiser, name=form.cleaned_data["name"])
        request.session[SESSION_SHOW_ONCE] = {"label": f"API key “{key.name}”", "value": raw}
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
        token = postback_token_rotate(advertiser=advertiser)
        request.session[SESSION_SHOW_ONCE] = {"label": "Postback token", "value": token}
        messages.success(request, "New postback token made; the old one no longer works. Copy it now.")
        return redirect("advertiser:postback")
    secret = request.session.pop(SESSION_SHOW_ONCE, None)
    form = forms.PostbackBuilderForm(request.GET or None, advertiser=advertiser)
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
    return advertiser_page(request, "postback", form=form, url=url, secret=secret)
