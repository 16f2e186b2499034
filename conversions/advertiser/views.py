"""The advertiser's pages: home, CSV uploads, validation, request log, claims, API keys, postback URL.
Every view reads through `request.advertiser`, so another advertiser's ids answer 404."""

import json
from functools import wraps
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from conversions.advertiser import forms, selectors
from conversions.claims.services import claim_approve, claim_decline
from conversions.models import Conversion, ConversionUpload, MissingConversionClaim
from conversions.uploads.csv_files import CsvFileInvalid, csv_download
from conversions.uploads.reconciliation import reconciliation_lines
from conversions.uploads.rows import ADJUSTMENT_COLUMNS, CONVERSION_COLUMNS
from conversions.uploads.services import upload_create
from core.errors import DomainError
from referrals.models import ApiKey, Offer
from referrals.services import api_key_create, api_key_revoke, postback_token_rotate

SESSION_ADVERTISER = "advertiser_id"
SESSION_SHOW_ONCE = "advertiser_show_once"  # a new secret, kept for the next page only: shown once, then forgotten


def advertiser_view(*methods: str):
    """Only these HTTP methods, log-in required; `request.advertiser` is the user's advertiser, or the page is 404."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            advertiser = selectors.advertiser_for_user(request.user, request.session.get(SESSION_ADVERTISER))
            if advertiser is None:
                raise Http404("This login has no advertiser account.")
            request.advertiser = advertiser
            return view(request, *args, **kwargs)

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


@advertiser_view("GET")
def home(request):
    offers = Offer.objects.filter(advertiser=request.advertiser).order_by("-track_type", "name")
    return advertiser_page(request, "home", offers=offers, uploads=selectors.uploads_of(request.advertiser)[:5])


@advertiser_view("POST")
def advertiser_switch(request):
    chosen = selectors.advertiser_for_user(request.user, int(request.POST.get("advertiser", "0") or 0))
    if chosen is None or str(chosen.pk) != request.POST.get("advertiser"):
        raise Http404("No such advertiser.")
    request.session[SESSION_ADVERTISER] = chosen.pk
    return redirect("advertiser:home")


@advertiser_view("GET")
def offer_template(request, public_id: str):
    offer = get_object_or_404(Offer, advertiser=request.advertiser, public_id=public_id)
    # An example row by column name, so that it follows CONVERSION_COLUMNS whatever their order; then a meta column.
    example = {
        "click_id": "3f2a9c0d5e6b7a8c9d0e1f2a3b4c5d6e",
        "external_id": "order-1001",
        "type": "purchase",
        "amount": "120.00",
        "currency": offer.currency,
        "occurred_at": "2025-03-31T14:05:00+00:00",
        "product_id": "sku-1",
        "category": "shoes",
        "quantity": "1",
        "source": "web",
        "meta_coupon": "SPRING10",
    }
    header = [*CONVERSION_COLUMNS, "meta_coupon"]
    row = [example.get(name, "") for name in header]
    return csv_download(f"{offer.public_id}-conversions-template.csv", header, [row])


@advertiser_view("GET")
def adjustments_template(request):
    rows = [["order-1001", "approved", "", ""], ["order-1002", "rejected", "Order returned within 14 days", ""]]
    return csv_download("adjustments-template.csv", ADJUSTMENT_COLUMNS, rows)


@advertiser_view("GET")
def reconciliation_template(request):
    return csv_download("reconciliation-template.csv", ["external_id", "amount"], [["order-1001", "120.00"]])


@advertiser_view("GET", "POST")
def uploads(request):
    advertiser = request.advertiser
    initial = {"kind": request.GET.get("kind", ConversionUpload.Kind.CONVERSIONS)}
    if request.GET.get("offer"):
        initial["offer"] = Offer.objects.filter(advertiser=advertiser, public_id=request.GET["offer"]).first()
    form = forms.UploadForm(request.POST or None, request.FILES or None, advertiser=advertiser, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        fields = {name: data[name] for name in ("kind", "offer", "billing_month")}
        try:
            upload = upload_create(
                advertiser=advertiser, user=request.user, name=data["file"].name, raw=data["file"].read(), **fields
            )
        except CsvFileInvalid as error:
            form.add_error("file", error.message)
        else:
            return redirect("advertiser:upload", pk=upload.pk)
    return advertiser_page(request, "uploads", form=form, page=_page(request, selectors.uploads_of(advertiser), 25))


def _upload(request, pk: int) -> ConversionUpload:
    return get_object_or_404(selectors.uploads_of(request.advertiser), pk=pk)


def _reconciled(upload: ConversionUpload) -> bool:
    return upload.kind == ConversionUpload.Kind.RECONCILIATION and upload.status == ConversionUpload.Status.DONE


@advertiser_view("GET")
def upload_detail(request, pk: int):
    upload = _upload(request, pk)
    differences = None
    if _reconciled(upload):
        differences = [line for line in reconciliation_lines(upload) if line.result != "matched"][:200]
    return advertiser_page(request, "upload_detail", upload=upload, differences=differences)


@advertiser_view("GET")
def upload_progress(request, pk: int):
    upload = _upload(request, pk)
    return JsonResponse(
        {
            "status": upload.status,
            "rows_total": upload.rows_total,
            "rows_done": upload.rows_done,
            "percent": upload.percent,
            "created": upload.created_count,
            "duplicates": upload.duplicate_count,
            "updated": upload.updated_count,
            "errors": upload.error_count,
            "finished": upload.is_finished,
        }
    )


@advertiser_view("GET")
def upload_errors_csv(request, pk: int):
    upload = _upload(request, pk)
    header = ["row", "column", "value", "external_id", "reason"]
    return csv_download(f"upload-{upload.pk}-errors.csv", header, upload.row_errors.values_list(*header))


@advertiser_view("GET")
def upload_reconciliation_csv(request, pk: int):
    upload = _upload(request, pk)
    if not _reconciled(upload):
        raise Http404("No reconciliation result.")
    header = "external_id result their_amount our_amount difference currency our_status offer occurred_at".split()
    rows = (
        [*(getattr(line, name) for name in header[:-1]), line.occurred_at.isoformat() if line.occurred_at else ""]
        for line in reconciliation_lines(upload)
    )
    return csv_download(f"reconciliation-{upload.billing_month:%Y-%m}-{upload.pk}.csv", header, rows)


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
